//! The department figures rolled up per department and day in the district's time zone (`share_days`, `share_working_days`), so a month's ranking sums a few thousand rows whatever the number of shares.
//!
//! A share counts on the day it was summoned, and a led share also on the day its finish is due. Every change to shares withdraws their contribution before it writes ([`Rollups::withdraw`]) and contributes it again after ([`Rollups::contribute`]), in its transaction, so the rollups move with the facts and never disagree with them.
//! The callers hold the reports' rows locked (the change's version check, the batches' reads `FOR UPDATE`), so no other writer moves the shares between the two.
//! A share's contribution is written once, in SQL over the conditions defined here that the facts' own statements (`storage::stats`) count with too, and serves the deltas and the full rebuild alike.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use gridwhistle_domain::DepartmentId;
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};

use super::codec::corrupt;
use super::migration::m0022_share_days::SHARE_DAY_COUNTS;
use super::sql::Sql;
use super::{Backend, StorageError};
use crate::model::{ReportRecord, ShareCounts};

/// A share whose department leads the case and did not return it or leave it.
pub(super) const LED: &str = "a.role = 'lead' AND a.state NOT IN ('returned', 'withdrawn')";

/// Reported in by the report-in due time, or on a case without one.
pub(super) const ON_TIME_REPORT_IN: &str = "a.report_in_at_ms IS NOT NULL AND (a.report_in_due_ms IS NULL OR a.report_in_at_ms <= a.report_in_due_ms)";

/// A day in milliseconds; the zones are fixed offsets, so every day is this long.
pub(super) const DAY_MS: i64 = 86_400_000;

/// The shares a statement covers.
#[derive(Clone, Copy)]
enum Shares<'a> {
    OfReports(&'a [String]),
    All,
}

fn flag(condition: &str) -> String {
    format!("CASE WHEN {condition} THEN 1 ELSE 0 END")
}

/// A summoned share's counts, in `SHARE_DAY_COUNTS` order.
fn summoned_counts() -> Vec<String> {
    let led = |condition: &str| flag(&format!("{LED}{condition}"));
    vec![
        "1".to_owned(),
        flag(ON_TIME_REPORT_IN),
        led(""),
        led(" AND a.completions > 0"),
        led(" AND a.accepted_at_ms IS NOT NULL"),
        led(" AND a.satisfaction IS NOT NULL"),
        led(" AND a.satisfaction >= 4"),
        format!("CASE WHEN {LED} AND a.satisfaction IS NOT NULL THEN a.satisfaction ELSE 0 END"),
        "a.completions".to_owned(),
        "a.rejections".to_owned(),
        flag("a.extensions_approved > 0"),
        flag("a.returns > 0"),
        "a.escalations".to_owned(),
        format!("CASE WHEN {LED} AND a.working_ms IS NOT NULL THEN a.working_ms ELSE 0 END"),
        led(" AND a.working_ms IS NOT NULL"),
        "0".to_owned(),
        "0".to_owned(),
        "0".to_owned(),
    ]
}

/// A led share's counts on its due day: due, accepted, and completed by the due time and accepted.
fn due_counts() -> Vec<String> {
    let mut counts = vec!["0".to_owned(); SHARE_DAY_COUNTS.len() - 3];
    counts.push("1".to_owned());
    counts.push(flag("a.accepted_at_ms IS NOT NULL"));
    counts.push(flag(
        "a.accepted_at_ms IS NOT NULL AND a.complete_at_ms <= a.finish_due_ms",
    ));
    counts
}

/// The bucket of a share's working time, as `model::working_bucket` computes it.
fn working_bucket_sql() -> String {
    let minutes = "(a.working_ms / 60000)";
    let mut sql = format!("CASE WHEN {minutes} < 32 THEN {minutes}");
    for octave in 5..=40_u32 {
        sql.push_str(&format!(
            " WHEN {minutes} < {} THEN {} + ({minutes} - {}) / {}",
            1_i64 << (octave + 1),
            16 * (i64::from(octave) - 3),
            1_i64 << octave,
            1_i64 << (octave - 4)
        ));
    }
    sql.push_str(&format!(" ELSE {} END", 16 * (41 - 3)));
    sql
}

