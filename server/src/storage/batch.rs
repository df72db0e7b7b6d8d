//! Appending to many cases in one transaction: the deadline engine's firings, a supervision letter's cases, a calendar recount, where a burst must not cost a commit, a report read and a handful of statements per case.
//!
//! The writes are a few multi-row statements whatever the batch's size; the caller reads the reports first (locked in id order on PostgreSQL, so batches of several writers cannot deadlock and no concurrent change slips between reading and writing).

use std::collections::HashMap;

use gridwhistle_domain::{ReportId, Timestamp};
use sea_orm::{DatabaseTransaction, Value};

use super::codec::corrupt;
use super::entity::{case_event, notification};
use super::multirow::{execute_values, insert_chunked};
use super::outbox::{Subject, notification_models};
use super::rollups::Rollups;
use super::schedule::{Advance, advance_deadlines, apply_deadlines};
use super::timeline::event_model;
use super::{Backend, StorageError, UpdateError};
use crate::model::{Effects, ReportHead, ReportRecord};

/// Hands the locked `records` to `decide` and writes what it makes of them; returns how many reports it changed.
pub(super) async fn decide_and_write<E, F>(
    txn: &DatabaseTransaction,
    rollups: Rollups,
    records: &[ReportRecord],
    decide: F,
    now: Timestamp,
) -> Result<usize, UpdateError<E>>
where
    F: FnOnce(&[ReportRecord]) -> Result<Vec<(ReportId, Effects)>, E>,
{
    let changes = decide(records).map_err(UpdateError::Refused)?;
    let changed = changes.len();
    let heads: Vec<ReportHead> = records.iter().map(ReportRecord::head).collect();
    write_effects(txn, rollups, &heads, changes, now).await?;
    Ok(changed)
}

/// The rows a batch gathers before writing them together.
#[derive(Default)]
struct Gathered {
    /// Each report's next event sequence, from its version: its events so far.
    next_sequence: HashMap<ReportId, i64>,
    events: Vec<case_event::ActiveModel>,
    notifications: Vec<notification::ActiveModel>,
    advances: Vec<Advance>,
}

impl Gathered {
    /// Takes one report's effects: its events, outbox rows and advances are gathered; its other deadline changes are answered, to be written at once.
    fn take(
        &mut self,
        head: &ReportHead,
        effects: Effects,
        now: Timestamp,
    ) -> Result<Vec<gridwhistle_dispatcher::deadlines::DeadlineChange>, StorageError> {
        if effects.extension.is_some() || effects.decided_extension.is_some() {
            return Err(corrupt("report", "a batched change carried an extension"));
        }
        let sequence = self
            .next_sequence
            .entry(head.id)
            .or_insert(head.version + 1);
        let first = *sequence;
        for event in &effects.events {
            self.events
                .push(event_model(&head.id, &head.author, *sequence, event, now));
            *sequence += 1;
        }
        self.notifications.extend(notification_models(
            Subject::Report(&head.id),
            first,
            &effects.notifications,
            now,
        )?);
        let report = head.id.to_string();
        let mut other = Vec::new();
        for change in effects.deadlines {
            match Advance::of(&report, &change) {
                Some(advance) => self.advances.push(advance),
                None => other.push(change),
            }
        }
        Ok(other)
    }
}

/// Writes the effects a batch decided on, in a few multi-row statements; each report's version moves on by its events.
///
/// Should a report's version or an advanced deadline not be where the batch read it, the whole batch fails as [`UpdateError::Stale`].
pub(super) async fn write_effects<E>(
    txn: &DatabaseTransaction,
    rollups: Rollups,
    heads: &[ReportHead],
    changes: Vec<(ReportId, Effects)>,
    now: Timestamp,
) -> Result<(), UpdateError<E>> {
    let by_id: HashMap<ReportId, &ReportHead> = heads.iter().map(|r| (r.id, r)).collect();
    // The figures' rollups: the changed reports' shares leave them here and return once every write is done. A batch moves due times and escalations, never a working time (the loop's own steps set those).
    let changed: Vec<String> = changes.iter().map(|(id, _)| id.to_string()).collect();
    rollups.withdraw(txn, &changed, false).await?;
    let backend = rollups.backend;
    let mut gathered = Gathered::default();
    for (id, effects) in changes {
        let head = by_id
            .get(&id)
            .copied()
            .ok_or(StorageError::NotFound { entity: "report" })?;
        let other = gathered.take(head, effects, now)?;
        if !other.is_empty() {
            apply_deadlines(txn, backend, &id, head.policy_version, &other, now).await?;
        }
    }
    if !bump_versions(txn, backend, &by_id, &gathered.next_sequence, now).await? {
        return Err(UpdateError::Stale);
    }
    let expected = gathered.advances.len() as u64;
    if advance_deadlines(txn, backend, gathered.advances).await? != expected {
        return Err(UpdateError::Stale);
    }
    insert_chunked(txn, gathered.events).await?;
    insert_chunked(txn, gathered.notifications).await?;
    rollups.contribute(txn, &changed, false).await?;
    Ok(())
}

/// Moves each report's version to its last event, only where it still stands where the batch read it; answers whether every one moved.
async fn bump_versions(
    txn: &DatabaseTransaction,
    backend: Backend,
    heads: &HashMap<ReportId, &ReportHead>,
    next_sequence: &HashMap<ReportId, i64>,
    now: Timestamp,
) -> Result<bool, StorageError> {
    let versions: Vec<Vec<Value>> = next_sequence
        .iter()
        .filter_map(|(id, next)| {
            let head = heads.get(id)?;
            (*next > head.version + 1).then(|| {
                vec![
                    id.to_string().into(),
                    (*next - 1).into(),
                    head.version.into(),
                ]
            })
        })
        .collect();
    let expected = versions.len() as u64;
    let updated = execute_values(
        txn,
        backend,
        &format!(
            "UPDATE reports SET version = v.column2, updated_at_ms = {} FROM",
            now.as_unix_millis()
        ),
        "WHERE reports.id = v.column1 AND reports.version = v.column3",
        3,
        versions,
    )
    .await?;
    Ok(updated == expected)
}
