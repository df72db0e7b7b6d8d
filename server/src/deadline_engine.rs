//! The deadline engine's storage side: due rows, and a batch of firings as one transaction appending to their cases: each firing's timeline event, its deadline's next step and its outbox row.
//!
//! The check inside the transaction (still pending, at the same step and time, against the case read there) is what makes a firing take effect once: a satisfied deadline, or one another engine fired first, is left alone.

use std::collections::HashMap;
use std::sync::Arc;

use gridwhistle_dispatcher::calendar::CalendarError;
use gridwhistle_dispatcher::deadlines::DeadlineChange;
use gridwhistle_dispatcher::engine::{self, DeadlineStore, Due, Fired};
use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::policy::{FiringKind, file::audience_as_str};
use gridwhistle_domain::{EventKind, Timestamp};

use crate::model::{DeadlineState, Effects, NewEvent, NewNotification};
use crate::storage::{FiringTarget, Lease, StorageError, Store, UpdateError};
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
        let time_limits = self.time_limits.clone();
        let seen = batch.to_vec();
        let deadlines = seen.iter().map(|d| (d.report, d.id)).collect();
        let outcome = self
            .store
            .deadlines().append_firings(deadlines, now, move |targets| {
                let by_id: HashMap<_, _> = targets.iter().map(|t| (t.head.id, t)).collect();
                let mut changes = Vec::new();
                let mut outcomes = Vec::with_capacity(seen.len());
                for due in &seen {
                    let target = by_id.get(&due.report).copied();
                    match target.map(|t| decide(t, due, &time_limits)) {
                        Some(Ok(Some((effects, fired)))) => {
                            changes.push((due.report, effects));
                            outcomes.push(fired);
                        }
                        Some(Ok(None)) | None => outcomes.push(Fired::Stale),
                        // One deadline the policy or calendar cannot place must not hold up the rest: it is tried again at the next reload.
                        Some(Err(err)) => {
                            tracing::warn!(deadline = due.id, error = %err, "deadline firing skipped; retried at the next reload");
                            outcomes.push(Fired::Stale);
                        }
                    }
                }
                Ok::<_, FireError>((changes, outcomes))
            })
            .await;
        match outcome {
            Ok(outcomes) => Ok(outcomes),
            Err(UpdateError::Refused(err)) => Err(err),
            Err(UpdateError::Storage(err)) => Err(err.into()),
            // Something moved under the batch: the next pass sees where each deadline stands now.
            Err(UpdateError::Stale | UpdateError::NotFound) => Ok(vec![Fired::Stale; batch.len()]),
        }
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
    let Some(plan) = engine::plan(seen, policy.as_ref(), &snapshot.calendar)? else {
        // The policy has no such step: nothing more fires for this deadline.
        let effects = Effects {
            deadlines: vec![advance(seen, None, level)],
            ..Effects::default()
        };
        return Ok(Some((effects, Fired::Stale)));
    };
    let audience = audience_as_str(plan.firing.audience);
    let due_at = snapshot.calendar.zone().format(seen.due_at);
    let (kind, text, notification) = firing_words(seen, plan.firing.kind, &due_at, audience);
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
            recipient: None,
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

/// The timeline event, its text and the notice of a firing of `kind` on `seen`, due at `due_at` (formatted), heard by `audience`.
fn firing_words(
    seen: &Due,
    kind: FiringKind,
    due_at: &str,
    audience: &str,
) -> (EventKind, String, NoticeKind) {
    match kind {
        FiringKind::Reminder { fraction } => (
            EventKind::Reminder,
            format!(
                "{} due {due_at}: {:.0}% of the time limit has passed",
                seen.stage,
                fraction * 100.0
            ),
            NoticeKind::Reminder,
        ),
        FiringKind::Escalation { step, repeat } => (
            EventKind::Escalated,
            format!(
                "{} was due {due_at}: escalated to {audience} (ladder step {}{})",
                seen.stage,
                step + 1,
                if repeat > 0 {
                    format!(", repeat {repeat}")
                } else {
                    String::new()
                }
            ),
            NoticeKind::Escalation,
        ),
    }
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
