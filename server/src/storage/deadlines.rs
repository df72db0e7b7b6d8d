//! Deadline rows as the engine and supervisors read them: due rows claimed for a lease, each batch of firings appended to its cases in one transaction, and overdue listings.
//!
//! The loop's steps write deadlines through `schedule`; this repository reads, claims and fires them.

use std::collections::HashMap;

use gridwhistle_dispatcher::engine::Due;
use gridwhistle_domain::{
    CaseId, CategoryId, DeadlineSubject, DepartmentId, LedgerEntryId, ReportId, RiskGrade,
    Timestamp, UserId, WhistleKind,
};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tracing::instrument;

use super::batch::write_effects;
use super::codec::{bigint, corrupt, ms, parse, ts};
use super::entity::{deadline, report};
use super::lease::{Claim, Lease};
use super::multirow::ROWS_PER_STATEMENT;
use super::schedule::deadline_from_model;
use super::sql::Sql;
use super::sql::after_position;
use super::{Backend, DeadlineRepo, StorageError, UpdateError};
use crate::model::{
    DeadlineRecord, DeadlineState, Effects, OverdueFilter, OverdueRecord, ReportHead,
};

/// The engine's claim of due deadlines (its limit set per read).
const DUE: Claim<'static> = Claim {
    table: "deadlines",
    key: "id",
    order: "next_fire_at_ms, id",
    limit: 0,
    returning: "*",
};

/// A due row as the engine plans its firing.
fn due_from_model(m: deadline::Model) -> Result<Due, StorageError> {
    Ok(Due {
        id: m.id,
        subject: subject_of(&m)?,
        department: DepartmentId::parse(&m.department_id).map_err(|e| corrupt("deadline", e))?,
        stage: parse("deadline", &m.stage)?,
        policy_version: m.policy_version,
        started_at: ts(m.started_at_ms),
        due_at: ts(m.due_at_ms),
        next_step: u32::try_from(m.next_step).map_err(|e| corrupt("deadline", e))?,
        fire_at: ts(m.next_fire_at_ms.unwrap_or(m.due_at_ms)),
    })
}

/// What a stored deadline is about, or the row is corrupt.
pub(super) fn subject_of(m: &deadline::Model) -> Result<DeadlineSubject, StorageError> {
    match (&m.report_id, &m.entry_id, m.step) {
        (Some(report), None, None) => Ok(DeadlineSubject::Case(
            ReportId::parse(report).map_err(|e| corrupt("deadline", e))?,
        )),
        (None, Some(entry), Some(step)) => Ok(DeadlineSubject::LedgerStep {
            entry: LedgerEntryId::parse(entry).map_err(|e| corrupt("deadline", e))?,
            step: u32::try_from(step).map_err(|e| corrupt("deadline", e))?,
        }),
        _ => Err(corrupt("deadline", "neither one case nor one ledger step")),
    }
}

