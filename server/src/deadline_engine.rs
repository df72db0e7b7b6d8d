//! The deadline engine's storage side: due rows, and a batch of firings as one transaction appending to their cases: each firing's timeline event, its deadline's next step and its outbox row.
//!
//! The check inside the transaction (still pending, at the same step and time, against the case read there) is what makes a firing take effect once: a satisfied deadline, or one another engine fired first, is left alone.

use std::collections::HashMap;
use std::sync::Arc;

use gridwhistle_dispatcher::calendar::CalendarError;
use gridwhistle_dispatcher::deadlines::DeadlineChange;
use gridwhistle_dispatcher::engine::{self, DeadlineStore, Due, Fired};
use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::policy::{Audience, FiringKind, file::audience_as_str};
use gridwhistle_domain::ledger::LedgerEventKind;
use gridwhistle_domain::{DeadlineSubject, EventKind, LedgerEntryId, ReportId, Timestamp, UserId};

use crate::model::{DeadlineState, Effects, NewEvent, NewLedgerEvent, NewNotification};
use crate::storage::{
    FiringTarget, Lease, StepFiring, StepFiringTarget, StorageError, Store, UpdateError,
};
use crate::time_limits::{PolicyNotLoaded, TimeLimits};

/// Why a firing was not applied.
#[derive(Debug, thiserror::Error)]
pub enum FireError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error(transparent)]
    PolicyNotLoaded(#[from] PolicyNotLoaded),
}

/// How long an engine's claim on due rows lasts past the window it loaded them for; a replica that dies loses its claims this long after.
pub const CLAIM_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// [`DeadlineStore`] over the database.
#[derive(Debug, Clone)]
pub struct EngineStore {
    store: Store,
    time_limits: Arc<TimeLimits>,
    /// Names this engine's claims on PostgreSQL.
    owner: String,
}

impl EngineStore {
    /// `owner` names this replica's claims; a replica that restarts under the same name resumes its claims at once.
    pub fn new(store: Store, time_limits: Arc<TimeLimits>, owner: String) -> Self {
        Self {
            store,
            time_limits,
            owner,
        }
    }
}

/// This replica's id, kept in `path` (created on first use), so that it survives restarts.
pub fn replica_id(path: &std::path::Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) => write_replica_id(path),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => write_replica_id(path),
        Err(err) => Err(err),
    }
}

fn write_replica_id(path: &std::path::Path) -> std::io::Result<String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(path, &id)?;
    Ok(id)
}

impl DeadlineStore for EngineStore {
    type Error = FireError;

    async fn due_until(
        &self,
        now: Timestamp,
        until: Timestamp,
        after: Option<(Timestamp, i64)>,
        limit: usize,
    ) -> Result<Vec<Due>, FireError> {
        Ok(self
            .store
            .deadlines()
            .claim_due(
                Lease {
                    owner: &self.owner,
                    until: until.saturating_add(CLAIM_LEASE),
                },
                now,
                until,
                after,
                limit as u64,
            )
            .await?)
    }

    async fn fire(&self, batch: &[Due], now: Timestamp) -> Result<Vec<Fired>, FireError> {
        let (cases, steps): (Vec<usize>, Vec<usize>) =
            (0..batch.len()).partition(|&i| matches!(batch[i].subject, DeadlineSubject::Case(_)));
        let mut outcomes = vec![Fired::Stale; batch.len()];
        // A batch's cases and its entries' steps are two transactions: each firing is still one with its event, its deadline's step and its outbox rows.
        if !cases.is_empty() {
            let part = cases.iter().map(|&i| batch[i].clone()).collect();
            for (i, fired) in cases.iter().zip(self.fire_cases(part, now).await?) {
                outcomes[*i] = fired;
            }
        }
        if !steps.is_empty() {
            let part = steps.iter().map(|&i| batch[i].clone()).collect();
            for (i, fired) in steps.iter().zip(self.fire_steps(part, now).await?) {
                outcomes[*i] = fired;
            }
        }
        Ok(outcomes)
    }
}

/// The case a deadline is about; `None` for a ledger step's.
fn report_of(due: &Due) -> Option<ReportId> {
    match due.subject {
        DeadlineSubject::Case(report) => Some(report),
        DeadlineSubject::LedgerStep { .. } => None,
    }
}

/// The ledger entry and step a deadline is about; `None` for a case's.
fn step_of(due: &Due) -> Option<(LedgerEntryId, u32)> {
    match due.subject {
        DeadlineSubject::LedgerStep { entry, step } => Some((entry, step)),
        DeadlineSubject::Case(_) => None,
    }
}

/// What a whole batch answers when something moved under it: the next pass sees where each deadline stands now.
fn settled<E>(
    outcome: Result<Vec<Fired>, UpdateError<E>>,
    len: usize,
) -> Result<Vec<Fired>, FireError>
where
    FireError: From<E>,
{
    match outcome {
        Ok(outcomes) => Ok(outcomes),
        Err(UpdateError::Refused(err)) => Err(err.into()),
        Err(UpdateError::Storage(err)) => Err(err.into()),
        Err(UpdateError::Stale | UpdateError::NotFound) => Ok(vec![Fired::Stale; len]),
    }
}

