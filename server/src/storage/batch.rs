//! Appending to many cases in one transaction: the deadline engine's firings, where a burst due at one instant must not cost a commit, a report read and a handful of statements per firing.
//!
//! The reports are read in one query (locked in id order on PostgreSQL, so batches of several engines cannot deadlock and no concurrent change slips between reading and writing), and the writes are a few multi-row statements whatever the batch's size.

use std::collections::HashMap;

use gridwhistle_dispatcher::deadlines::DeadlineChange;
use gridwhistle_domain::{CategoryId, ReportId, RiskGrade, Timestamp, UserId, WhistleKind};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, Value,
};
use tracing::instrument;

use super::cases::{
    DeadlineRecord, Effects, ROWS_PER_STATEMENT, ReportHead, ReportRecord, UpdateError,
    apply_deadlines, deadline_from_model, event_model, insert_chunked, notification_models, parse,
    with_assignments,
};
use super::codec::{corrupt, int};
use super::entity::{deadline, notification, report};
use super::sql::Sql;
use super::{Backend, StorageError, Store};

/// A multi-row statement `{head} (VALUES (…), …) AS v {tail}` with `rows` bound in order, each row `width` values wide.
fn values_statement(
    backend: Backend,
    head: &str,
    tail: &str,
    width: usize,
    rows: Vec<Vec<Value>>,
) -> Statement {
    let mut sql = Sql::with_capacity(
        backend,
        head.len() + tail.len() + rows.len() * width * 5,
        rows.len() * width,
    );
    sql.push(head).push(" (VALUES ");
    for (r, row) in rows.into_iter().enumerate() {
        debug_assert_eq!(row.len(), width);
        if r > 0 {
            sql.push(", ");
        }
        sql.list(row);
    }
    sql.push(") AS v ").push(tail);
    sql.build()
}

/// Runs `rows` through `values_statement` in chunks; answers how many rows were changed in all.
async fn execute_values(
    txn: &DatabaseTransaction,
    backend: Backend,
    head: &str,
    tail: &str,
    width: usize,
    rows: Vec<Vec<Value>>,
) -> Result<u64, StorageError> {
    let mut changed = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        let statement = values_statement(backend, head, tail, width, chunk);
        changed += txn.execute_raw(statement).await?.rows_affected();
    }
    Ok(changed)
}

/// A report as the deadline engine reads it to fire some of its deadlines: what picks its policy, and those deadlines as they stand.
#[derive(Debug, Clone, PartialEq)]
pub struct FiringTarget {
    pub head: ReportHead,
    pub category: CategoryId,
    pub risk_grade: Option<RiskGrade>,
    /// The case's whistle kind; `None` for a report never whistled.
    pub kind: Option<WhistleKind>,
    /// Those of the deadlines asked for that belong to this report.
    pub deadlines: Vec<DeadlineRecord>,
}

impl Store {
    /// Appends the deadline engine's firings to their reports in one transaction: what `decide` makes of them (timeline events, deadline changes and outbox rows), each report's version moved on by its events.
    ///
    /// `decide` sees only what firing needs, as it stands inside the transaction: each report's policy key and version, and the named deadlines, read in two light statements instead of whole reports with their parties, routing and assignments. It answers the effects for each report it changes (several entries for one report are applied in order) with a value passed back to the caller.
    /// Effects carrying an extension are refused as corrupt.
    /// Should a report or deadline not be where `decide` saw it, the whole batch is rolled back as [`UpdateError::Stale`].
    #[instrument(skip_all, fields(deadlines = deadlines.len()))]
    pub async fn append_firings<T, E, F>(
        &self,
        deadlines: Vec<(ReportId, i64)>,
        now: Timestamp,
        decide: F,
    ) -> Result<T, UpdateError<E>>
    where
        F: FnOnce(&[FiringTarget]) -> Result<(Vec<(ReportId, Effects)>, T), E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let backend = self.backend;
        self.write(move |txn| {
            Box::pin(async move {
                let targets = lock_firing_targets(txn, backend, &deadlines).await?;
                let (changes, answer) = decide(&targets).map_err(UpdateError::Refused)?;
                let heads: Vec<ReportHead> = targets.into_iter().map(|t| t.head).collect();
                write_effects(txn, backend, &heads, changes, now).await?;
                Ok(answer)
            })
        })
        .await
    }
}

