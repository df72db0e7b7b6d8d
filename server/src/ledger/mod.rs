//! The ledger of long-standing cases (积案台账) as a service (`LedgerService`): entries opened from a case or on their own, one plan per entry (一案一策) revised with its history kept, red/yellow/blue grades that move, leaders who own entries (包案), and closing off with approval (销号).
//!
//! Every change goes through `LedgerService::change`: read the entry, check the caller may read it (anything else is answered as missing) and may make the change, apply it (`plan::apply`, pure), and write it with its timeline events under a version check.

pub mod deadlines;
pub mod interviews;
pub mod meetings;
pub mod plan;

use std::sync::Arc;

use gridwhistle_dispatcher::clock::Clock;
use gridwhistle_domain::ledger::{LedgerState, Level, Nature};
use gridwhistle_domain::{
    AccessError, Action, Actor, Binding, CaseId, DepartmentId, LedgerEntryId, LedgerScope, Party,
    RiskGrade, Timestamp, UserId,
};
use tracing::instrument;

pub use interviews::NewInterview;
pub use meetings::{Decision, NewMeeting, minutes_table};
pub use plan::{Change, PlannedStep, StepDue, StepPlan};

use crate::model::{
    LedgerCounts, LedgerEntryRecord, LedgerEventRecord, LedgerFilter, LedgerOpenOutcome,
    LedgerPosition, LedgerReader, LinkedCase, NewLedgerEvent, ReportKey,
};
use crate::storage::{StorageError, Store, UpdateError};
use crate::time_limits::TimeLimits;