/// `FROM assignments a` with the zone, narrowed to `shares`; later conditions follow with `AND`.
///
/// One report, a loop step's, is named by `=`: PostgreSQL plans a statement over an array parameter anew at every execution (about half a millisecond for these), while a generic plan for one report is cached after the first few.
fn from_shares(sql: &mut Sql, shares: Shares<'_>) {
    sql.push(" FROM assignments a CROSS JOIN rollup_zone z WHERE z.id = 1");
    match shares {
        Shares::OfReports([report]) => {
            sql.push(" AND a.report_id = ").bind(report.clone());
        }
        Shares::OfReports(reports) => {
            sql.push(" AND a.report_id").any(reports.iter().cloned());
        }
        Shares::All => {}
    }
}

/// The pieces of the day rows' upsert, written once: the head for each sign, the summoned and the due selects, the tail.
struct DayStatement {
    add: String,
    subtract: String,
    summoned: String,
    due: String,
    tail: String,
}

static DAY_STATEMENT: LazyLock<DayStatement> = LazyLock::new(|| {
    let named = |counts: Vec<String>| {
        counts
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} AS c{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let columns = SHARE_DAY_COUNTS.join(", ");
    let head = |sign: i64| {
        let sums = (0..SHARE_DAY_COUNTS.len())
            .map(|i| format!("SUM(s.c{i}) * {sign}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "INSERT INTO share_days (day, department_id, {columns}) SELECT s.day, s.department_id, {sums} FROM ("
        )
    };
    let updates = SHARE_DAY_COUNTS
        .iter()
        .map(|c| format!("{c} = share_days.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    DayStatement {
        add: head(1),
        subtract: head(-1),
        summoned: format!(
            "SELECT (a.summoned_at_ms + z.offset_ms) / {DAY_MS} AS day, a.department_id, {}",
            named(summoned_counts())
        ),
        due: format!(
            " UNION ALL SELECT (a.finish_due_ms + z.offset_ms) / {DAY_MS}, a.department_id, {}",
            named(due_counts())
        ),
        tail: format!(
            " AND {LED} AND a.finish_due_ms IS NOT NULL) s WHERE 1 = 1 GROUP BY s.day, s.department_id \
             ON CONFLICT (day, department_id) DO UPDATE SET {updates}"
        ),
    }
});

static WORKING_BUCKET: LazyLock<String> = LazyLock::new(working_bucket_sql);

/// Adds `sign` times the contribution of `shares` to the day rows.
async fn add_days(
    txn: &DatabaseTransaction,
    backend: Backend,
    shares: Shares<'_>,
    sign: i64,
) -> Result<(), StorageError> {
    let parts = &*DAY_STATEMENT;
    let mut sql = Sql::with_capacity(backend, 8192, 2);
    sql.push(if sign < 0 {
        &parts.subtract
    } else {
        &parts.add
    })
    .push(&parts.summoned);
    from_shares(&mut sql, shares);
    sql.push(&parts.due);
    from_shares(&mut sql, shares);
    sql.push(&parts.tail);
    txn.execute_raw(sql.build()).await?;
    Ok(())
}

/// Adds `sign` times the working times of `shares` to the bucket rows.
async fn add_working(
    txn: &DatabaseTransaction,
    backend: Backend,
    shares: Shares<'_>,
    sign: i64,
) -> Result<(), StorageError> {
    let mut sql = Sql::with_capacity(backend, 4096, 1);
    sql.push(&format!(
        "INSERT INTO share_working_days (day, department_id, bucket, shares) \
         SELECT (a.summoned_at_ms + z.offset_ms) / {DAY_MS}, a.department_id, {}, COUNT(*) * {sign}",
        *WORKING_BUCKET
    ));
    from_shares(&mut sql, shares);
    sql.push(&format!(
        " AND {LED} AND a.working_ms IS NOT NULL GROUP BY 1, 2, 3 \
         ON CONFLICT (day, department_id, bucket) DO UPDATE SET shares = share_working_days.shares + excluded.shares"
    ));
    txn.execute_raw(sql.build()).await?;
    Ok(())
}

/// Whether a store's changes keep the rollups, and on which database: `Store::rollups`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rollups {
    pub(super) backend: Backend,
    /// False only for the benchmark that measures what keeping them costs a step (`Store::without_rollups`).
    pub(super) kept: bool,
}

impl Rollups {
    /// Takes `record`'s shares out of the rollups, before a change writes them; a record without shares has none to move, and one without a working time none of those.
    pub(super) async fn withdraw_record(
        self,
        txn: &DatabaseTransaction,
        record: &ReportRecord,
    ) -> Result<(), StorageError> {
        self.record(txn, record, -1).await
    }

    /// Puts `record`'s shares back into the rollups, after a change wrote them.
    pub(super) async fn contribute_record(
        self,
        txn: &DatabaseTransaction,
        record: &ReportRecord,
    ) -> Result<(), StorageError> {
        self.record(txn, record, 1).await
    }

    async fn record(
        self,
        txn: &DatabaseTransaction,
        record: &ReportRecord,
        sign: i64,
    ) -> Result<(), StorageError> {
        if record.assignments.is_empty() {
            return Ok(());
        }
        let working = record
            .assignments
            .iter()
            .any(|a| a.facts.working_ms.is_some());
        self.add(txn, &[record.id.to_string()], working, sign).await
    }

    /// Takes the shares of `reports` out of the rollups, before a change writes them; `working` unless the caller knows that none of them has a working time.
    pub(super) async fn withdraw(
        self,
        txn: &DatabaseTransaction,
        reports: &[String],
        working: bool,
    ) -> Result<(), StorageError> {
        self.add(txn, reports, working, -1).await
    }

    /// Puts the shares of `reports` back into the rollups, after a change wrote them; `working` as for [`Rollups::withdraw`].
    pub(super) async fn contribute(
        self,
        txn: &DatabaseTransaction,
        reports: &[String],
        working: bool,
    ) -> Result<(), StorageError> {
        self.add(txn, reports, working, 1).await
    }

    async fn add(
        self,
        txn: &DatabaseTransaction,
        reports: &[String],
        working: bool,
        sign: i64,
    ) -> Result<(), StorageError> {
        if reports.is_empty() || !self.kept {
            return Ok(());
        }
        add_days(txn, self.backend, Shares::OfReports(reports), sign).await?;
        if working {
            add_working(txn, self.backend, Shares::OfReports(reports), sign).await?;
        }
        Ok(())
    }
}

/// The offset the rollups count days in, `None` while they are not built.
pub(super) async fn zone_offset(db: &impl ConnectionTrait) -> Result<Option<i64>, StorageError> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT offset_ms FROM rollup_zone WHERE id = 1",
        ))
        .await?;
    row.map(|r| r.try_get_by_index::<i64>(0))
        .transpose()
        .map_err(|e| corrupt("rollup zone", e))
}

