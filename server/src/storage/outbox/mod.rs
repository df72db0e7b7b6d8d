//! The notification outbox: written by the loop, the deadline engine and supervision letters in the transaction of the event that causes each row, and drained by the push sender.
//!
//! The sender expands a row into one delivery per active device of its recipients, claims deliveries for a lease (see `lease`), and settles each after its attempt; a delivery given up on is a dead letter for supervisors.

mod claims;
mod settle;

use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::push::{Channel, Delivery, Settlement};
use gridwhistle_domain::{CaseId, DepartmentId, LedgerEntryId, ReportId, Timestamp};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QueryResult, QuerySelect,
};
use tracing::instrument;

use claims::{claim_due, expand, load_deliveries};
use settle::settle_in;

use super::codec::{bigint, corrupt, int, ms, parse, ts};
use super::entity::{notification, push_delivery, report};
use super::lease::Lease;
use super::multirow::insert_chunked;
use super::sql::Sql;
use super::{OutboxRepo, StorageError};
use crate::model::{EscalationRecord, EventPosition, NewNotification};

/// How many values one statement binds at most (SQLite's default limit is 32,766).
pub(super) const MAX_BINDS: usize = 10_000;

/// A stored notification kind, or the row is corrupt.
pub(super) fn kind_of(text: &str) -> Result<NoticeKind, StorageError> {
    NoticeKind::parse(text).ok_or_else(|| corrupt("push", format!("kind {text:?}")))
}

/// A stored push channel, or the row is corrupt.
pub(super) fn channel_of(text: &str) -> Result<Channel, StorageError> {
    Channel::parse(text).ok_or_else(|| corrupt("push", format!("channel {text:?}")))
}

/// A column of a raw row, or the row is corrupt.
pub(super) fn get<T: sea_orm::TryGetable>(
    row: &QueryResult,
    column: &str,
) -> Result<T, StorageError> {
    row.try_get("", column)
        .map_err(|e| corrupt("push", format!("{column}: {e}")))
}

/// What the notification read in `row` is about, from its `report_id`, `case_id` (of the report) and `entry_id` columns: the case, for its reporter the report, or the ledger entry.
pub(super) fn subject(row: &QueryResult, audience: &str) -> Result<String, StorageError> {
    let report: Option<String> = get(row, "report_id")?;
    let case: Option<String> = get(row, "case_id")?;
    let entry: Option<String> = get(row, "entry_id")?;
    match (report, case, entry) {
        (_, _, Some(entry)) => Ok(format!("ledgerEntries/{entry}")),
        (Some(_), Some(case), None) if audience != "reporter" => Ok(format!("cases/{case}")),
        (Some(report), _, None) => Ok(format!("reports/{report}")),
        (None, _, None) => Err(corrupt("push", "a notification about nothing")),
    }
}

/// The condition on `notifications n` that its deadline stage, or its ledger step's deadline, is no longer pending: nothing to push about.
pub(super) const STAGE_MET: &str = "n.stage IS NOT NULL AND ((n.entry_id IS NULL AND NOT EXISTS (\
     SELECT 1 FROM deadlines dl WHERE dl.report_id = n.report_id AND dl.department_id = n.department_id \
     AND dl.stage = n.stage AND dl.state = 'pending')) OR (n.entry_id IS NOT NULL AND NOT EXISTS (\
     SELECT 1 FROM deadlines dl WHERE dl.entry_id = n.entry_id AND dl.step = n.step \
     AND dl.state = 'pending')))";

/// What the notifications of one change are about: a report (or its case), or a step of a ledger entry's plan with the place in the event log its transaction takes ([`log_position`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    Report(&'a ReportId),
    LedgerStep {
        entry: &'a LedgerEntryId,
        step: u32,
        log: EventPosition,
    },
}

/// The place in the event log's commit order of what `txn` writes without a case event, after everything committed before it and after the horizon a stream that started earlier reads from (an event position with the notification id `~`):
/// on PostgreSQL its own transaction's id, at event 1 (readers stop below the oldest running transaction; such a transaction writes no case event);
/// on SQLite the id the next case event will have, the last one's plus one (one writer commits at a time, and a case event written later in the same commit has a later notification id).
pub(crate) async fn log_position(
    txn: &DatabaseTransaction,
    backend: super::Backend,
) -> Result<EventPosition, StorageError> {
    let sql = match backend {
        super::Backend::Postgres => {
            "SELECT (pg_current_xact_id()::text)::bigint AS txid, CAST(1 AS BIGINT) AS id"
        }
        super::Backend::Sqlite => {
            "SELECT 0 AS txid, COALESCE(MAX(id), 0) + 1 AS id FROM case_events"
        }
    };
    let mut statement = Sql::new(backend);
    statement.push(sql);
    let row = txn
        .query_one_raw(statement.build())
        .await?
        .ok_or_else(|| corrupt("push", "no position in the event log"))?;
    Ok(EventPosition {
        txid: get(&row, "txid")?,
        id: get(&row, "id")?,
    })
}

