//! The department figures (KPIs) as grouped statements over the shares' facts (`assignments`), and the street, grid and category figures over the reports filed.
//!
//! Each view is a handful of statements whatever the number of departments: the period's shares by group, the led shares due in the period, their working times, the shares at work now, the letters sent.

use gridwhistle_domain::{CaseState, DepartmentId, ReportId, ReportState, Timestamp};
use sea_orm::{ConnectionTrait, QueryResult};
use tracing::instrument;

use super::codec::{corrupt, parse, ts};
use super::rollups::{self, LED, ON_TIME_REPORT_IN, get_i64, get_key};
use super::sql::Sql;
use super::{StatsRepo, StorageError};
use crate::model::{
    AreaCounts, AreaGroup, Period, ShareCounts, ShareGroup, ShortfallKind, ShortfallPosition,
    ShortfallRecord,
};

/// The shares with their reports, read share first: `CROSS JOIN` keeps SQLite from scanning the wide `reports` table first (PostgreSQL plans it freely); conditions follow with `AND`.
const SHARES_WITH_REPORTS: &str =
    "FROM assignments a CROSS JOIN reports r WHERE r.id = a.report_id";

/// A share still at work on a case not closed; spelt as migration m0017's partial index `ix_assignments_open` (with the alias), so SQLite may read it.
const OPEN_SHARES: &str =
    "a.state IN ('summoned', 'reported_in', 'contacted') AND a.accepted_at_ms IS NULL";

/// How a recount of the rollups went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupRebuild {
    /// Non-zero counts after the recount.
    pub counts: usize,
    /// Counts the rollups kept step by step had otherwise (zero after a recount in other days).
    pub differed: usize,
}

/// The days `[first, end)` of the rollups kept in days of `offset` that make up `period`, with the offset; `None` unless it begins and ends at midnight.
fn whole_days(period: Period, offset: i64) -> Option<(i64, i64, i64)> {
    let day = |t: Timestamp| {
        let local = t.as_unix_millis() + offset;
        (local.rem_euclid(rollups::DAY_MS) == 0).then(|| local.div_euclid(rollups::DAY_MS))
    };
    Some((day(period.start)?, day(period.end)?, offset))
}

/// The counts of one group, in the order `ShareCounts::from_row` reads them.
fn period_counts() -> String {
    let led = |cond: &str| format!("SUM(CASE WHEN {LED}{cond} THEN 1 ELSE 0 END)");
    [
        "COUNT(*)".to_owned(),
        format!("SUM(CASE WHEN {ON_TIME_REPORT_IN} THEN 1 ELSE 0 END)"),
        led(""),
        led(" AND a.completions > 0"),
        led(" AND a.accepted_at_ms IS NOT NULL"),
        led(" AND a.satisfaction IS NOT NULL"),
        led(" AND a.satisfaction >= 4"),
        format!(
            "SUM(CASE WHEN {LED} AND a.satisfaction IS NOT NULL THEN a.satisfaction ELSE 0 END)"
        ),
        "SUM(a.completions)".to_owned(),
        "SUM(a.rejections)".to_owned(),
        "SUM(CASE WHEN a.extensions_approved > 0 THEN 1 ELSE 0 END)".to_owned(),
        "SUM(CASE WHEN a.returns > 0 THEN 1 ELSE 0 END)".to_owned(),
        "SUM(a.escalations)".to_owned(),
    ]
    .join(", ")
}

/// The column a grouping keys its rows by, and whether it needs the report's row.
fn share_key(group: ShareGroup) -> (&'static str, bool) {
    match group {
        ShareGroup::Department => ("a.department_id", false),
        ShareGroup::Category => ("r.category_id", true),
        ShareGroup::RiskGrade => ("COALESCE(r.risk_grade, '')", true),
    }
}

/// One grouping's statements: the key column, the tables, and the one department they may be narrowed to.
struct Counting<'q> {
    backend: super::Backend,
    key: &'static str,
    /// The tables and their first condition (`… WHERE …`); every later condition follows with `AND`.
    from: &'static str,
    department: Option<&'q DepartmentId>,
    now_ms: i64,
}