/// Every non-zero count of the rollups, keyed by table, day, department and column or bucket: what a rebuild compares.
pub(super) async fn snapshot(
    db: &impl ConnectionTrait,
    backend: Backend,
) -> Result<BTreeMap<(i64, String, String), i64>, StorageError> {
    let mut counts = BTreeMap::new();
    let columns = SHARE_DAY_COUNTS.join(", ");
    let mut sql = Sql::new(backend);
    sql.push(&format!(
        "SELECT day, department_id, {columns} FROM share_days"
    ));
    for row in db.query_all_raw(sql.build()).await? {
        let (day, department) = key(&row)?;
        for (i, column) in SHARE_DAY_COUNTS.iter().enumerate() {
            let n = get_i64(&row, i + 2)?;
            if n != 0 {
                counts.insert((day, department.clone(), (*column).to_owned()), n);
            }
        }
    }
    let mut sql = Sql::new(backend);
    sql.push("SELECT day, department_id, bucket, shares FROM share_working_days WHERE shares <> 0");
    for row in db.query_all_raw(sql.build()).await? {
        let (day, department) = key(&row)?;
        counts.insert(
            (day, department, format!("bucket {}", get_i64(&row, 2)?)),
            get_i64(&row, 3)?,
        );
    }
    Ok(counts)
}

fn key(row: &QueryResult) -> Result<(i64, String), StorageError> {
    Ok((get_i64(row, 0)?, {
        row.try_get_by_index::<String>(1)
            .map_err(|e| corrupt("rollup", e))?
    }))
}

/// Holds the rollups for the rest of `txn` on PostgreSQL (SQLite has one writer at a time): changes wait, then apply their deltas to what `txn` leaves.
pub(super) async fn lock(txn: &DatabaseTransaction, backend: Backend) -> Result<(), StorageError> {
    if backend == Backend::Postgres {
        txn.execute_unprepared(
            "LOCK TABLE rollup_zone, share_days, share_working_days IN EXCLUSIVE MODE",
        )
        .await?;
    }
    Ok(())
}

