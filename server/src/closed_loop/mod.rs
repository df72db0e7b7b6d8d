//! The closed loop as a service: reports, whistles, department work and verification, each one authorised against the object, checked by the state machine and stored with its timeline events in one write.

use std::sync::Arc;
use std::time::Duration;

use gridwhistle_dispatcher::Clock;
use gridwhistle_dispatcher::calendar::CalendarError;
use gridwhistle_dispatcher::deadlines;
use gridwhistle_dispatcher::notify::{self};
use gridwhistle_dispatcher::routing::rules::Position;
use gridwhistle_dispatcher::workflow::IllegalStep;
use gridwhistle_domain::{
    AccessError, Action, Actor, AttachmentId, DeadlineStage, DepartmentId, Timestamp,
};

mod attachments;
mod cases;
pub(crate) mod facts;
mod letters;
mod lists;
mod records;
mod reports;
mod supervision;

pub use attachments::AttachedFile;
pub use letters::LetterDraft;
pub use supervision::ExtensionDecision;

use crate::feed::EventFeed;
use crate::model::{Effects, EventRecord, Once, ReportKey, ReportRecord, RequestKey};
use crate::routing::Routing;
use crate::storage::{Department, StorageError, Store, UpdateError};
use crate::time_limits::{PolicyNotLoaded, TimeLimits};
use records::{notification_of, workflow};

/// A loop step done once under the client's request id, its answer rendered from the record and effects it wrote.
pub type StepOnce = Once<(ReportRecord, Effects)>;

/// What guards a step against concurrent and repeated calls: the version the client read (its etag), and the client's request id.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// A change since this version is refused as stale; without one, the step applies to the object as it is.
    pub etag: Option<i64>,
    /// The step is done once under the client's request id.
    pub once: Option<StepOnce>,
}

/// Limits on what grid workers' phones may send.
#[derive(Debug, Clone, Copy)]
pub struct LoopSettings {
    /// How long a phone may stay offline: older observations are refused, and idempotency keys are kept at least this long.
    pub max_offline: Duration,
    /// How far ahead of the server's clock a device's clock may run.
    pub clock_skew: Duration,
}

impl Default for LoopSettings {
    fn default() -> Self {
        Self {
            max_offline: Duration::from_secs(14 * 24 * 3600),
            clock_skew: Duration::from_secs(5 * 60),
        }
    }
}

