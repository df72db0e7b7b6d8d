//! The closed loop as a service: reports, whistles, department work and verification, each one authorised against the object, checked by the state machine and stored with its timeline events in one write.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gridwhistle_dispatcher::Clock;
use gridwhistle_dispatcher::calendar::CalendarError;
use gridwhistle_dispatcher::deadlines;
use gridwhistle_dispatcher::notify::{self, Notice, Recipient};
use gridwhistle_dispatcher::routing::rules::{Decision, Position, Role as RoutedRole, Rule};
use gridwhistle_dispatcher::workflow::{Assignment, Change, IllegalStep, Loop, Step};
use gridwhistle_domain::{
    AccessError, Action, Actor, AssignmentRole, AssignmentState, AttachmentId, CaseId, CaseState,
    DeadlineStage, DepartmentId, EventKind, ExtensionId, ExtensionState, ReportId, ReportState,
    RiskGrade, Timestamp, UserId, WhistleKind,
};
use tracing::{info, instrument};

mod letters;

pub use letters::LetterDraft;

use crate::model::{
    AssignmentRecord, CaseRecord, CreateOutcome, DeadlineState, Effects, EventRecord,
    ExtensionRecord, InboxFilter, NewEvent, NewNotification, NewReport, ReportKey, ReportRecord,
    RoutedRecord, RoutingRecord,
};
use crate::routing::Routing;
use crate::storage::{Department, StorageError, Store, UpdateError};
use crate::time_limits::{PolicyNotLoaded, TimeLimits};

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
    routing: Arc<Routing>,
    time_limits: Arc<TimeLimits>,
    /// Wakes the deadline engine when a change starts a deadline.
    deadline_wake: Arc<tokio::sync::Notify>,
    clock: Arc<dyn Clock>,
    settings: LoopSettings,
}

fn routing_record(decision: &Decision) -> RoutingRecord {
    RoutingRecord {
        generation: decision.generation,
        rule: match decision.rule {
            Rule::SingleCover => "single_cover",
            Rule::TieBreak => "tie_break",
            Rule::Fallback => "fallback",
        }
        .to_owned(),
        near_border: decision.near_border,
        border_distance_m: decision.border_distance_m,
        needs_supervisor: decision.needs_supervisor,
        routed_lat: decision.routed_point.lat(),
        routed_lng: decision.routed_point.lng(),
        grid: decision.grid.as_ref().map(|g| g.as_str().to_owned()),
        explanation: decision.explanation.clone(),
        departments: decision
            .summoned
            .iter()
            .map(|s| RoutedRecord {
                department: s.department.as_str().to_owned(),
                department_type: s.department_type.as_str().to_owned(),
                role: role_of(s.role).as_str().to_owned(),
                jurisdiction: s.jurisdiction.clone(),
            })
            .collect(),
    }
}

fn role_of(role: RoutedRole) -> AssignmentRole {
    match role {
        RoutedRole::Lead => AssignmentRole::Lead,
        RoutedRole::Assist => AssignmentRole::Assist,
    }
}

fn summoned(decision: &Decision) -> Vec<(DepartmentId, AssignmentRole)> {
    decision
        .summoned
        .iter()
        .map(|s| (s.department.clone(), role_of(s.role)))
        .collect()
}

/// The outbox row of a step's notice; `author` filed the report.
fn notification_of(notice: Notice, author: &UserId) -> NewNotification {
    let (department, audience, recipient) = match notice.recipient {
        Recipient::DutyOfficers(d) => (Some(d), "duty_officers", None),
        Recipient::Supervisors => (None, "supervisors", None),
        Recipient::Reporter => (None, "reporter", Some(*author)),
    };
    NewNotification {
        department,
        audience,
        kind: notice.kind,
        recipient,
        stage: None,
        escalation_level: 0,
        due_at: None,
    }
}