/// Why a ledger request was refused.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("access refused")]
    Access(AccessError, &'static str),
    /// A request field, named by its path in the request, is invalid.
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    /// The entry is not where the change needs it.
    #[error("{0}")]
    Precondition(String),
    /// The entry id was used for another request.
    #[error("entry_id was already used with a different request")]
    Conflict,
    #[error("the entry changed since it was read")]
    Stale,
    /// A meeting's decision on a case, refused by the closed loop.
    #[error(transparent)]
    Loop(#[from] crate::closed_loop::LoopError),
    /// A step's deadline cannot be counted on the working calendar.
    #[error(transparent)]
    Calendar(#[from] gridwhistle_dispatcher::calendar::CalendarError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl LedgerError {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        LedgerError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// An entry as a supervisor opens it.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub id: LedgerEntryId,
    pub case: Option<CaseId>,
    pub title: String,
    pub summary: String,
    pub nature: Nature,
    pub since: Timestamp,
    pub complexity: Level,
    pub social_impact: Level,
    pub grade: RiskGrade,
    pub unit: DepartmentId,
    pub responsible_person: String,
    pub leader: Option<UserId>,
    pub parties: Vec<Party>,
    pub steps: Vec<StepPlan>,
    /// SHA-256 of the request, to tell a retry from a reuse of the id.
    pub request_hash: String,
}

/// How often a change without an etag is re-read and tried again when another change slipped in between.
const RETRIES: usize = 5;

#[derive(Debug, Clone)]
pub struct LedgerService {
    store: Store,
    time_limits: Arc<TimeLimits>,
    clock: Arc<dyn Clock>,
    /// Reassigns the cases a joint meeting decides on.
    loop_service: Arc<crate::closed_loop::LoopService>,
}

/// What a request under an id already used stored: the same request (by its hash) gets it back, another one is refused.
fn replayed<T>(stored: T, hash: fn(&T) -> &str, sent_hash: &str) -> Result<T, LedgerError> {
    if hash(&stored) == sent_hash {
        Ok(stored)
    } else {
        Err(LedgerError::Conflict)
    }
}

/// Who an entry concerns, as `Actor::authorize` and `Actor::sees_ledger_parties` read it; `departments` are its plan's.
pub fn scope<'a>(entry: &'a LedgerEntryRecord, departments: &'a [DepartmentId]) -> LedgerScope<'a> {
    LedgerScope {
        unit: &entry.unit,
        departments,
        leader: entry.leader.as_ref(),
        reporter: entry.case.as_ref().map(|c| &c.reporter),
    }
}

impl LedgerService {
    pub fn new(
        store: Store,
        time_limits: Arc<TimeLimits>,
        clock: Arc<dyn Clock>,
        loop_service: Arc<crate::closed_loop::LoopService>,
    ) -> Self {
        Self {
            store,
            time_limits,
            clock,
            loop_service,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The district's time zone, which minutes show times in.
    pub fn zone(&self) -> gridwhistle_dispatcher::calendar::Zone {
        self.time_limits.snapshot().calendar.zone().clone()
    }

    fn format(&self) -> impl Fn(Timestamp) -> String {
        let zone = self.zone();
        move |t| zone.format(t)
    }

    /// Refuses a department that does not exist, naming `field`.
    pub(crate) async fn check_department(
        &self,
        field: &str,
        d: &DepartmentId,
    ) -> Result<(), LedgerError> {
        match self.store.directory().get_department(d).await {
            Ok(_) => Ok(()),
            Err(StorageError::NotFound { .. }) => {
                Err(LedgerError::field(field, "no such department"))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Refuses a user who is not an enabled district leader, naming `field`.
    async fn check_leader(&self, field: &str, user: &UserId) -> Result<(), LedgerError> {
        match self.store.directory().get_user(user).await {
            Ok(u) if u.binding == Binding::DistrictLeader && !u.disabled => Ok(()),
            Ok(_) | Err(StorageError::NotFound { .. }) => {
                Err(LedgerError::field(field, "is not a district leader"))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Places each planned step's due time: a time as given, or the close of the n-th working day from now on the working calendar.
    pub fn plan_steps(&self, planned: Vec<PlannedStep>) -> Result<Vec<StepPlan>, LedgerError> {
        let now = self.clock.now();
        let calendar = &self.time_limits.snapshot().calendar;
        planned
            .into_iter()
            .map(|p| {
                let due_at = match p.due {
                    StepDue::At(at) => at,
                    StepDue::WorkingDays(days) => calendar.add_working_days(now, days)?,
                };
                Ok(StepPlan {
                    department: p.department,
                    description: p.description,
                    due_at,
                })
            })
            .collect()
    }

    /// Refuses a plan naming a missing department or a due time not after `now`.
    async fn check_plan(&self, steps: &[StepPlan], now: Timestamp) -> Result<(), LedgerError> {
        for (i, step) in steps.iter().enumerate() {
            self.check_department(&format!("steps[{i}].department"), &step.department)
                .await?;
            if step.due_at <= now {
                return Err(LedgerError::field(
                    format!("steps[{i}].due_time"),
                    "must be in the future",
                ));
            }
        }
        Ok(())
    }

    /// Opens an entry (supervisors), idempotent on its id.
    #[instrument(skip_all, fields(entry = %new.id))]
    pub async fn open(
        &self,
        actor: &Actor,
        new: NewEntry,
    ) -> Result<LedgerEntryRecord, LedgerError> {
        actor
            .authorize(Action::ManageLedger)
            .map_err(|e| LedgerError::Access(e, "ledger entry"))?;
        let now = self.clock.now();
        if let Some(existing) = self.store.ledger().get(&new.id).await? {
            return replayed(existing, |s| &s.request_hash, &new.request_hash);
        }
        self.check_department("responsible_unit", &new.unit).await?;
        if let Some(leader) = &new.leader {
            self.check_leader("leader", leader).await?;
        }
        self.check_plan(&new.steps, now).await?;
        let case = match new.case {
            None => None,
            Some(case) => Some(self.linked(case).await?),
        };
        let mut entry = LedgerEntryRecord {
            id: new.id,
            case,
            title: new.title,
            summary: new.summary,
            nature: new.nature,
            since: new.since,
            complexity: new.complexity,
            social_impact: new.social_impact,
            grade: new.grade,
            unit: new.unit,
            responsible_person: new.responsible_person,
            leader: new.leader,
            parties: new.parties,
            state: LedgerState::Open,
            close_result: None,
            parties_stance: None,
            steps: Vec::new(),
            version: 1,
            request_hash: new.request_hash,
            created_at: now,
            updated_at: now,
            closed_at: None,
        };
        entry.steps = plan::new_steps(&entry, &new.steps, 1);
        let text = match &entry.case {
            Some(c) => format!("opened from cases/{} as grade {}", c.case, entry.grade),
            None => format!("opened as grade {}", entry.grade),
        };
        let event = NewLedgerEvent {
            kind: gridwhistle_domain::ledger::LedgerEventKind::Opened,
            actor: Some(actor.user_id),
            text,
        };
        let hash = entry.request_hash.clone();
        let deadlines = self.step_deadlines(None, &entry, &[], now)?;
        match self.store.ledger().open(entry, event, deadlines).await {
            Ok(LedgerOpenOutcome::Opened(entry)) => {
                self.loop_service.wake_deadlines();
                Ok(*entry)
            }
            Ok(LedgerOpenOutcome::Existing(entry)) => replayed(*entry, |s| &s.request_hash, &hash),
            Err(StorageError::AlreadyExists { .. }) => {
                Err(LedgerError::field("case", "is in the ledger already"))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The case `case` as an entry links it; a missing case is named by the `case` field.
    async fn linked(&self, case: CaseId) -> Result<LinkedCase, LedgerError> {
        match self.store.reports().get(ReportKey::Case(case)).await {
            Ok(report) => Ok(LinkedCase {
                report: report.id,
                case,
                reporter: report.author,
            }),
            Err(StorageError::NotFound { .. }) => Err(LedgerError::field("case", "no such case")),
            Err(err) => Err(err.into()),
        }
    }

    /// The changes to the steps' deadlines that take `before` (`None`: being opened) to `after`, under the policies in force (`deadlines::changes`).
    fn step_deadlines(
        &self,
        before: Option<&LedgerEntryRecord>,
        after: &LedgerEntryRecord,
        stored: &[crate::model::StepDeadlineRecord],
        now: Timestamp,
    ) -> Result<Vec<crate::model::StepDeadlineChange>, LedgerError> {
        let snapshot = self.time_limits.snapshot();
        let stage_of = |version, grade| {
            self.time_limits
                .ledger_step_policy(version, grade)
                .ok()
                .flatten()
        };
        let policies = deadlines::Policies {
            current: snapshot.policies.version(),
            stage_of: &stage_of,
            calendar: &snapshot.calendar,
        };
        Ok(deadlines::changes(before, after, stored, &policies, now)?)
    }

    /// Reads an entry the caller may read; any other is answered as missing.
    async fn readable(
        &self,
        actor: &Actor,
        id: &LedgerEntryId,
    ) -> Result<LedgerEntryRecord, LedgerError> {
        // Admins never read the ledger, whether or not the entry exists.
        actor
            .authorize(Action::ListLedger)
            .map_err(|e| LedgerError::Access(e, "ledger entry"))?;
        let hidden = || LedgerError::Access(AccessError::Hidden, "ledger entry");
        let entry = self.store.ledger().get(id).await?.ok_or_else(hidden)?;
        let departments = entry.departments();
        actor
            .authorize(Action::ReadLedgerEntry(scope(&entry, &departments)))
            .map_err(|e| LedgerError::Access(e, "ledger entry"))?;
        Ok(entry)
    }

    /// One entry with its timeline.
    #[instrument(skip_all, fields(entry = %id))]
    pub async fn get(
        &self,
        actor: &Actor,
        id: &LedgerEntryId,
    ) -> Result<(LedgerEntryRecord, Vec<LedgerEventRecord>), LedgerError> {
        let entry = self.readable(actor, id).await?;
        let timeline = self.store.ledger().timeline(id).await?;
        Ok((entry, timeline))
    }

    /// Whose entries the caller may list.
    fn reader(actor: &Actor) -> Result<LedgerReader, LedgerError> {
        actor
            .authorize(Action::ListLedger)
            .map_err(|e| LedgerError::Access(e, "ledger entry"))?;
        Ok(match &actor.binding {
            Binding::DutyOfficer(d) | Binding::DepartmentHead(d) => {
                LedgerReader::Department(d.clone())
            }
            Binding::DistrictLeader => LedgerReader::Leader(actor.user_id),
            Binding::GridWorker(_) => LedgerReader::Reporter(actor.user_id),
            Binding::Supervisor | Binding::Admin => LedgerReader::All,
        })
    }

    /// A page of the entries the caller may read that `filter` selects (its reader is set here).
    #[instrument(skip_all)]
    pub async fn list(
        &self,
        actor: &Actor,
        mut filter: LedgerFilter,
        position: Option<&LedgerPosition>,
        limit: u64,
    ) -> Result<Vec<LedgerEntryRecord>, LedgerError> {
        filter.reader = Self::reader(actor)?;
        Ok(self.store.ledger().list(&filter, position, limit).await?)
    }

    /// Open entries by colour over those the caller may read.
    #[instrument(skip_all)]
    pub async fn counts(
        &self,
        actor: &Actor,
        unit: Option<&DepartmentId>,
    ) -> Result<LedgerCounts, LedgerError> {
        let reader = Self::reader(actor)?;
        Ok(self
            .store
            .ledger()
            .counts(&reader, unit, self.clock.now())
            .await?)
    }

    /// May the caller make `change` to `entry`? `Hidden` means the entry is not the caller's to change.
    fn authorize(
        actor: &Actor,
        entry: &LedgerEntryRecord,
        change: &Change,
    ) -> Result<(), AccessError> {
        let step = |number: u32| entry.steps.iter().find(|s| s.number == number);
        match change {
            Change::Revise { .. } | Change::Regrade { .. } | Change::NameLeader { .. } => actor
                .authorize(Action::SteerLedgerEntry {
                    leader: entry.leader.as_ref(),
                }),
            Change::Complete { step: number, .. } => match step(*number) {
                Some(s) => actor.authorize(Action::WorkLedgerStep {
                    department: &s.department,
                }),
                // No such step: whether the caller could work it is moot; the change itself refuses it.
                None => Self::role_gate(actor, change),
            },
            Change::RequestClose { .. } => {
                actor.authorize(Action::RequestCloseOff { unit: &entry.unit })
            }
            Change::DecideClose { .. } | Change::Reopen { .. } | Change::Assign { .. } => {
                actor.authorize(Action::ManageLedger)
            }
        }
    }

    /// Whether the caller's role may ever make `change`, asked of an entry of the caller's own: `Forbidden` whatever the entry, so a role that may never change entries learns nothing of which exist.
    fn role_gate(actor: &Actor, change: &Change) -> Result<(), AccessError> {
        // Steps and closing off are department staff's; only they are bound to a department.
        let own = actor
            .department()
            .ok_or(AccessError::Forbidden { role: actor.role() });
        match change {
            Change::Revise { .. } | Change::Regrade { .. } | Change::NameLeader { .. } => actor
                .authorize(Action::SteerLedgerEntry {
                    leader: Some(&actor.user_id),
                }),
            Change::Complete { .. } => actor.authorize(Action::WorkLedgerStep { department: own? }),
            Change::RequestClose { .. } => actor.authorize(Action::RequestCloseOff { unit: own? }),
            Change::DecideClose { .. } | Change::Reopen { .. } | Change::Assign { .. } => {
                actor.authorize(Action::ManageLedger)
            }
        }
    }

    /// Makes `change` to entry `id` as `actor`; with `etag`, only if the entry is still at that version.
    #[instrument(skip_all, fields(entry = %id))]
    pub async fn change(
        &self,
        actor: &Actor,
        id: &LedgerEntryId,
        etag: Option<i64>,
        change: Change,
    ) -> Result<LedgerEntryRecord, LedgerError> {
        let now = self.clock.now();
        match &change {
            Change::Revise { steps, .. } => self.check_plan(steps, now).await?,
            Change::NameLeader { leader } => self.check_leader("leader", leader).await?,
            _ => {}
        }
        let refused = |e| LedgerError::Access(e, "ledger entry");
        Self::role_gate(actor, &change).map_err(refused)?;
        let format = self.format();
        for _ in 0..RETRIES {
            let mut entry = self.readable(actor, id).await?;
            // The caller reads the entry: a change that is not theirs to make is refused openly.
            Self::authorize(actor, &entry, &change)
                .map_err(|_| refused(AccessError::Forbidden { role: actor.role() }))?;
            let version = entry.version;
            if etag.is_some_and(|e| e != version) {
                return Err(LedgerError::Stale);
            }
            let before = entry.clone();
            let events = plan::apply(&mut entry, change.clone(), &actor.user_id, now, &format)?;
            // A new grade resumes the running deadlines from where they stand.
            let stored = if before.grade == entry.grade {
                Vec::new()
            } else {
                self.store.ledger().step_deadlines(id).await?
            };
            let deadlines = self.step_deadlines(Some(&before), &entry, &stored, now)?;
            let wake = !deadlines.is_empty();
            match self
                .store
                .ledger()
                .update(entry, version, events, deadlines)
                .await
            {
                Ok(entry) => {
                    if wake {
                        self.loop_service.wake_deadlines();
                    }
                    return Ok(entry);
                }
                Err(UpdateError::Stale) if etag.is_none() => continue,
                Err(UpdateError::Stale) => return Err(LedgerError::Stale),
                Err(UpdateError::NotFound) => {
                    return Err(LedgerError::Access(AccessError::Hidden, "ledger entry"));
                }
                Err(UpdateError::Storage(err)) => return Err(err.into()),
                Err(UpdateError::Refused(never)) => match never {},
            }
        }
        Err(LedgerError::Stale)
    }
}