/// When a sender takes work: now, and the age past which a notification is too old to push.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub now: Timestamp,
    pub stale_before: Timestamp,
}

/// A delivery given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRecord {
    pub notification: String,
    pub kind: NoticeKind,
    pub subject: String,
    pub department: Option<DepartmentId>,
    pub audience: String,
    pub channel: Channel,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub dead_at: Timestamp,
    /// The delivery's id, for paging.
    pub id: String,
}

/// Writes the outbox rows of a change whose first event has `sequence`.
pub(super) async fn insert_notifications(
    txn: &DatabaseTransaction,
    about: Subject<'_>,
    sequence: i64,
    notifications: &[NewNotification],
    now: Timestamp,
) -> Result<(), StorageError> {
    insert_chunked(
        txn,
        notification_models(about, sequence, notifications, now)?,
    )
    .await
}

/// The outbox rows of a change whose first event (on the case's or the entry's timeline) has `sequence`, each with a fresh time-ordered id.
pub(super) fn notification_models(
    about: Subject<'_>,
    sequence: i64,
    notifications: &[NewNotification],
    now: Timestamp,
) -> Result<Vec<notification::ActiveModel>, StorageError> {
    let (report, entry, step, log) = match about {
        Subject::Report(report) => (Some(report.to_string()), None, None, None),
        Subject::LedgerStep { entry, step, log } => (
            None,
            Some(entry.to_string()),
            Some(int("step", step)?),
            Some(log),
        ),
    };
    notifications
        .iter()
        .map(|n| {
            Ok(notification::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                report_id: Set(report.clone()),
                entry_id: Set(entry.clone()),
                step: Set(step),
                log_txid: Set(log.map(|p| p.txid)),
                log_id: Set(log.map(|p| p.id)),
                department_id: Set(n.department.as_ref().map(|d| d.as_str().to_owned())),
                audience: Set(n.audience.to_owned()),
                kind: Set(n.kind.as_str().to_owned()),
                stage: Set(n.stage.map(|s| s.as_str().to_owned())),
                event_sequence: Set(sequence),
                escalation_level: Set(int("escalation_level", n.escalation_level)?),
                due_at_ms: Set(n.due_at.map(ms)),
                created_at_ms: Set(ms(now)),
                state: Set("queued".to_owned()),
                recipient_user_id: Set(n.recipient.as_ref().map(ToString::to_string)),
                claimed_by: Set(None),
                claimed_until_ms: Set(0),
            })
        })
        .collect()
}