/// The state machine's view of a stored report.
fn workflow(record: &ReportRecord) -> Loop {
    Loop {
        report: record.state,
        case: record.case.as_ref().map(|c| c.state),
        assignments: record
            .assignments
            .iter()
            .map(|a| Assignment {
                department: a.department.clone(),
                role: a.role,
                state: a.state,
                contacted: a.contacted,
            })
            .collect(),
        rework_count: record.case.as_ref().map_or(0, |c| c.rework_count),
    }
}

/// Writes the state machine's result back into the record; new assignments take their type and jurisdiction from `decision`.
fn settle(record: &mut ReportRecord, next: &Loop, decision: Option<&Decision>, now: Timestamp) {
    record.state = next.report;
    if let (Some(case), Some(state)) = (record.case.as_mut(), next.case) {
        case.state = state;
        case.rework_count = next.rework_count;
    }
    for a in &next.assignments {
        if let Some(stored) = record.assignment_mut(&a.department) {
            // Summoned again after leaving the case: its share starts over.
            if a.state == AssignmentState::Summoned && !stored.state.is_active() {
                stored.summoned_at = now;
                stored.report_in_at = None;
                stored.complete_at = None;
                stored.result = None;
                stored.result_attachments.clear();
                stored.jurisdiction = None;
            }
            stored.role = a.role;
            stored.state = a.state;
            stored.contacted = a.contacted;
            continue;
        }
        let routed =
            decision.and_then(|d| d.summoned.iter().find(|s| s.department == a.department));
        record.assignments.push(AssignmentRecord {
            department: a.department.clone(),
            department_type: routed
                .map_or_else(String::new, |s| s.department_type.as_str().to_owned()),
            role: a.role,
            state: a.state,
            jurisdiction: routed.and_then(|s| s.jurisdiction.clone()),
            contacted: a.contacted,
            summoned_at: now,
            report_in_at: None,
            complete_at: None,
            result: None,
            result_attachments: Vec::new(),
        });
    }
}

fn event(
    kind: EventKind,
    actor: &Actor,
    department: Option<DepartmentId>,
    text: String,
) -> NewEvent {
    NewEvent {
        kind,
        actor: Some(actor.user_id),
        department,
        text,
        attachments: Vec::new(),
    }
}