impl Counting<'_> {
    fn statement(&self, select: &str) -> Sql {
        let mut sql = Sql::new(self.backend);
        sql.push(&format!("SELECT {}, {select} {}", self.key, self.from));
        sql
    }

    /// Narrows to the department, if one is named (the statement has its `WHERE` already).
    fn only(&self, sql: &mut Sql) {
        if let Some(d) = self.department {
            sql.push(" AND a.department_id = ").bind(d.as_str());
        }
    }

    /// ` AND` the share was summoned in the period.
    fn summoned_in(&self, period: Period, sql: &mut Sql) {
        sql.push(" AND a.summoned_at_ms >= ")
            .bind(period.start.as_unix_millis())
            .push(" AND a.summoned_at_ms < ")
            .bind(period.end.as_unix_millis());
        self.only(sql);
    }

    fn grouped(&self, mut sql: Sql) -> sea_orm::Statement {
        sql.push(&format!(" GROUP BY {}", self.key));
        sql.build()
    }

    /// The period's shares by group.
    fn period(&self, period: Period) -> sea_orm::Statement {
        let mut sql = self.statement(&period_counts());
        self.summoned_in(period, &mut sql);
        self.grouped(sql)
    }

    /// 按期结案率: the led shares due in the period whose due time has passed, or whose case was accepted before it.
    fn due(&self, period: Period) -> sea_orm::Statement {
        let mut sql = self.statement(
            "COUNT(*), SUM(CASE WHEN a.accepted_at_ms IS NOT NULL \
             AND a.complete_at_ms <= a.finish_due_ms THEN 1 ELSE 0 END)",
        );
        sql.push(&format!(" AND {LED} AND a.finish_due_ms >= "))
            .bind(period.start.as_unix_millis())
            .push(" AND a.finish_due_ms < ")
            .bind(period.end.as_unix_millis())
            .push(" AND (a.finish_due_ms <= ")
            .bind(self.now_ms)
            .push(" OR a.accepted_at_ms IS NOT NULL)");
        self.only(&mut sql);
        self.grouped(sql)
    }

    /// The working times of the period's accepted led shares.
    fn working(&self, period: Period) -> sea_orm::Statement {
        let mut sql = self.statement("a.working_ms");
        self.summoned_in(period, &mut sql);
        sql.push(&format!(" AND {LED} AND a.working_ms IS NOT NULL"));
        sql.build()
    }

    /// Shares at work now on a case not closed, and those past a due time: read from the partial index of exactly those shares.
    ///
    /// A case closes only when its result is accepted, which stamps every share's `accepted_at_ms`; an assist that never reported in stays summoned on a closed case, so the state alone would count it.
    fn open(&self) -> sea_orm::Statement {
        let mut sql = Sql::new(self.backend);
        sql.push(&format!(
            "SELECT {}, COUNT(*), SUM(CASE WHEN a.due_at_ms < ",
            self.key
        ))
        .bind(self.now_ms)
        .push(&format!(
            " THEN 1 ELSE 0 END) {} AND {OPEN_SHARES}",
            self.from
        ));
        self.only(&mut sql);
        self.grouped(sql)
    }

    /// Supervision letters sent in the period, by department.
    fn letters(&self, period: Period) -> sea_orm::Statement {
        let mut sql = Sql::new(self.backend);
        sql.push("SELECT department_id, COUNT(*) FROM supervision_letters WHERE created_at_ms >= ")
            .bind(period.start.as_unix_millis())
            .push(" AND created_at_ms < ")
            .bind(period.end.as_unix_millis());
        if let Some(d) = self.department {
            sql.push(" AND department_id = ").bind(d.as_str());
        }
        sql.push(" GROUP BY department_id");
        sql.build()
    }
}