/// Counts a decision's outcome: the firing to write, or a stale one; a deadline the policy or calendar cannot place must not hold up the rest, and is tried again at the next reload.
fn outcome_of<T>(
    due: &Due,
    decided: Option<Result<Option<(T, Fired)>, FireError>>,
    writes: &mut Vec<T>,
) -> Fired {
    match decided {
        Some(Ok(Some((write, fired)))) => {
            writes.push(write);
            fired
        }
        Some(Ok(None)) | None => Fired::Stale,
        Some(Err(err)) => {
            tracing::warn!(deadline = due.id, error = %err, "deadline firing skipped; retried at the next reload");
            Fired::Stale
        }
    }
}

impl EngineStore {
    /// Fires deadlines of cases: one transaction appending to their timelines.
    async fn fire_cases(&self, seen: Vec<Due>, now: Timestamp) -> Result<Vec<Fired>, FireError> {
        let time_limits = self.time_limits.clone();
        let len = seen.len();
        let deadlines = seen
            .iter()
            .filter_map(|d| Some((report_of(d)?, d.id)))
            .collect();
        let outcome = self
            .store
            .deadlines()
            .append_firings(deadlines, now, move |targets| {
                let by_id: HashMap<_, _> = targets.iter().map(|t| (t.head.id, t)).collect();
                let mut changes = Vec::new();
                let outcomes = seen
                    .iter()
                    .map(|due| {
                        let target = report_of(due).and_then(|r| by_id.get(&r).copied());
                        let decided = target.map(|t| {
                            decide(t, due, &time_limits)
                                .map(|d| d.map(|(effects, fired)| ((t.head.id, effects), fired)))
                        });
                        outcome_of(due, decided, &mut changes)
                    })
                    .collect();
                Ok::<_, FireError>((changes, outcomes))
            })
            .await;
        settled(outcome, len)
    }

    /// Fires deadlines of ledger steps: one transaction appending to their entries' timelines.
    async fn fire_steps(&self, seen: Vec<Due>, now: Timestamp) -> Result<Vec<Fired>, FireError> {
        let time_limits = self.time_limits.clone();
        let len = seen.len();
        let deadlines = seen
            .iter()
            .filter_map(|d| Some((step_of(d)?.0, d.id)))
            .collect();
        let outcome = self
            .store
            .ledger()
            .append_firings(deadlines, now, move |targets| {
                let by_id: HashMap<_, _> = targets.iter().map(|t| (t.entry, t)).collect();
                let mut firings = Vec::new();
                let outcomes = seen
                    .iter()
                    .map(|due| {
                        let target = step_of(due).and_then(|(entry, _)| by_id.get(&entry).copied());
                        let decided = target.map(|t| {
                            decide_step(t, due, &time_limits)
                                .map(|d| d.map(|(firing, fired)| ((t.entry, firing), fired)))
                        });
                        outcome_of(due, decided, &mut firings)
                    })
                    .collect();
                Ok::<_, FireError>((firings, outcomes))
            })
            .await;
        settled(outcome, len)
    }
}

/// What firing `seen` does to `target`: the effects and the firing's outcome, or `None` when the deadline no longer stands where the engine saw it.
fn decide(
    target: &FiringTarget,
    seen: &Due,
    time_limits: &TimeLimits,
) -> Result<Option<(Effects, Fired)>, FireError> {
    let standing = target.deadlines.iter().find(|d| {
        d.id == seen.id
            && d.department == seen.department
            && d.stage == seen.stage
            && d.state == DeadlineState::Pending
            && d.next_step == seen.next_step
            && d.next_fire_at == Some(seen.fire_at)
    });
    let (Some(kind), Some(standing)) = (target.kind, standing) else {
        return Ok(None);
    };
    let level = standing.escalation_level;
    let policy = time_limits.case_policy(
        seen.policy_version,
        &target.category,
        target.risk_grade,
        kind,
    )?;
    let snapshot = time_limits.snapshot();
    let stage = policy.as_ref().and_then(|p| p.stage(seen.stage));
    let Some(plan) = engine::plan(seen, stage, &snapshot.calendar)? else {
        // The policy has no such step: nothing more fires for this deadline.
        let effects = Effects {
            deadlines: vec![advance(seen, None, level)],
            ..Effects::default()
        };
        return Ok(Some((effects, Fired::Stale)));
    };
    let (audience, recipient) = heard_by(plan.firing.audience, target.leader);
    let due_at = snapshot.calendar.zone().format(seen.due_at);
    let (kind, notification) = firing_kinds(plan.firing.kind);
    let text = firing_text(&seen.stage.to_string(), plan.firing.kind, &due_at, audience);
    let effects = Effects {
        events: vec![NewEvent {
            kind,
            actor: None,
            department: Some(seen.department.clone()),
            text,
            attachments: Vec::new(),
        }],
        deadlines: vec![advance(seen, plan.next_fire_at, plan.escalation_level)],
        notifications: vec![NewNotification {
            // The department the deadline is about, whoever hears of it: the sender checks its stage before pushing.
            department: Some(seen.department.clone()),
            audience,
            kind: notification,
            recipient,
            stage: Some(seen.stage),
            escalation_level: plan.escalation_level,
            due_at: Some(seen.due_at),
        }],
        ..Effects::default()
    };
    Ok(Some((
        effects,
        Fired::Fired {
            next: plan.next_fire_at,
        },
    )))
}