/// Reads the reports of `deadlines` (locked in id order on PostgreSQL, as [`lock_reports`] does) and the deadlines themselves.
async fn lock_firing_targets(
    txn: &DatabaseTransaction,
    backend: Backend,
    deadlines: &[(ReportId, i64)],
) -> Result<Vec<FiringTarget>, StorageError> {
    let mut reports: Vec<String> = deadlines.iter().map(|(r, _)| r.to_string()).collect();
    reports.sort_unstable();
    reports.dedup();
    // PostgreSQL takes one array parameter whatever the count; SQLite's bound values are limited.
    let chunk = match backend {
        Backend::Sqlite => ROWS_PER_STATEMENT,
        Backend::Postgres => usize::MAX,
    };
    let mut targets = Vec::with_capacity(reports.len());
    for ids in reports.chunks(chunk) {
        let mut sql = Sql::new(backend);
        sql.push(
            "SELECT id, author_id, version, category_id, risk_grade, whistle_kind, policy_version \
             FROM reports WHERE id",
        )
        .any(ids.iter().cloned())
        .push(" ORDER BY id");
        if backend == Backend::Postgres {
            sql.push(" FOR UPDATE");
        }
        for row in txn.query_all_raw(sql.build()).await? {
            let (id, author, version, category, grade, kind, policy_version): (
                String,
                String,
                i64,
                String,
                Option<String>,
                Option<String>,
                Option<i64>,
            ) = row.try_get_many_by_index()?;
            targets.push(FiringTarget {
                head: ReportHead {
                    id: ReportId::parse(&id).map_err(|e| corrupt("report", e))?,
                    author: UserId::parse(&author).map_err(|e| corrupt("report", e))?,
                    version,
                    policy_version,
                },
                category: CategoryId::parse(&category).map_err(|e| corrupt("report", e))?,
                risk_grade: grade.map(|g| parse("report", &g)).transpose()?,
                kind: kind.map(|k| parse("report", &k)).transpose()?,
                deadlines: Vec::new(),
            });
        }
    }
    let at: HashMap<ReportId, usize> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.head.id, i))
        .collect();
    for ids in deadlines.chunks(chunk) {
        let mut sql = Sql::new(backend);
        sql.push("SELECT * FROM deadlines WHERE id")
            .any_i64(ids.iter().map(|(_, d)| *d));
        for model in deadline::Entity::find()
            .from_raw_sql(sql.build())
            .all(txn)
            .await?
        {
            let report = ReportId::parse(&model.report_id).map_err(|e| corrupt("deadline", e))?;
            // A deadline whose report was not asked for with it is left out, as if missing.
            if let Some(&i) = at.get(&report) {
                targets[i].deadlines.push(deadline_from_model(model)?);
            }
        }
    }
    Ok(targets)
}

/// Reads `reports` with their assignments and deadlines, by id; on PostgreSQL their rows are locked in id order, so that no concurrent change slips between reading and writing and two batches cannot deadlock.
pub(super) async fn lock_reports(
    txn: &DatabaseTransaction,
    backend: Backend,
    reports: &[ReportId],
) -> Result<Vec<ReportRecord>, StorageError> {
    let mut ids: Vec<String> = reports.iter().map(ToString::to_string).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut records = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let mut query = report::Entity::find()
            .filter(report::Column::Id.is_in(chunk.iter().cloned()))
            .order_by_asc(report::Column::Id);
        if backend == Backend::Postgres {
            query = query.lock_exclusive();
        }
        let models = query.all(txn).await?;
        records.extend(with_assignments(txn, models).await?);
    }
    Ok(records)
}

/// Hands the locked `records` to `decide` and writes what it makes of them; returns how many reports it changed.
pub(super) async fn decide_and_write<E, F>(
    txn: &DatabaseTransaction,
    backend: Backend,
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
    write_effects(txn, backend, &heads, changes, now).await?;
    Ok(changed)
}