impl StatsRepo<'_> {
    fn counting<'q>(
        &self,
        group: ShareGroup,
        department: Option<&'q DepartmentId>,
        now: Timestamp,
    ) -> Counting<'q> {
        let (key, joined) = share_key(group);
        Counting {
            backend: self.store.backend,
            key,
            from: if joined {
                SHARES_WITH_REPORTS
            } else {
                "FROM assignments a WHERE 1 = 1"
            },
            department,
            now_ms: now.as_unix_millis(),
        }
    }

    /// Each group's counts over `period` (shares by the time they were summoned), `now` deciding which due times have passed; only `department`'s shares when named. The open counts are `open_counts`'.
    ///
    /// A department grouping over whole days of the rollups' zone is summed from the rollups (`storage::rollups`), the led shares due today aside; anything else is counted from the facts.
    #[instrument(skip_all, fields(group = ?group))]
    pub async fn share_counts(
        self,
        group: ShareGroup,
        department: Option<&DepartmentId>,
        period: Period,
        now: Timestamp,
    ) -> Result<Vec<ShareCounts>, StorageError> {
        let db = &self.store.db;
        let days = match (group, rollups::zone_offset(db).await?) {
            (ShareGroup::Department, Some(offset)) => whole_days(period, offset),
            _ => None,
        };
        let Some((first, end, offset)) = days else {
            return self
                .share_counts_from_facts(group, department, period, now)
                .await;
        };
        let today = (now.as_unix_millis() + offset).div_euclid(rollups::DAY_MS);
        let backend = self.store.backend;
        let mut counts =
            rollups::department_counts(db, backend, department, (first, end), today).await?;
        let q = self.counting(group, department, now);
        if (first..end).contains(&today) {
            let start = today * rollups::DAY_MS - offset;
            let day = Period {
                start: Timestamp::from_unix_millis(start),
                end: Timestamp::from_unix_millis(start + rollups::DAY_MS),
            };
            for row in db.query_all_raw(q.due(day)).await? {
                let c = ShareCounts::entry(&mut counts, get_key(&row)?);
                c.led_due += get_i64(&row, 1)?;
                c.led_due_on_time += get_i64(&row, 2)?;
            }
        }
        self.add_letters(&q, period, &mut counts).await?;
        counts.retain(|c| {
            *c != ShareCounts {
                key: c.key.clone(),
                ..ShareCounts::default()
            }
        });
        counts.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(counts)
    }

    /// [`StatsRepo::share_counts`] counted from the shares' facts whatever the period: what the rollups are held to.
    #[instrument(skip_all, fields(group = ?group))]
    pub async fn share_counts_from_facts(
        self,
        group: ShareGroup,
        department: Option<&DepartmentId>,
        period: Period,
        now: Timestamp,
    ) -> Result<Vec<ShareCounts>, StorageError> {
        let db = &self.store.db;
        let q = self.counting(group, department, now);
        let mut counts: Vec<ShareCounts> = Vec::new();
        for row in db.query_all_raw(q.period(period)).await? {
            counts.push(ShareCounts::from_row(&row)?);
        }
        for row in db.query_all_raw(q.due(period)).await? {
            let c = ShareCounts::entry(&mut counts, get_key(&row)?);
            c.led_due = get_i64(&row, 1)?;
            c.led_due_on_time = get_i64(&row, 2)?;
        }
        for row in db.query_all_raw(q.working(period)).await? {
            let working = get_i64(&row, 1)?;
            ShareCounts::entry(&mut counts, get_key(&row)?)
                .working
                .add(working);
        }
        if group == ShareGroup::Department {
            self.add_letters(&q, period, &mut counts).await?;
        }
        counts.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(counts)
    }

    async fn add_letters(
        &self,
        q: &Counting<'_>,
        period: Period,
        counts: &mut Vec<ShareCounts>,
    ) -> Result<(), StorageError> {
        for row in self.store.db.query_all_raw(q.letters(period)).await? {
            ShareCounts::entry(counts, get_key(&row)?).letters = get_i64(&row, 1)?;
        }
        Ok(())
    }

    /// Builds the rollups in days of `offset_ms` unless they are built in those days already; answers the rebuild if one ran.
    #[instrument(skip_all)]
    pub async fn ensure_rollups(
        self,
        offset_ms: i64,
    ) -> Result<Option<RollupRebuild>, StorageError> {
        if rollups::zone_offset(&self.store.db).await? == Some(offset_ms) {
            return Ok(None);
        }
        self.rebuild_rollups(offset_ms).await.map(Some)
    }

    /// Recounts the rollups from every share's facts in days of `offset_ms`, in one transaction, and answers how many counts the ones kept step by step had wrong (none when they were built in the same days).
    #[instrument(skip_all)]
    pub async fn rebuild_rollups(self, offset_ms: i64) -> Result<RollupRebuild, StorageError> {
        let backend = self.store.backend;
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    rollups::lock(txn, backend).await?;
                    let kept = rollups::snapshot(txn, backend).await?;
                    let zone = rollups::zone_offset(txn).await?;
                    rollups::rebuild(txn, backend, offset_ms).await?;
                    let rebuilt = rollups::snapshot(txn, backend).await?;
                    let differed = if zone == Some(offset_ms) {
                        let keys: std::collections::BTreeSet<_> =
                            kept.keys().chain(rebuilt.keys()).collect();
                        keys.into_iter()
                            .filter(|k| kept.get(*k) != rebuilt.get(*k))
                            .count()
                    } else {
                        0
                    };
                    Ok::<_, StorageError>(RollupRebuild {
                        counts: rebuilt.len(),
                        differed,
                    })
                })
            })
            .await
    }

    /// Each group's shares at work now (whatever their period) and those of them past a due time at `now`; only `department`'s when named. Only `key`, `open_now` and `overdue_now` are set.
    #[instrument(skip_all, fields(group = ?group))]
    pub async fn open_counts(
        self,
        group: ShareGroup,
        department: Option<&DepartmentId>,
        now: Timestamp,
    ) -> Result<Vec<ShareCounts>, StorageError> {
        let q = self.counting(group, department, now);
        let mut counts: Vec<ShareCounts> = Vec::new();
        for row in self.store.db.query_all_raw(q.open()).await? {
            let c = ShareCounts::entry(&mut counts, get_key(&row)?);
            c.open_now = get_i64(&row, 1)?;
            c.overdue_now = get_i64(&row, 2)?;
        }
        counts.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(counts)
    }

    /// Each street's, grid's or category's counts of the reports filed in `period`.
    #[instrument(skip_all, fields(group = ?group))]
    pub async fn area_counts(
        self,
        group: AreaGroup,
        period: Period,
    ) -> Result<Vec<AreaCounts>, StorageError> {
        let key = match group {
            AreaGroup::Street => "g.street",
            AreaGroup::Grid => "r.grid_id",
            AreaGroup::Category => "r.category_id",
        };
        let on_site = ReportState::ResolvedOnSite.as_str();
        let closed = CaseState::Closed.as_str();
        let mut sql = Sql::new(self.store.backend);
        sql.push(&format!(
            "SELECT {key}, COUNT(*), SUM(CASE WHEN r.case_id IS NOT NULL THEN 1 ELSE 0 END), \
             SUM(CASE WHEN r.state = '{on_site}' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN r.state = '{on_site}' OR (r.case_state = '{closed}' AND r.rework_count = 0) \
             THEN 1 ELSE 0 END) FROM reports r LEFT JOIN grids g ON g.id = r.grid_id \
             WHERE r.created_at_ms >= "
        ))
        .bind(period.start.as_unix_millis())
        .push(" AND r.created_at_ms < ")
        .bind(period.end.as_unix_millis())
        .push(&format!(" GROUP BY {key}"));
        let mut counts = Vec::new();
        for row in self.store.db.query_all_raw(sql.build()).await? {
            counts.push(AreaCounts {
                key: get_key(&row)?,
                filed: get_i64(&row, 1)?,
                whistled: get_i64(&row, 2)?,
                settled_on_site: get_i64(&row, 3)?,
                settled_first_time: get_i64(&row, 4)?,
            });
        }
        counts.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(counts)
    }

    /// A department's shares summoned in `period` behind a shortfall of `kind`, by summoned time, after `after`, at most `limit`.
    #[instrument(skip_all, fields(department = %department, kind = ?kind))]
    pub async fn shortfalls(
        self,
        department: &DepartmentId,
        period: Period,
        kind: ShortfallKind,
        now: Timestamp,
        after: Option<&ShortfallPosition>,
        limit: u64,
    ) -> Result<Vec<ShortfallRecord>, StorageError> {
        let mut sql = Sql::new(self.store.backend);
        sql.push(
            "SELECT a.report_id, r.case_id, a.department_id, a.role, r.category_id, r.risk_grade, \
             a.summoned_at_ms, a.report_in_due_ms, a.report_in_at_ms, a.finish_due_ms, a.complete_at_ms, \
             a.accepted_at_ms, a.satisfaction, a.rejections, a.returns, a.extensions_approved \
             FROM assignments a JOIN reports r ON r.id = a.report_id WHERE a.department_id = ",
        )
        .bind(department.as_str())
        .push(" AND a.summoned_at_ms >= ")
        .bind(period.start.as_unix_millis())
        .push(" AND a.summoned_at_ms < ")
        .bind(period.end.as_unix_millis())
        .push(" AND ");
        let now_ms = now.as_unix_millis();
        match kind {
            ShortfallKind::LateReportIn => sql
                .push(&format!(
                    "a.report_in_due_ms IS NOT NULL AND NOT ({ON_TIME_REPORT_IN}) \
                     AND (a.report_in_at_ms IS NOT NULL OR a.report_in_due_ms < "
                ))
                .bind(now_ms)
                .push(")"),
            ShortfallKind::Rework => sql.push("a.rejections > 0"),
            ShortfallKind::Return => sql.push("a.returns > 0"),
            ShortfallKind::LateClosure => sql
                .push(&format!("{LED} AND a.finish_due_ms < "))
                .bind(now_ms)
                .push(
                    " AND NOT (a.accepted_at_ms IS NOT NULL AND a.complete_at_ms <= a.finish_due_ms)",
                ),
            ShortfallKind::Extension => sql.push("a.extensions_approved > 0"),
            ShortfallKind::Dissatisfied => sql.push(&format!("{LED} AND a.satisfaction < 4")),
        };
        if let Some(after) = after {
            let at = after.summoned_at.as_unix_millis();
            sql.push(" AND (a.summoned_at_ms > ")
                .bind(at)
                .push(" OR (a.summoned_at_ms = ")
                .bind(at)
                .push(" AND a.report_id > ")
                .bind(after.report.clone())
                .push("))");
        }
        sql.push(" ORDER BY a.summoned_at_ms, a.report_id LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        self.store
            .db
            .query_all_raw(sql.build())
            .await?
            .iter()
            .map(shortfall_from_row)
            .collect()
    }
}