/// Who hears of a firing for `audience`: the leader's rung reaches the named leader (of the entry, or of the case's entry), or lands with the supervisors when none is named.
fn heard_by(audience: Audience, leader: Option<UserId>) -> (&'static str, Option<UserId>) {
    match audience {
        Audience::DistrictLeader => (audience_as_str(audience), leader),
        other => (audience_as_str(other), None),
    }
}

/// The timeline event's kind and the notice's kind of a firing of `kind`.
fn firing_kinds(kind: FiringKind) -> (EventKind, NoticeKind) {
    match kind {
        FiringKind::Reminder { .. } => (EventKind::Reminder, NoticeKind::Reminder),
        FiringKind::Escalation { .. } => (EventKind::Escalated, NoticeKind::Escalation),
    }
}

/// The timeline's words for a firing of `kind` on `what` (a stage, a ledger step), due at `due_at` (formatted), heard by `audience`.
fn firing_text(what: &str, kind: FiringKind, due_at: &str, audience: &str) -> String {
    match kind {
        FiringKind::Reminder { fraction } => format!(
            "{what} due {due_at}: {:.0}% of the time limit has passed",
            fraction * 100.0
        ),
        FiringKind::Escalation { step, repeat } => format!(
            "{what} was due {due_at}: escalated to {audience} (ladder step {}{})",
            step + 1,
            if repeat > 0 {
                format!(", repeat {repeat}")
            } else {
                String::new()
            }
        ),
    }
}

/// What firing `seen`, a ledger step's deadline, does to `target`: the firing to write, or `None` when the deadline no longer stands where the engine saw it.
fn decide_step(
    target: &StepFiringTarget,
    seen: &Due,
    time_limits: &TimeLimits,
) -> Result<Option<(StepFiring, Fired)>, FireError> {
    let Some((_, number)) = step_of(seen) else {
        return Ok(None);
    };
    let standing = target.deadlines.iter().find(|d| {
        d.step == number
            && d.deadline.id == seen.id
            && d.deadline.state == DeadlineState::Pending
            && d.deadline.next_step == seen.next_step
            && d.deadline.next_fire_at == Some(seen.fire_at)
    });
    let Some(standing) = standing else {
        return Ok(None);
    };
    // The entry's grade as it is now picks the ladder: a regrade switched the deadlines still running.
    let stage = time_limits.ledger_step_policy(seen.policy_version, target.grade)?;
    let snapshot = time_limits.snapshot();
    let mut firing = StepFiring {
        step: number,
        deadline: seen.id,
        fired_step: seen.next_step,
        next_fire_at: None,
        escalation_level: standing.deadline.escalation_level,
        event: None,
        notifications: Vec::new(),
    };
    let Some(plan) = engine::plan(seen, stage.as_ref(), &snapshot.calendar)? else {
        // The policy has no such step: nothing more fires for this deadline.
        return Ok(Some((firing, Fired::Stale)));
    };
    let (audience, recipient) = heard_by(plan.firing.audience, target.leader);
    let due_at = snapshot.calendar.zone().format(seen.due_at);
    let (_, notice) = firing_kinds(plan.firing.kind);
    let who = match recipient {
        Some(leader) => format!("{audience} users/{leader}"),
        None => audience.to_owned(),
    };
    firing.next_fire_at = plan.next_fire_at;
    firing.escalation_level = plan.escalation_level;
    firing.event = Some(NewLedgerEvent {
        kind: match plan.firing.kind {
            FiringKind::Reminder { .. } => LedgerEventKind::Reminder,
            FiringKind::Escalation { .. } => LedgerEventKind::Escalated,
        },
        actor: None,
        text: firing_text(&format!("step {number}"), plan.firing.kind, &due_at, &who),
    });
    firing.notifications.push(NewNotification {
        department: Some(seen.department.clone()),
        audience,
        kind: notice,
        recipient,
        stage: Some(seen.stage),
        escalation_level: plan.escalation_level,
        due_at: Some(seen.due_at),
    });
    Ok(Some((
        firing,
        Fired::Fired {
            next: plan.next_fire_at,
        },
    )))
}

fn advance(due: &Due, next_fire_at: Option<Timestamp>, escalation_level: u32) -> DeadlineChange {
    DeadlineChange::Advance {
        deadline: due.id,
        department: due.department.clone(),
        stage: due.stage,
        fired_step: due.next_step,
        next_fire_at,
        escalation_level,
    }
}