impl DeadlineRepo<'_> {
    /// Pending deadlines due at or before `now`, by due time then id, after the `(due, id)` position `after`.
    pub async fn list_overdue(
        self,
        now: Timestamp,
        filter: &OverdueFilter,
        after: Option<(Timestamp, i64)>,
        limit: u64,
    ) -> Result<Vec<OverdueRecord>, StorageError> {
        // A case's deadlines; a ledger step's are listed with its entry.
        let mut query = deadline::Entity::find()
            .filter(deadline::Column::ReportId.is_not_null())
            .filter(deadline::Column::State.eq(DeadlineState::Pending.as_str()))
            .filter(deadline::Column::DueAtMs.lte(ms(now)));
        if let Some(department) = &filter.department {
            query = query.filter(deadline::Column::DepartmentId.eq(department.as_str()));
        }
        if let Some(stage) = filter.stage {
            query = query.filter(deadline::Column::Stage.eq(stage.as_str()));
        }
        if let Some(grade) = filter.risk_grade {
            let mut graded = Query::select();
            graded
                .column(report::Column::Id)
                .from(report::Entity)
                .and_where(report::Column::RiskGrade.eq(grade.as_str()));
            query = query.filter(deadline::Column::ReportId.in_subquery(graded));
        }
        if let Some((due, id)) = after {
            query = query.filter(after_position(
                Expr::col(deadline::Column::DueAtMs),
                ms(due),
                Expr::col(deadline::Column::Id),
                id,
            ));
        }
        let rows = query
            .order_by_asc(deadline::Column::DueAtMs)
            .order_by_asc(deadline::Column::Id)
            .limit(limit)
            .all(&self.store.db)
            .await?;
        let ids: Vec<String> = rows.iter().filter_map(|d| d.report_id.clone()).collect();
        let reports: HashMap<String, report::Model> = report::Entity::find()
            .filter(report::Column::Id.is_in(ids))
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        rows.into_iter()
            .filter_map(|d| {
                let r = reports.get(d.report_id.as_deref()?)?;
                Some((d, r.case_id.clone()?, r.risk_grade.clone()))
            })
            .map(|(d, case, grade)| {
                Ok(OverdueRecord {
                    deadline: d.id,
                    case: CaseId::parse(&case).map_err(|e| corrupt("report", e))?,
                    department: DepartmentId::parse(&d.department_id)
                        .map_err(|e| corrupt("deadline", e))?,
                    stage: parse("deadline", &d.stage)?,
                    due_at: ts(d.due_at_ms),
                    risk_grade: grade
                        .map(|g| parse::<RiskGrade>("report", &g))
                        .transpose()?,
                    escalation_level: u32::try_from(d.escalation_level)
                        .map_err(|e| corrupt("deadline", e))?,
                    provisional: d.provisional,
                })
            })
            .collect()
    }

    /// Pending deadlines whose next firing is at or before `until` (and after `after`, a (firing time, id) where an earlier read stopped), earliest first, at most `limit`.
    ///
    /// On PostgreSQL the rows are claimed for the lease (see [`Lease`]), so engines on other replicas skip them; a claim that ran out (its engine died) is taken over.
    /// On SQLite one process runs the engine and rows are read plainly.
    pub async fn claim_due(
        self,
        lease: Lease<'_>,
        now: Timestamp,
        until: Timestamp,
        after: Option<(Timestamp, i64)>,
        limit: u64,
    ) -> Result<Vec<Due>, StorageError> {
        let backend = self.store.backend;
        let limit = bigint("limit", limit)?;
        let due = |sql: &mut Sql| {
            sql.push("state = 'pending' AND next_fire_at_ms <= ")
                .bind(ms(until));
            if let Some((at, id)) = after {
                sql.push(" AND (next_fire_at_ms, id) > (")
                    .bind(ms(at))
                    .push(", ")
                    .bind(id)
                    .push(")");
            }
        };
        let statement = match backend {
            Backend::Sqlite => {
                let mut sql = Sql::new(backend);
                sql.push("SELECT * FROM deadlines WHERE ");
                due(&mut sql);
                sql.push(" ORDER BY next_fire_at_ms, id LIMIT ").bind(limit);
                sql.build()
            }
            Backend::Postgres => Claim { limit, ..DUE }.statement(backend, lease, |sql| {
                due(sql);
                sql.push(" AND (claimed_until_ms IS NULL OR claimed_until_ms < ")
                    .bind(ms(now))
                    .push(" OR claimed_by = ")
                    .bind(lease.owner.to_owned())
                    .push(")");
            }),
        };
        let mut models = deadline::Entity::find()
            .from_raw_sql(statement)
            .all(&self.store.db)
            .await?;
        // RETURNING follows no order.
        models.sort_by_key(|m| (m.next_fire_at_ms, m.id));
        models.into_iter().map(due_from_model).collect()
    }
}

/// A report as the deadline engine reads it to fire some of its deadlines: what picks its policy, and those deadlines as they stand.
#[derive(Debug, Clone, PartialEq)]
pub struct FiringTarget {
    pub head: ReportHead,
    pub category: CategoryId,
    pub risk_grade: Option<RiskGrade>,
    /// The case's whistle kind; `None` for a report never whistled.
    pub kind: Option<WhistleKind>,
    /// The district leader named on the case's ledger entry, whom a ladder's leader rung reaches; `None` when the case is not in the ledger or has no leader (the supervisors hear of it).
    pub leader: Option<UserId>,
    /// Those of the deadlines asked for that belong to this report.
    pub deadlines: Vec<DeadlineRecord>,
}