fn shortfall_from_row(row: &QueryResult) -> Result<ShortfallRecord, StorageError> {
    let text = |i: usize| -> Result<String, StorageError> {
        row.try_get_by_index::<String>(i)
            .map_err(|e| corrupt("shortfall", e))
    };
    let opt = |i: usize| -> Result<Option<i64>, StorageError> {
        row.try_get_by_index::<Option<i64>>(i)
            .map_err(|e| corrupt("shortfall", e))
    };
    let count = |i: usize| -> Result<u32, StorageError> {
        let n = row
            .try_get_by_index::<i32>(i)
            .map_err(|e| corrupt("shortfall", e))?;
        u32::try_from(n).map_err(|e| corrupt("shortfall", e))
    };
    let grade: Option<String> = row
        .try_get_by_index(5)
        .map_err(|e| corrupt("shortfall", e))?;
    Ok(ShortfallRecord {
        report: ReportId::parse(&text(0)?).map_err(|e| corrupt("shortfall", e))?,
        case: parse_id(&text(1)?)?,
        department: DepartmentId::parse(&text(2)?).map_err(|e| corrupt("shortfall", e))?,
        role: parse("shortfall", &text(3)?)?,
        category: gridwhistle_domain::CategoryId::parse(&text(4)?)
            .map_err(|e| corrupt("shortfall", e))?,
        risk_grade: grade.map(|g| parse("shortfall", &g)).transpose()?,
        summoned_at: ts(opt(6)?.unwrap_or_default()),
        report_in_due: opt(7)?.map(ts),
        report_in_at: opt(8)?.map(ts),
        finish_due: opt(9)?.map(ts),
        complete_at: opt(10)?.map(ts),
        accepted_at: opt(11)?.map(ts),
        satisfaction: row
            .try_get_by_index::<Option<i32>>(12)
            .map_err(|e| corrupt("shortfall", e))?
            .map(|s| u8::try_from(s).map_err(|e| corrupt("shortfall", e)))
            .transpose()?,
        rejections: count(13)?,
        returns: count(14)?,
        extensions_approved: count(15)?,
    })
}

fn parse_id(text: &str) -> Result<gridwhistle_domain::CaseId, StorageError> {
    gridwhistle_domain::CaseId::parse(text).map_err(|e| corrupt("shortfall", e))
}

#[cfg(test)]
mod tests {
    use gridwhistle_domain::AssignmentState;

    use super::*;

    /// A new state cannot slip past the open condition unnoticed.
    #[test]
    fn the_open_condition_names_every_active_state() {
        for state in AssignmentState::ALL {
            assert_eq!(
                OPEN_SHARES.contains(&format!("'{}'", state.as_str())),
                state.is_active(),
                "{state}"
            );
        }
    }
}