/// Recounts the rollups from every share's facts in days of `offset_ms`, inside `txn`, which holds them ([`lock`]).
pub(super) async fn rebuild(
    txn: &DatabaseTransaction,
    backend: Backend,
    offset_ms: i64,
) -> Result<(), StorageError> {
    txn.execute_unprepared("DELETE FROM share_days").await?;
    txn.execute_unprepared("DELETE FROM share_working_days")
        .await?;
    txn.execute_unprepared("DELETE FROM rollup_zone").await?;
    let mut sql = Sql::new(backend);
    sql.push("INSERT INTO rollup_zone (id, offset_ms) VALUES (1, ")
        .bind(offset_ms)
        .push(")");
    txn.execute_raw(sql.build()).await?;
    add_days(txn, backend, Shares::All, 1).await?;
    add_working(txn, backend, Shares::All, 1).await
}

/// ` WHERE` the day is in `[first, end)`, and the department is `department` if one is named.
fn days_of(sql: &mut Sql, (first, end): (i64, i64), department: Option<&DepartmentId>) {
    sql.push(" WHERE day >= ")
        .bind(first)
        .push(" AND day < ")
        .bind(end);
    if let Some(d) = department {
        sql.push(" AND department_id = ").bind(d.as_str());
    }
}

/// The rolled-up counts of the days `[first, end)` by department (only `department`'s when named), with the led shares due on day `today` left out: the caller counts those from the facts, since which of them count depends on the hour.
pub(super) async fn department_counts(
    db: &impl ConnectionTrait,
    backend: Backend,
    department: Option<&DepartmentId>,
    (first, end): (i64, i64),
    today: i64,
) -> Result<Vec<ShareCounts>, StorageError> {
    let sums: Vec<String> = SHARE_DAY_COUNTS[..SHARE_DAY_COUNTS.len() - 3]
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    let mut sql = Sql::new(backend);
    sql.push("SELECT department_id, ");
    sql.push(&sums.join(", "));
    // Due before today: every one counts; due after today: only the accepted ones.
    sql.push(", CAST(SUM(CASE WHEN day < ")
        .bind(today)
        .push(" THEN led_due WHEN day > ")
        .bind(today)
        .push(" THEN led_due_accepted ELSE 0 END) AS BIGINT), CAST(SUM(CASE WHEN day <> ")
        .bind(today)
        .push(" THEN led_due_on_time ELSE 0 END) AS BIGINT) FROM share_days");
    days_of(&mut sql, (first, end), department);
    sql.push(" GROUP BY department_id");
    let mut counts = Vec::new();
    for row in db.query_all_raw(sql.build()).await? {
        let mut c = ShareCounts::from_row(&row)?;
        c.working.sum_ms = get_i64(&row, 14)?;
        c.working.count = get_i64(&row, 15)?;
        c.led_due = get_i64(&row, 16)?;
        c.led_due_on_time = get_i64(&row, 17)?;
        counts.push(c);
    }
    let mut sql = Sql::new(backend);
    sql.push("SELECT department_id, bucket, CAST(SUM(shares) AS BIGINT) FROM share_working_days");
    days_of(&mut sql, (first, end), department);
    sql.push(" GROUP BY department_id, bucket");
    for row in db.query_all_raw(sql.build()).await? {
        ShareCounts::entry(&mut counts, get_key(&row)?)
            .working
            .add_bucket(get_i64(&row, 1)?, get_i64(&row, 2)?);
    }
    Ok(counts)
}

pub(super) fn get_i64(row: &QueryResult, index: usize) -> Result<i64, StorageError> {
    // A sum over no rows is NULL.
    row.try_get_by_index::<Option<i64>>(index)
        .map(Option::unwrap_or_default)
        .map_err(|e| corrupt("figures", e))
}

pub(super) fn get_key(row: &QueryResult) -> Result<String, StorageError> {
    row.try_get_by_index::<Option<String>>(0)
        .map(Option::unwrap_or_default)
        .map_err(|e| corrupt("figures", e))
}

impl ShareCounts {
    /// The key and the counts every grouping reads first, in `storage::stats`' order (the rollups' too).
    pub(super) fn from_row(row: &QueryResult) -> Result<Self, StorageError> {
        let n = |i| get_i64(row, i);
        Ok(Self {
            key: get_key(row)?,
            assignments: n(1)?,
            reported_in_on_time: n(2)?,
            led: n(3)?,
            led_with_result: n(4)?,
            led_accepted: n(5)?,
            rated: n(6)?,
            rated_satisfied: n(7)?,
            score_sum: n(8)?,
            completions: n(9)?,
            rejections: n(10)?,
            extended: n(11)?,
            returned: n(12)?,
            escalations: n(13)?,
            ..Self::default()
        })
    }
}