/// Turns the state machine's changes into timeline events with the caller's details.
fn events_of(
    changes: Vec<Change>,
    actor: &Actor,
    text: impl Fn(&Change) -> String,
) -> Vec<NewEvent> {
    changes
        .into_iter()
        .map(|c| {
            let body = text(&c);
            event(c.kind, actor, c.department, body)
        })
        .collect()
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
            store,
            routing,
            time_limits,
            deadline_wake,
            clock,
            settings,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Files a report; a retry of the same id and payload returns the first answer (`true` says it was a retry).
    #[instrument(skip_all, fields(report = %draft.id))]
    pub async fn create_report(
        &self,
        actor: &Actor,
        draft: NewReport,
    ) -> Result<(ReportRecord, bool), LoopError> {
        actor
            .authorize(Action::FileReport)
            .map_err(|e| LoopError::Access(e, "report"))?;
        let now = self.clock.now();
        if draft.observed_at > now.saturating_add(self.settings.clock_skew) {
            return Err(LoopError::Field {
                field: "report.observe_time".into(),
                reason: "is in the future".to_owned(),
            });
        }
        if now.duration_since(draft.observed_at) > self.settings.max_offline {
            return Err(LoopError::Field {
                field: "report.observe_time".into(),
                reason: format!(
                    "is older than the {}-day offline limit",
                    self.settings.max_offline.as_secs() / 86_400
                ),
            });
        }
        let table = self.routing.table();
        if table.category(&draft.category).is_none() {
            return Err(LoopError::Field {
                field: "report.category".into(),
                reason: format!("unknown category {}", draft.category),
            });
        }
        self.check_attachments(&actor.user_id, &draft.attachments, "report.attachments")
            .await?;
        // The grid containing the point, or the worker's own grid when the point lies outside every grid.
        let grid = table
            .route(draft.location, &draft.category)
            .ok()
            .and_then(|d| d.grid)
            .or_else(|| actor.binding.grid().cloned());
        match self
            .store
            .reports()
            .create(actor.user_id, grid, draft, now)
            .await?
        {
            CreateOutcome::Created(record) => Ok((record, false)),
            CreateOutcome::Replayed(record) => Ok((record, true)),
            CreateOutcome::Conflict => Err(LoopError::Conflict("report_id")),
        }
    }

    /// Checks that every attachment was uploaded completely by `owner`.
    async fn check_attachments(
        &self,
        owner: &UserId,
        attachments: &[AttachmentId],
        field: &'static str,
    ) -> Result<(), LoopError> {
        if attachments.is_empty() {
            return Ok(());
        }
        let missing = self
            .store
            .uploads()
            .missing_uploads(owner, attachments)
            .await?;
        match missing.first() {
            None => Ok(()),
            Some(first) => Err(LoopError::Field {
                field: field.into(),
                reason: format!("attachments/{first} was not uploaded by the caller"),
            }),
        }
    }

    #[instrument(skip_all, fields(report = %id))]
    pub async fn get_report(&self, actor: &Actor, id: ReportId) -> Result<ReportRecord, LoopError> {
        self.authorize_report(actor)?;
        let record = self
            .store
            .reports()
            .get(ReportKey::Report(id))
            .await
            .map_err(hidden_if_missing("report"))?;
        actor
            .authorize(Action::OwnReport {
                author: &record.author,
            })
            .map_err(|e| LoopError::Access(e, "report"))?;
        Ok(record)
    }

    pub async fn list_my_reports(
        &self,
        actor: &Actor,
        state: Option<ReportState>,
        after: Option<ReportId>,
        limit: u64,
    ) -> Result<Vec<ReportRecord>, LoopError> {
        actor
            .authorize(Action::OwnReport {
                author: &actor.user_id,
            })
            .map_err(|e| LoopError::Access(e, "report"))?;
        Ok(self
            .store
            .reports()
            .by_author(&actor.user_id, state, after.as_ref(), limit)
            .await?)
    }

    #[instrument(skip_all, fields(report = %id))]
    pub async fn resolve_on_site(
        &self,
        actor: &Actor,
        id: ReportId,
        resolution: String,
        attachments: Vec<AttachmentId>,
        etag: Option<i64>,
    ) -> Result<ReportRecord, LoopError> {
        self.authorize_report(actor)?;
        self.check_attachments(&actor.user_id, &attachments, "attachments")
            .await?;
        let actor = actor.clone();
        let now = self.clock.now();
        self.change(ReportKey::Report(id), etag, now, move |record| {
            own(&actor, record)?;
            let mut next = workflow(record);
            let changes = next.apply(&Step::ResolveOnSite)?;
            settle(record, &next, None, now);
            record.resolution = Some(resolution.clone());
            let mut events = events_of(changes, &actor, |_| resolution.clone());
            if let Some(e) = events.first_mut() {
                e.attachments = attachments.clone();
            }
            Ok(Effects {
                events,
                extension: None,
                ..Effects::default()
            })
        })
        .await
        .map(|(record, _)| record)
    }

    /// Whistles a report: routes it and opens a case for the summoned departments.
    #[instrument(skip_all, fields(report = %id))]
    pub async fn whistle(
        &self,
        actor: &Actor,
        id: ReportId,
        kind: WhistleKind,
        grade: Option<RiskGrade>,
        note: String,
        etag: Option<i64>,
    ) -> Result<ReportRecord, LoopError> {
        self.authorize_report(actor)?;
        let table = self.routing.table();
        let actor = actor.clone();
        let now = self.clock.now();
        self.change(ReportKey::Report(id), etag, now, move |record| {
            own(&actor, record)?;
            let decision = table
                .route(record.location, &record.category)
                .map_err(|e| LoopError::Field {
                    field: "name".into(),
                    reason: format!("the report cannot be routed: {e}"),
                })?;
            let default_grade = table
                .category(&record.category)
                .map_or(RiskGrade::C, |c| c.default_grade);
            let mut next = workflow(record);
            let changes = next.apply(&Step::Whistle {
                summoned: summoned(&decision),
            })?;
            record.risk_grade = Some(grade.or(record.risk_grade).unwrap_or(default_grade));
            record.case = Some(CaseRecord {
                id: CaseId::generate(),
                state: CaseState::Open,
                kind,
                note: note.clone(),
                whistled_at: now,
                routing: routing_record(&decision),
                rework_count: 0,
                satisfaction: None,
                // Set with the deadlines, by `change`.
                policy_version: None,
            });
            settle(record, &next, Some(&decision), now);
            let explanation = decision.explanation.clone();
            Ok(Effects {
                events: events_of(changes, &actor, |_| {
                    if note.is_empty() {
                        explanation.clone()
                    } else {
                        format!("{note}\n{explanation}")
                    }
                }),
                extension: None,
                ..Effects::default()
            })
        })
        .await
        .map(|(record, _)| record)
    }

    #[instrument(skip_all, fields(report = %id))]
    pub async fn verify(
        &self,
        actor: &Actor,
        id: ReportId,
        verdict: Verdict,
        etag: Option<i64>,
    ) -> Result<ReportRecord, LoopError> {
        self.authorize_report(actor)?;
        let actor = actor.clone();
        let now = self.clock.now();
        self.change(ReportKey::Report(id), etag, now, move |record| {
            own(&actor, record)?;
            let mut next = workflow(record);
            let (step, text) = match &verdict {
                Verdict::Accept { satisfaction } => {
                    (Step::Accept, format!("satisfaction {satisfaction}/5"))
                }
                Verdict::Reject { reason } => (Step::Reject, reason.clone()),
            };
            let changes = next.apply(&step)?;
            settle(record, &next, None, now);
            if let (Some(case), Verdict::Accept { satisfaction }) = (record.case.as_mut(), &verdict)
            {
                case.satisfaction = Some(*satisfaction);
            }
            if matches!(verdict, Verdict::Reject { .. }) {
                // The lead's result was not accepted: it works on, and completes again.
                for a in &mut record.assignments {
                    if a.role == AssignmentRole::Lead && a.state != AssignmentState::Completed {
                        a.complete_at = None;
                    }
                }
            }
            Ok(Effects {
                events: events_of(changes, &actor, |_| text.clone()),
                extension: None,
                ..Effects::default()
            })
        })
        .await
        .map(|(record, _)| record)
    }

    /// The case as its departments or a supervisor see it, with its timeline.
    #[instrument(skip_all, fields(case = %id))]
    pub async fn get_case(&self, actor: &Actor, id: CaseId) -> Result<CaseView, LoopError> {
        // The role check comes before the lookup, so a role that may not read cases learns nothing.
        let own = actor.department().map_or(&[][..], std::slice::from_ref);
        actor
            .authorize(Action::ReadCase { departments: own })
            .map_err(|e| LoopError::Access(e, "case"))?;
        let report = self
            .store
            .reports()
            .get(ReportKey::Case(id))
            .await
            .map_err(hidden_if_missing("case"))?;
        actor
            .authorize(Action::ReadCase {
                departments: &report.departments(),
            })
            .map_err(|e| LoopError::Access(e, "case"))?;
        let timeline = self.store.timeline().of_report(&report.id).await?;
        Ok(CaseView { report, timeline })
    }

    pub async fn list_inbox(
        &self,
        actor: &Actor,
        filter: InboxFilter,
        after: Option<ReportId>,
        limit: u64,
    ) -> Result<Vec<ReportRecord>, LoopError> {
        let department = self.inbox_department(actor)?;
        Ok(self
            .store
            .reports()
            .list_inbox(&department, &filter, after.as_ref(), limit)
            .await?)
    }

    /// The department whose inbox the caller uses.
    pub fn inbox_department(&self, actor: &Actor) -> Result<DepartmentId, LoopError> {
        actor
            .authorize(Action::UseInbox)
            .map_err(|e| LoopError::Access(e, "case"))?;
        actor
            .department()
            .cloned()
            .ok_or(LoopError::Access(AccessError::Hidden, "case"))
    }

    /// Applies a department's action to a case it is summoned to.
    #[instrument(skip_all, fields(case = %id))]
    pub async fn act(
        &self,
        actor: &Actor,
        id: CaseId,
        action: CaseAction,
        etag: Option<i64>,
    ) -> Result<(ReportRecord, Option<ExtensionRecord>), LoopError> {
        let department = self.inbox_department(actor)?;
        let attachments = match &action {
            CaseAction::PostProgress { attachments, .. }
            | CaseAction::Complete { attachments, .. } => attachments.clone(),
            _ => Vec::new(),
        };
        self.check_attachments(&actor.user_id, &attachments, "attachments")
            .await?;
        let table = self.routing.table();
        let now = self.clock.now();
        let actor = actor.clone();
        // Chosen once, so a retried write stores the same request.
        let extension_id =
            matches!(action, CaseAction::RequestExtension { .. }).then(ExtensionId::generate);
        let (record, effects) = self
            .change(ReportKey::Case(id), etag, now, move |record| {
                actor
                    .authorize(Action::WorkCase {
                        departments: &record.departments(),
                    })
                    .map_err(|e| LoopError::Access(e, "case"))?;
                let mut next = workflow(record);
                let d = department.clone();
                let mut decision = None;
                let mut extension = None;
                let (step, text) = match &action {
                    CaseAction::ReportIn { on_scene } => (
                        Step::ReportIn(d),
                        on_scene.map_or_else(String::new, |p| {
                            format!("on scene at {:.6},{:.6}", p.point.lat(), p.point.lng())
                        }),
                    ),
                    CaseAction::RecordContact { note, .. } => {
                        (Step::RecordContact(d), note.clone())
                    }
                    CaseAction::PostProgress { text, .. } => (Step::PostProgress(d), text.clone()),
                    CaseAction::Complete { result, .. } => (Step::Complete(d), result.clone()),
                    CaseAction::RequestExtension {
                        stage,
                        requested_due,
                        reason,
                    } => {
                        extension = extension_id.map(|id| ExtensionRecord {
                            id,
                            report: record.id,
                            department: department.clone(),
                            stage: *stage,
                            requested_due: *requested_due,
                            reason: reason.clone(),
                            state: ExtensionState::Pending,
                            approved_due: None,
                            decision_reason: None,
                            created_at: now,
                            decided_at: None,
                        });
                        (Step::RequestExtension(d), reason.clone())
                    }
                    CaseAction::Return { reason } => {
                        let mut excluded = next.returned();
                        excluded.push(d.clone());
                        let rerouted = table
                            .route_excluding(record.location, &record.category, &excluded)
                            .map_err(|e| LoopError::Field {
                                field: "name".into(),
                                reason: format!("the case cannot be re-routed: {e}"),
                            })?;
                        let step = Step::Return {
                            department: d,
                            rerouted: summoned(&rerouted),
                        };
                        decision = Some(rerouted);
                        (step, reason.clone())
                    }
                };
                let changes = next.apply(&step)?;
                settle(record, &next, decision.as_ref(), now);
                if let (Some(case), Some(decision)) = (record.case.as_mut(), &decision) {
                    case.routing = routing_record(decision);
                }
                if let Some(a) = record.assignment_mut(&department) {
                    match &action {
                        CaseAction::ReportIn { .. } => a.report_in_at = Some(now),
                        CaseAction::Complete {
                            result,
                            attachments,
                        } => {
                            a.complete_at = Some(now);
                            a.result = Some(result.clone());
                            a.result_attachments = attachments.clone();
                        }
                        _ => {}
                    }
                }
                let explanation = decision.as_ref().map(|d| d.explanation.clone());
                let mut events = events_of(changes, &actor, |c| match c.kind {
                    EventKind::Rerouted => explanation.clone().unwrap_or_default(),
                    _ => text.clone(),
                });
                if let Some(first) = events.first_mut() {
                    first.attachments = attachments.clone();
                }
                Ok(Effects {
                    events,
                    extension,
                    ..Effects::default()
                })
            })
            .await?;
        Ok((record, effects.extension))
    }

    /// Refuses a role that may never touch reports before any lookup, so it learns nothing.
    fn authorize_report(&self, actor: &Actor) -> Result<(), LoopError> {
        actor
            .authorize(Action::OwnReport {
                author: &actor.user_id,
            })
            .map_err(|e| LoopError::Access(e, "report"))
    }

    /// Applies `change` at `now`, the one instant the change and its events are stamped with, with the deadlines it starts, satisfies or cancels.
    ///
    /// A whistle stamps the case with the policy version in force; every later change counts under that version.
    async fn change<F>(
        &self,
        key: ReportKey,
        etag: Option<i64>,
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
            .update(key, etag, now, with_deadlines)
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

    /// A supervisor approves or refuses a pending extension; approval moves the pending deadline's due time and resumes its schedule after what already fired.
    #[instrument(skip_all, fields(case = %case, extension = %id))]
    pub async fn decide_extension(
        &self,
        actor: &Actor,
        case: CaseId,
        id: ExtensionId,
        approved: bool,
        approved_due: Option<Timestamp>,
        reason: String,
    ) -> Result<(ReportRecord, ExtensionRecord), LoopError> {
        actor
            .authorize(Action::Supervise)
            .map_err(|e| LoopError::Access(e, "extension"))?;
        let extension = self
            .store
            .reports()
            .extension(&case, &id)
            .await
            .map_err(hidden_if_missing("extension"))?;
        if extension.state != ExtensionState::Pending {
            return Err(
                IllegalStep(format!("the extension was already {}", extension.state)).into(),
            );
        }
        let now = self.clock.now();
        let due = approved.then(|| approved_due.unwrap_or(extension.requested_due));
        if due.is_some_and(|due| due <= now) {
            return Err(LoopError::Field {
                field: "approved_due_time".into(),
                reason: "must be in the future".to_owned(),
            });
        }
        let decided = ExtensionRecord {
            state: if approved {
                ExtensionState::Approved
            } else {
                ExtensionState::Refused
            },
            approved_due: due,
            decision_reason: Some(reason).filter(|r| !r.is_empty()),
            decided_at: Some(now),
            ..extension
        };
        let actor = actor.clone();
        let time_limits = self.time_limits.clone();
        let written = decided.clone();
        self.change(ReportKey::Case(case), None, now, move |record| {
            let snapshot = time_limits.snapshot();
            let mut moved = Vec::new();
            let pending = record.deadlines.iter().find(|d| {
                d.department == written.department
                    && d.stage == written.stage
                    && d.state == DeadlineState::Pending
            });
            if let (Some(due), Some(d), Some(case)) =
                (written.approved_due, pending, record.case.as_ref())
            {
                let policy = time_limits.case_policy(
                    d.policy_version,
                    &record.category,
                    record.risk_grade,
                    case.kind,
                )?;
                let stage = policy.as_ref().and_then(|p| p.stage(d.stage));
                moved.push(match stage {
                    Some(stage) => deadlines::moved(
                        &d.department,
                        stage,
                        &snapshot.calendar,
                        d.started_at,
                        due,
                        now,
                    )?,
                    None => deadlines::DeadlineChange::Move {
                        department: d.department.clone(),
                        stage: d.stage,
                        due_at: due,
                        next_step: d.next_step,
                        next_fire_at: None,
                        escalation_level: d.escalation_level,
                        provisional: false,
                    },
                });
            }
            let text = match (written.approved_due, &written.decision_reason) {
                (Some(due), _) => format!(
                    "{} extension approved: due {}",
                    written.stage,
                    snapshot.calendar.zone().format(due)
                ),
                (None, Some(reason)) => format!("{} extension refused: {reason}", written.stage),
                (None, None) => format!("{} extension refused", written.stage),
            };
            Ok(Effects {
                events: vec![NewEvent {
                    kind: EventKind::ExtensionDecided,
                    actor: Some(actor.user_id),
                    department: Some(written.department.clone()),
                    text,
                    attachments: Vec::new(),
                }],
                deadlines: moved,
                decided_extension: Some(written.clone()),
                ..Effects::default()
            })
        })
        .await
        .map(|(record, _)| (record, decided))
    }

    /// A supervisor names a case's lead and assisting departments by hand (disputed or unroutable cases); the state machine decides what happens to each department, and the deadlines follow.
    #[instrument(skip_all, fields(case = %id))]
    pub async fn reassign(
        &self,
        actor: &Actor,
        id: CaseId,
        lead: DepartmentId,
        assists: Vec<DepartmentId>,
        reason: String,
        etag: Option<i64>,
    ) -> Result<ReportRecord, LoopError> {
        actor
            .authorize(Action::Supervise)
            .map_err(|e| LoopError::Access(e, "case"))?;
        // Every named department must exist; its type is recorded on a new assignment.
        let mut types = HashMap::new();
        let named = std::iter::once(("lead_department", &lead))
            .chain(assists.iter().map(|d| ("assisting_departments", d)));
        for (field, department) in named {
            let found = self.named_department(field, department).await?;
            types.insert(department.clone(), found.department_type);
        }
        let now = self.clock.now();
        let actor = actor.clone();
        let text = format!(
            "lead {lead}{}{}",
            if assists.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = assists.iter().map(DepartmentId::as_str).collect();
                format!(", assisting {}", names.join(", "))
            },
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        );
        let step = Step::Reassign { lead, assists };
        self.change(ReportKey::Case(id), etag, now, move |record| {
            let mut next = workflow(record);
            let changes = next.apply(&step)?;
            settle(record, &next, None, now);
            for a in &mut record.assignments {
                if let Some(kind) = types.get(&a.department)
                    && a.department_type.is_empty()
                {
                    a.department_type = kind.as_str().to_owned();
                }
            }
            Ok(Effects {
                events: events_of(changes, &actor, |_| text.clone()),
                ..Effects::default()
            })
        })
        .await
        .map(|(record, _)| record)
    }

    /// The department a request names in `field`; a missing one is that field's error.
    async fn named_department(
        &self,
        field: &'static str,
        id: &DepartmentId,
    ) -> Result<Department, LoopError> {
        match self.store.directory().get_department(id).await {
            Ok(found) => Ok(found),
            Err(StorageError::NotFound { .. }) => Err(LoopError::Field {
                field: field.into(),
                reason: format!("departments/{id} does not exist"),
            }),
            Err(err) => Err(err.into()),
        }
    }

    /// Logs that a caller saw a report's parties unmasked, without the data itself.
    pub fn audit_reveal(actor: &Actor, report: &ReportId) {
        info!(target: "gridwhistle::audit", user = %actor.user_id, %report, "parties revealed");
    }
}

/// Refuses a grid worker acting on another's report, inside the write, against the stored author.
fn own(actor: &Actor, record: &ReportRecord) -> Result<(), LoopError> {
    actor
        .authorize(Action::OwnReport {
            author: &record.author,
        })
        .map_err(|e| LoopError::Access(e, "report"))
}

fn hidden_if_missing(resource: &'static str) -> impl Fn(StorageError) -> LoopError {
    move |err| match err {
        StorageError::NotFound { .. } => LoopError::Access(AccessError::Hidden, resource),
        err => LoopError::Storage(err),
    }
}