impl OutboxRepo<'_> {
    /// Puts back `owner`'s claims from before a restart.
    pub async fn release_claims(self, owner: &str) -> Result<(), StorageError> {
        let owner = owner.to_owned();
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    push_delivery::Entity::update_many()
                        .col_expr(push_delivery::Column::ClaimedUntilMs, Expr::value(0i64))
                        .filter(push_delivery::Column::ClaimedBy.eq(owner.as_str()))
                        .filter(push_delivery::Column::State.eq("queued"))
                        .exec(txn)
                        .await?;
                    notification::Entity::update_many()
                        .col_expr(notification::Column::ClaimedUntilMs, Expr::value(0i64))
                        .filter(notification::Column::ClaimedBy.eq(owner.as_str()))
                        .filter(notification::Column::State.eq("sending"))
                        .exec(txn)
                        .await?;
                    Ok::<_, StorageError>(())
                })
            })
            .await
    }

    /// Claims deliveries for `owner` (see [`gridwhistle_dispatcher::push::OutboxStore::take`]) in one transaction: due retries and deliveries whose claim ran out first, then new notifications expanded into deliveries.
    #[instrument(skip_all, fields(limit))]
    pub async fn take(
        self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        stale_before: Timestamp,
        channels: &[Channel],
        limit: usize,
    ) -> Result<Vec<Delivery>, StorageError> {
        if channels.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // Nothing to do is the common case: answer it without a write.
        if !self.outbox_has_work(now).await? {
            return Ok(Vec::new());
        }
        let backend = self.store.backend;
        let owner = owner.to_owned();
        let channels: Vec<&'static str> = channels.iter().map(|c| c.as_str()).collect();
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let lease = Lease {
                        owner: &owner,
                        until: lease_until,
                    };
                    let retries = claim_due(txn, backend, lease, now, limit).await?;
                    let mut deliveries = load_deliveries(txn, backend, &retries, now).await?;
                    if retries.len() < limit {
                        let room = limit - retries.len();
                        let window = Window { now, stale_before };
                        let fresh = expand(txn, backend, lease, window, &channels, room).await?;
                        deliveries.extend(fresh);
                    }
                    Ok(deliveries)
                })
            })
            .await
    }

    /// Whether any notification waits to be expanded or any delivery is due.
    async fn outbox_has_work(self, now: Timestamp) -> Result<bool, StorageError> {
        let mut sql = Sql::new(self.store.backend);
        sql.push(
            "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM notifications \
             WHERE state IN ('queued', 'sending') AND (state = 'queued' OR claimed_until_ms < ",
        )
        .bind(now.as_unix_millis())
        .push(
            ")) OR EXISTS (SELECT 1 FROM push_deliveries WHERE state = 'queued' AND next_attempt_at_ms <= ",
        )
        .bind(now.as_unix_millis())
        .push(" AND claimed_until_ms < ")
        .bind(now.as_unix_millis())
        .push(") THEN 1 ELSE 0 END AS BIGINT) AS work");
        let row = self.store.db.query_one_raw(sql.build()).await?;
        match row {
            Some(row) => Ok(get::<i64>(&row, "work")? == 1),
            None => Ok(false),
        }
    }

    /// Records attempts' outcomes in one transaction: each delivery's row is written (a first attempt) or moved on (a retry) with one multi-row upsert; a device whose token was reported invalid is deactivated; and the `finished` notifications, every delivery of which is now recorded, are released.
    #[instrument(skip_all, fields(settled = settled.len()))]
    pub async fn settle(
        self,
        settled: Vec<(Delivery, Settlement)>,
        finished: Vec<String>,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let backend = self.store.backend;
        self.store
            .write(move |txn| Box::pin(settle_in(txn, backend, settled, finished, now)))
            .await
    }

    /// When the earliest queued delivery may be tried next, claims counted.
    pub async fn next_retry(self) -> Result<Option<Timestamp>, StorageError> {
        use push_delivery::Column as D;
        // A delivery claimed past its attempt time is not tried before its claim runs out.
        let tried_at = Expr::case(
            Expr::col(D::ClaimedUntilMs).gt(Expr::col(D::NextAttemptAtMs)),
            Expr::col(D::ClaimedUntilMs),
        )
        .finally(Expr::col(D::NextAttemptAtMs));
        let next: Option<Option<i64>> = push_delivery::Entity::find()
            .select_only()
            .expr(Func::min(tried_at))
            .filter(D::State.eq("queued"))
            .into_tuple()
            .one(&self.store.db)
            .await?;
        Ok(next.flatten().map(Timestamp::from_unix_millis))
    }

    /// Deliveries given up on, newest first, after the delivery id `before` when given.
    pub async fn dead_letters(
        self,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<DeadLetterRecord>, StorageError> {
        let mut sql = Sql::new(self.store.backend);
        sql.push(
            "SELECT pd.notification_id || '/' || pd.device_id AS id, pd.attempts AS attempts, pd.last_error AS last_error, \
             pd.updated_at_ms AS dead_at_ms, d.channel AS channel, n.id AS notification_id, \
             n.kind AS kind, n.audience AS audience, n.department_id AS department_id, \
             n.report_id AS report_id, r.case_id AS case_id, n.entry_id AS entry_id, \
             n.created_at_ms AS created_at_ms \
             FROM push_deliveries pd JOIN notifications n ON n.id = pd.notification_id \
             JOIN devices d ON d.id = pd.device_id LEFT JOIN reports r ON r.id = n.report_id \
             WHERE pd.state = 'dead'",
        );
        if let Some(before) = before {
            let (notification, device) = before.split_once('/').unwrap_or((before, ""));
            sql.push(" AND (pd.notification_id < ")
                .bind(notification.to_owned())
                .push(" OR (pd.notification_id = ")
                .bind(notification.to_owned())
                .push(" AND pd.device_id < ")
                .bind(device.to_owned())
                .push("))");
        }
        sql.push(" ORDER BY pd.notification_id DESC, pd.device_id DESC LIMIT ")
            .bind(bigint("limit", limit)?);
        self.store
            .db
            .query_all_raw(sql.build())
            .await?
            .iter()
            .map(|row| {
                let kind: String = get(row, "kind")?;
                let channel: String = get(row, "channel")?;
                let audience: String = get(row, "audience")?;
                let department: Option<String> = get(row, "department_id")?;
                let attempts: i32 = get(row, "attempts")?;
                Ok(DeadLetterRecord {
                    id: get(row, "id")?,
                    notification: get(row, "notification_id")?,
                    kind: kind_of(&kind)?,
                    subject: subject(row, &audience)?,
                    department: department
                        .map(|d| DepartmentId::parse(&d).map_err(|e| corrupt("push", e)))
                        .transpose()?,
                    audience,
                    channel: channel_of(&channel)?,
                    attempts: u32::try_from(attempts).map_err(|e| corrupt("push", e))?,
                    last_error: get(row, "last_error")?,
                    created_at: Timestamp::from_unix_millis(get(row, "created_at_ms")?),
                    dead_at: Timestamp::from_unix_millis(get(row, "dead_at_ms")?),
                })
            })
            .collect()
    }

    /// How many deliveries stand in each state, and how many notifications wait to be expanded: for tests and the benchmark.
    pub async fn counts(self) -> Result<Vec<(String, u64)>, StorageError> {
        let deliveries: Vec<(String, i64)> = push_delivery::Entity::find()
            .select_only()
            .column(push_delivery::Column::State)
            .column_as(push_delivery::Column::State.count(), "n")
            .group_by(push_delivery::Column::State)
            .into_tuple()
            .all(&self.store.db)
            .await?;
        let notifications: Vec<(String, i64)> = notification::Entity::find()
            .select_only()
            .column(notification::Column::State)
            .column_as(notification::Column::State.count(), "n")
            .group_by(notification::Column::State)
            .into_tuple()
            .all(&self.store.db)
            .await?;
        let mut counts = deliveries
            .into_iter()
            .map(|(state, n)| (format!("delivery:{state}"), n))
            .chain(
                notifications
                    .into_iter()
                    .map(|(state, n)| (format!("notification:{state}"), n)),
            )
            .map(|(state, n)| Ok((state, u64::try_from(n).map_err(|e| corrupt("push", e))?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        counts.sort();
        Ok(counts)
    }

    /// The escalation that event `sequence` of `report` recorded, if it was one.
    pub async fn escalation_of(
        self,
        report: &ReportId,
        sequence: i64,
    ) -> Result<Option<EscalationRecord>, StorageError> {
        let Some(n) = notification::Entity::find()
            .filter(notification::Column::ReportId.eq(report.to_string()))
            .filter(notification::Column::EventSequence.eq(sequence))
            .filter(notification::Column::Kind.eq("escalation"))
            .one(&self.store.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(case) = report::Entity::find_by_id(report.to_string())
            .one(&self.store.db)
            .await?
            .and_then(|r| r.case_id)
        else {
            return Ok(None);
        };
        Ok(Some(EscalationRecord {
            case: CaseId::parse(&case).map_err(|e| corrupt("report", e))?,
            department: n
                .department_id
                .map(|d| DepartmentId::parse(&d).map_err(|e| corrupt("notification", e)))
                .transpose()?,
            stage: n.stage.map(|s| parse("notification", &s)).transpose()?,
            audience: n.audience,
            escalation_level: u32::try_from(n.escalation_level)
                .map_err(|e| corrupt("notification", e))?,
            due_at: n.due_at_ms.map(ts),
        }))
    }

    /// The outbox rows a report's events caused, oldest first: (audience, kind, department, stage).
    pub async fn of_report(
        self,
        report: &ReportId,
    ) -> Result<Vec<(String, String, Option<String>, Option<String>)>, StorageError> {
        Ok(notification::Entity::find()
            .filter(notification::Column::ReportId.eq(report.to_string()))
            .order_by_asc(notification::Column::EventSequence)
            .order_by_asc(notification::Column::Id)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|n| (n.audience, n.kind, n.department_id, n.stage))
            .collect())
    }
}