impl DeadlineRepo<'_> {
    /// Appends the deadline engine's firings to their reports in one transaction: what `decide` makes of them (timeline events, deadline changes and outbox rows), each report's version moved on by its events.
    ///
    /// `decide` sees only what firing needs, as it stands inside the transaction: each report's policy key and version, and the named deadlines, read in two light statements instead of whole reports with their parties, routing and assignments. It answers the effects for each report it changes (several entries for one report are applied in order) with a value passed back to the caller.
    /// Effects carrying an extension are refused as corrupt.
    /// Should a report or deadline not be where `decide` saw it, the whole batch is rolled back as [`UpdateError::Stale`].
    #[instrument(skip_all, fields(deadlines = deadlines.len()))]
    pub async fn append_firings<T, E, F>(
        self,
        deadlines: Vec<(ReportId, i64)>,
        now: Timestamp,
        decide: F,
    ) -> Result<T, UpdateError<E>>
    where
        F: FnOnce(&[FiringTarget]) -> Result<(Vec<(ReportId, Effects)>, T), E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let backend = self.store.backend;
        let rollups = self.store.rollups();
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let targets = lock_firing_targets(txn, backend, &deadlines).await?;
                    let (changes, answer) = decide(&targets).map_err(UpdateError::Refused)?;
                    let heads: Vec<ReportHead> = targets.into_iter().map(|t| t.head).collect();
                    write_effects(txn, rollups, &heads, changes, now).await?;
                    Ok(answer)
                })
            })
            .await
    }
}

/// A report's row as firing reads it (`id`, `author_id`, `version`, `category_id`, `risk_grade`, `whistle_kind`, `policy_version` and its entry's `leader_id`), without its deadlines yet.
fn target_from_row(row: &sea_orm::QueryResult) -> Result<FiringTarget, StorageError> {
    let text = |column: &str| row.try_get::<String>("", column);
    let optional = |column: &str| row.try_get::<Option<String>>("", column);
    let bad = |e: gridwhistle_domain::IdError| corrupt("report", e);
    Ok(FiringTarget {
        head: ReportHead {
            id: ReportId::parse(&text("id")?).map_err(bad)?,
            author: UserId::parse(&text("author_id")?).map_err(bad)?,
            version: row.try_get("", "version")?,
            policy_version: row.try_get("", "policy_version")?,
        },
        category: CategoryId::parse(&text("category_id")?).map_err(bad)?,
        risk_grade: optional("risk_grade")?
            .map(|g| parse("report", &g))
            .transpose()?,
        kind: optional("whistle_kind")?
            .map(|k| parse("report", &k))
            .transpose()?,
        leader: optional("leader_id")?
            .map(|l| UserId::parse(&l).map_err(|e| corrupt("ledger entry", e)))
            .transpose()?,
        deadlines: Vec::new(),
    })
}

/// Reads the reports of `deadlines` (locked in id order on PostgreSQL, as `reports::lock_reports` does) and the deadlines themselves.
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
            "SELECT id, author_id, version, category_id, risk_grade, whistle_kind, policy_version, \
             (SELECT leader_id FROM ledger_entries le WHERE le.report_id = reports.id) AS leader_id \
             FROM reports WHERE id",
        )
        .any(ids.iter().cloned())
        .push(" ORDER BY id");
        if backend == Backend::Postgres {
            sql.push(" FOR UPDATE");
        }
        for row in txn.query_all_raw(sql.build()).await? {
            targets.push(target_from_row(&row)?);
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
            // A deadline whose report was not asked for with it (or a ledger step's) is left out, as if missing.
            let DeadlineSubject::Case(report) = subject_of(&model)? else {
                continue;
            };
            if let Some(&i) = at.get(&report) {
                targets[i].deadlines.push(deadline_from_model(model)?);
            }
        }
    }
    Ok(targets)
}