/// Writes the effects a batch decided on, in a few multi-row statements; each report's version moves on by its events.
pub(super) async fn write_effects<E>(
    txn: &DatabaseTransaction,
    backend: Backend,
    heads: &[ReportHead],
    changes: Vec<(ReportId, Effects)>,
    now: Timestamp,
) -> Result<(), UpdateError<E>> {
    let by_id: HashMap<ReportId, &ReportHead> = heads.iter().map(|r| (r.id, r)).collect();
    // Each report's next event sequence, from its version: its events so far.
    let mut next_sequence: HashMap<ReportId, i64> = HashMap::new();
    let mut events = Vec::new();
    let mut notifications: Vec<notification::ActiveModel> = Vec::new();
    let mut advances = Vec::new();
    for (id, effects) in changes {
        let record =
            by_id
                .get(&id)
                .copied()
                .ok_or(UpdateError::Storage(StorageError::NotFound {
                    entity: "report",
                }))?;
        if effects.extension.is_some() || effects.decided_extension.is_some() {
            return Err(UpdateError::Storage(corrupt(
                "report",
                "a batched change carried an extension",
            )));
        }
        let sequence = next_sequence.entry(id).or_insert(record.version + 1);
        let first = *sequence;
        for event in &effects.events {
            events.push(event_model(
                &record.id,
                &record.author,
                *sequence,
                event,
                now,
            ));
            *sequence += 1;
        }
        notifications.extend(notification_models(
            &id,
            first,
            &effects.notifications,
            now,
        )?);
        let (advance, other): (Vec<_>, Vec<_>) = effects
            .deadlines
            .into_iter()
            .partition(|d| matches!(d, DeadlineChange::Advance { .. }));
        advances.extend(advance.into_iter().map(|d| (id, d)));
        if !other.is_empty() {
            apply_deadlines(txn, &id, record.policy_version, &other, now).await?;
        }
    }

    let versions: Vec<Vec<Value>> = next_sequence
        .iter()
        .filter_map(|(id, next)| {
            let record = by_id.get(id)?;
            (*next > record.version + 1).then(|| {
                vec![
                    id.to_string().into(),
                    (*next - 1).into(),
                    record.version.into(),
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
    if updated != expected {
        return Err(UpdateError::Stale);
    }

    let expected = advances.len() as u64;
    let mut rows: Vec<Vec<Value>> = Vec::with_capacity(advances.len());
    for (id, change) in advances {
        if let DeadlineChange::Advance {
            deadline,
            fired_step,
            next_fire_at,
            escalation_level,
            ..
        } = change
        {
            rows.push(vec![
                deadline.into(),
                id.to_string().into(),
                int("next_step", fired_step)?.into(),
                int("next_step", fired_step.saturating_add(1))?.into(),
                next_fire_at.map(|t| t.as_unix_millis()).into(),
                int("escalation_level", escalation_level)?.into(),
            ]);
        }
    }
    let advanced = execute_values(
        txn,
        backend,
        "UPDATE deadlines SET next_step = v.column4, next_fire_at_ms = v.column5, \
         escalation_level = v.column6, claimed_by = NULL, claimed_until_ms = NULL FROM",
        "WHERE deadlines.id = v.column1 AND deadlines.report_id = v.column2 \
         AND deadlines.state = 'pending' AND deadlines.next_step = v.column3",
        6,
        rows,
    )
    .await?;
    if advanced != expected {
        return Err(UpdateError::Stale);
    }

    insert_chunked(txn, events).await?;
    insert_chunked(txn, notifications).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_values_statement_numbers_postgres_placeholders_in_row_order() {
        let statement = values_statement(
            Backend::Postgres,
            "UPDATE t SET a = v.column2 FROM",
            "WHERE t.id = v.column1",
            2,
            vec![vec![1.into(), 2.into()], vec![3.into(), 4.into()]],
        );
        assert_eq!(
            statement.sql,
            "UPDATE t SET a = v.column2 FROM (VALUES ($1, $2), ($3, $4)) AS v WHERE t.id = v.column1"
        );
        assert_eq!(statement.values.map(|v| v.0.len()), Some(4));
    }

    #[test]
    fn a_values_statement_uses_question_marks_on_sqlite() {
        let statement = values_statement(
            Backend::Sqlite,
            "UPDATE t SET a = v.column2 FROM",
            "WHERE t.id = v.column1",
            2,
            vec![vec![1.into(), 2.into()]],
        );
        assert_eq!(
            statement.sql,
            "UPDATE t SET a = v.column2 FROM (VALUES (?, ?)) AS v WHERE t.id = v.column1"
        );
    }
}