/// Why a loop operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("access refused")]
    Access(AccessError, &'static str),
    /// A named request field is invalid for a reason only the service can know (clock, catalogue).
    #[error("{field}: {reason}")]
    Field {
        field: std::borrow::Cow<'static, str>,
        reason: String,
    },
    #[error(transparent)]
    Illegal(#[from] IllegalStep),
    /// The client's id, named by its field, was used before for another request.
    #[error("the id was used before for another request")]
    Conflict(&'static str),
    #[error("the object changed since it was read")]
    Stale,
    /// A deadline cannot be computed: the working calendar lacks a year.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// The case's policy version was imported by another replica and is not loaded here yet.
    #[error(transparent)]
    PolicyNotLoaded(#[from] PolicyNotLoaded),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl LoopError {
    /// The request field `name` is invalid for `reason`.
    pub(crate) fn field(
        name: impl Into<std::borrow::Cow<'static, str>>,
        reason: impl Into<String>,
    ) -> Self {
        LoopError::Field {
            field: name.into(),
            reason: reason.into(),
        }
    }
}

impl From<UpdateError<LoopError>> for LoopError {
    fn from(err: UpdateError<LoopError>) -> Self {
        match err {
            UpdateError::Storage(err) => LoopError::Storage(err),
            // Missing and hidden look the same to the caller.
            UpdateError::NotFound => LoopError::Access(AccessError::Hidden, "report"),
            UpdateError::Stale => LoopError::Stale,
            UpdateError::Refused(err) => err,
        }
    }
}

/// What a department does to a case.
#[derive(Debug, Clone)]
pub enum CaseAction {
    ReportIn {
        on_scene: Option<Position>,
    },
    RecordContact {
        contact_time: Option<Timestamp>,
        note: String,
    },
    PostProgress {
        text: String,
        attachments: Vec<AttachmentId>,
    },
    Return {
        reason: String,
    },
    RequestExtension {
        stage: DeadlineStage,
        requested_due: Timestamp,
        reason: String,
    },
    Complete {
        result: String,
        attachments: Vec<AttachmentId>,
    },
}

/// The grid worker's verdict on a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept { satisfaction: u8 },
    Reject { reason: String },
}

/// A case with what `GetCase` shows.
#[derive(Debug, Clone)]
pub struct CaseView {
    pub report: ReportRecord,
    pub timeline: Vec<EventRecord>,
}

#[derive(Debug, Clone)]
pub struct LoopService {
    store: Store,
    /// What the loop's streams read.
    feed: EventFeed,
    routing: Arc<Routing>,
    time_limits: Arc<TimeLimits>,
    /// Wakes the deadline engine when a change starts a deadline.
    deadline_wake: Arc<tokio::sync::Notify>,
    clock: Arc<dyn Clock>,
    settings: LoopSettings,
    /// Where report-in latencies are recorded, when the service runs in a server.
    metrics: Option<Arc<crate::metrics::Metrics>>,
}
impl LoopService {
    pub fn new(
        store: Store,
        routing: Arc<Routing>,
        time_limits: Arc<TimeLimits>,
        deadline_wake: Arc<tokio::sync::Notify>,
        clock: Arc<dyn Clock>,
        settings: LoopSettings,
    ) -> Self {
        Self {
            feed: EventFeed::new(store.clone()),
            store,
            routing,
            time_limits,
            deadline_wake,
            clock,
            settings,
            metrics: None,
        }
    }

    /// Records report-in latencies in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The event feed the loop's streams read, after the service has authorised them.
    pub fn feed(&self) -> &EventFeed {
        &self.feed
    }

    /// Wakes this process's deadline engine: a deadline started or moved outside the loop (a ledger step's).
    pub fn wake_deadlines(&self) {
        self.deadline_wake.notify_one();
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Refuses a role that may never touch reports before any lookup, so it learns nothing.
    pub(super) fn authorize_report(&self, actor: &Actor) -> Result<(), LoopError> {
        actor
            .authorize(Action::OwnReport {
                author: &actor.user_id,
            })
            .map_err(|e| LoopError::Access(e, "report"))
    }

    /// Applies `change` at `now`, the one instant the change and its events are stamped with, with the deadlines it starts, satisfies or cancels.
    ///
    /// A whistle stamps the case with the policy version in force; every later change counts under that version.
    pub(super) async fn change<F>(
        &self,
        key: ReportKey,
        guard: Guard,
        now: Timestamp,
        change: F,
    ) -> Result<(ReportRecord, Effects), LoopError>
    where
        F: FnOnce(&mut ReportRecord) -> Result<Effects, LoopError> + Clone + Send + 'static,
    {
        let time_limits = self.time_limits.clone();
        let with_deadlines = move |record: &mut ReportRecord| {
            let before = workflow(record);
            let mut effects = change(record)?;
            let after = workflow(record);
            effects.notifications.extend(
                notify::on_step(&before, &after)
                    .into_iter()
                    .map(|notice| notification_of(notice, &record.author)),
            );
            let snapshot = time_limits.snapshot();
            facts::apply(record, &effects, now, &snapshot.calendar);
            let Some(case) = record.case.as_mut() else {
                return Ok(effects);
            };
            if before.case.is_none() {
                case.policy_version = Some(snapshot.policies.version());
            }
            // A case whistled before policies existed has no deadlines.
            let Some(version) = case.policy_version else {
                return Ok(effects);
            };
            let policy =
                time_limits.case_policy(version, &record.category, record.risk_grade, case.kind)?;
            effects.deadlines.extend(deadlines::changes(
                &before,
                &after,
                policy.as_ref(),
                &snapshot.calendar,
                now,
            )?);
            Ok(effects)
        };
        // A missing case answers exactly as another unit's case does: the resource the caller named.
        let resource = match key {
            ReportKey::Report(_) => "report",
            ReportKey::Case(_) => "case",
        };
        let (record, effects) = self
            .store
            .reports()
            .update(key, guard.etag, now, guard.once, with_deadlines)
            .await
            .map_err(|err| match err {
                UpdateError::NotFound => LoopError::Access(AccessError::Hidden, resource),
                err => err.into(),
            })?;
        if effects.deadlines.iter().any(|d| {
            matches!(
                d,
                deadlines::DeadlineChange::Start(_) | deadlines::DeadlineChange::Move { .. }
            )
        }) {
            self.deadline_wake.notify_one();
        }
        Ok((record, effects))
    }
    /// The first answer to a request done before under the caller's id; another request under the same id is a conflict on `request_id`.
    ///
    /// The caller checks that the caller may still read the object before sending the answer.
    pub async fn replayed(&self, key: &RequestKey) -> Result<Option<Vec<u8>>, LoopError> {
        match self.store.requests().get(&key.user, &key.id).await? {
            Some(stored) if stored.repeated_by(key) => Ok(Some(stored.answer)),
            Some(_) => Err(LoopError::Conflict("request_id")),
            None => Ok(None),
        }
    }

    /// The department a request names in `field`; a missing one is that field's error.
    pub(super) async fn named_department(
        &self,
        field: &'static str,
        id: &DepartmentId,
    ) -> Result<Department, LoopError> {
        match self.store.directory().get_department(id).await {
            Ok(found) => Ok(found),
            Err(StorageError::NotFound { .. }) => Err(LoopError::field(
                field,
                format!("departments/{id} does not exist"),
            )),
            Err(err) => Err(err.into()),
        }
    }
}

/// Refuses a grid worker acting on another's report, inside the write, against the stored author.
pub(super) fn own(actor: &Actor, record: &ReportRecord) -> Result<(), LoopError> {
    actor
        .authorize(Action::OwnReport {
            author: &record.author,
        })
        .map_err(|e| LoopError::Access(e, "report"))
}

pub(super) fn hidden_if_missing(resource: &'static str) -> impl Fn(StorageError) -> LoopError {
    move |err| match err {
        StorageError::NotFound { .. } => LoopError::Access(AccessError::Hidden, resource),
        err => LoopError::Storage(err),
    }
}
