//! Devices, the push sender's deliveries and the in-app inbox.
//!
//! The outbox (`notifications`) is written by the loop, the deadline engine and supervision letters in the transaction of the event that causes each row.
//! The sender expands a row into one delivery per active device of its recipients, claims deliveries for a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas share the work), and settles each after its attempt.
//! The inbox is a view of the same rows: a user's entries are those addressed to their role and unit, in commit order for streams.

use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::push::{Channel, Delivery, PushMessage, Settlement};
use gridwhistle_domain::{DepartmentId, RiskGrade, Timestamp, UserId};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult, Value};
use tracing::instrument;

use super::cases::EventPosition;
use super::codec::{bigint, corrupt};
use super::sql::{Sql, text_array};
use super::{Backend, StorageError, Store};

/// How many values one statement binds at most (SQLite's default limit is 32,766).
const MAX_BINDS: usize = 10_000;

/// A stored notification kind, or the row is corrupt.
fn kind_of(text: &str) -> Result<NoticeKind, StorageError> {
    NoticeKind::parse(text).ok_or_else(|| corrupt("push", format!("kind {text:?}")))
}

/// A stored push channel, or the row is corrupt.
fn channel_of(text: &str) -> Result<Channel, StorageError> {
    Channel::parse(text).ok_or_else(|| corrupt("push", format!("channel {text:?}")))
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T, StorageError> {
    row.try_get("", column)
        .map_err(|e| corrupt("push", format!("{column}: {e}")))
}

/// A device as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: String,
    pub user: UserId,
    pub platform: String,
    pub channel: Channel,
    pub app_version: String,
    pub locale: String,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A device to register; the token is a credential to the phone and never printed.
#[derive(Clone)]
pub struct NewDevice {
    pub id: String,
    pub push_token: String,
    pub platform: String,
    pub channel: Channel,
    pub app_version: String,
    pub locale: String,
}

impl std::fmt::Debug for NewDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDevice")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// Whose inbox: the audience a user belongs to by their role and unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxScope {
    DutyOfficers(DepartmentId),
    DepartmentHead(DepartmentId),
    Supervisors,
    /// A grid worker: the notifications about their own reports.
    Reporter(UserId),
    /// Nobody addresses admins.
    Nobody,
}

impl InboxScope {
    /// The `WHERE` condition on `notifications n` selecting this scope's rows.
    fn condition(&self, sql: &mut Sql) {
        match self {
            InboxScope::DutyOfficers(d) => {
                sql.push("n.audience = 'duty_officers' AND n.department_id = ")
                    .bind(d.as_str());
            }
            InboxScope::DepartmentHead(d) => {
                sql.push("n.audience = 'department_head' AND n.department_id = ")
                    .bind(d.as_str());
            }
            InboxScope::Supervisors => {
                sql.push("n.audience IN ('supervisors', 'district_leader')");
            }
            InboxScope::Reporter(user) => {
                sql.push("n.audience = 'reporter' AND n.recipient_user_id = ")
                    .bind(user.to_string());
            }
            InboxScope::Nobody => {
                sql.push("1 = 0");
            }
        }
    }
}

/// One inbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    pub kind: NoticeKind,
    /// "cases/{case}" or "reports/{report}".
    pub subject: String,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
    /// Where it stands in commit order, for streams; its `id` is the notification's.
    pub position: InboxPosition,
}

/// A stream position: the causing event's position, then the notification's id among that event's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InboxPosition {
    pub event: EventPosition,
    pub id: String,
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

/// What every inbox query reads: the notification `n` with the event `e` that caused it and its report `r`.
const ENTRY_SELECT: &str = "SELECT n.id AS id, n.kind AS kind, n.audience AS audience, \
     n.report_id AS report_id, r.case_id AS case_id, n.created_at_ms AS created_at_ms, \
     e.txid AS txid, e.id AS event_id";
const ENTRY_FROM: &str = " FROM notifications n \
     JOIN case_events e ON e.report_id = n.report_id AND e.sequence = n.event_sequence \
     JOIN reports r ON r.id = n.report_id";

fn subject(audience: &str, report: &str, case: Option<String>) -> String {
    match case {
        Some(case) if audience != "reporter" => format!("cases/{case}"),
        _ => format!("reports/{report}"),
    }
}

fn entry(row: &QueryResult, read_at: Option<i64>) -> Result<InboxEntry, StorageError> {
    let kind: String = get(row, "kind")?;
    let audience: String = get(row, "audience")?;
    let report: String = get(row, "report_id")?;
    Ok(InboxEntry {
        kind: kind_of(&kind)?,
        subject: subject(&audience, &report, get(row, "case_id")?),
        created_at: Timestamp::from_unix_millis(get(row, "created_at_ms")?),
        read_at: read_at.map(Timestamp::from_unix_millis),
        position: InboxPosition {
            event: EventPosition {
                txid: get(row, "txid")?,
                id: get(row, "event_id")?,
            },
            id: get(row, "id")?,
        },
    })
}

fn device_from(row: &QueryResult) -> Result<DeviceRecord, StorageError> {
    let channel: String = get(row, "channel")?;
    let user: String = get(row, "user_id")?;
    Ok(DeviceRecord {
        id: get(row, "id")?,
        user: UserId::parse(&user).map_err(|e| corrupt("push", e))?,
        platform: get(row, "platform")?,
        channel: channel_of(&channel)?,
        app_version: get(row, "app_version")?,
        locale: get(row, "locale")?,
        active: get(row, "active")?,
        created_at: Timestamp::from_unix_millis(get(row, "created_at_ms")?),
        updated_at: Timestamp::from_unix_millis(get(row, "updated_at_ms")?),
    })
}

/// The condition on `notifications n` that its deadline stage is no longer pending: nothing to push about.
const STAGE_MET: &str = "n.stage IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deadlines dl \
     WHERE dl.report_id = n.report_id AND dl.department_id = n.department_id \
     AND dl.stage = n.stage AND dl.state = 'pending')";

impl Store {
    /// Registers `device` for `user`, or refreshes it: idempotent on the device's id.
    ///
    /// An installation that changes hands (another user logs in on the phone) moves to the new user, and any other installation holding the same token is deactivated, so a push reaches one user's phone once.
    #[instrument(skip_all, fields(device = %device.id))]
    pub async fn register_device(
        &self,
        user: &UserId,
        device: NewDevice,
        now: Timestamp,
    ) -> Result<DeviceRecord, StorageError> {
        let backend = self.backend;
        let user = user.to_string();
        self.write(move |txn| {
            Box::pin(async move {
                let mut sql = Sql::new(backend);
                sql.push("UPDATE devices SET active = FALSE, updated_at_ms = ")
                    .bind(now.as_unix_millis())
                    .push(" WHERE channel = ")
                    .bind(device.channel.as_str())
                    .push(" AND push_token = ")
                    .bind(device.push_token.clone())
                    .push(" AND id <> ")
                    .bind(device.id.clone())
                    .push(" AND active");
                txn.execute_raw(sql.build()).await?;
                let mut sql = Sql::new(backend);
                sql.push(
                    "INSERT INTO devices (id, user_id, push_token, platform, channel, app_version, \
                     locale, active, created_at_ms, updated_at_ms) VALUES (",
                )
                .bind(device.id.clone())
                .push(", ")
                .bind(user)
                .push(", ")
                .bind(device.push_token)
                .push(", ")
                .bind(device.platform)
                .push(", ")
                .bind(device.channel.as_str())
                .push(", ")
                .bind(device.app_version)
                .push(", ")
                .bind(device.locale)
                .push(", TRUE, ")
                .bind(now.as_unix_millis())
                .push(", ")
                .bind(now.as_unix_millis())
                .push(
                    ") ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, \
                     push_token = excluded.push_token, platform = excluded.platform, \
                     channel = excluded.channel, app_version = excluded.app_version, \
                     locale = excluded.locale, active = TRUE, updated_at_ms = excluded.updated_at_ms \
                     RETURNING *",
                );
                let row = txn
                    .query_one_raw(sql.build())
                    .await?
                    .ok_or_else(|| corrupt("push", "upsert returned no row"))?;
                device_from(&row)
            })
        })
        .await
    }

    /// Removes `user`'s device; another user's device, or none, is `NotFound`.
    #[instrument(skip_all, fields(device = %id))]
    pub async fn unregister_device(&self, user: &UserId, id: &str) -> Result<(), StorageError> {
        let mut sql = Sql::new(self.backend);
        sql.push("DELETE FROM devices WHERE id = ")
            .bind(id.to_owned())
            .push(" AND user_id = ")
            .bind(user.to_string());
        let statement = sql.build();
        let deleted = self
            .write(move |txn| {
                Box::pin(async move {
                    Ok::<_, StorageError>(txn.execute_raw(statement).await?.rows_affected())
                })
            })
            .await?;
        if deleted == 0 {
            return Err(StorageError::NotFound { entity: "device" });
        }
        Ok(())
    }

    /// `user`'s devices, by id.
    pub async fn devices_of(&self, user: &UserId) -> Result<Vec<DeviceRecord>, StorageError> {
        let mut sql = Sql::new(self.backend);
        sql.push("SELECT * FROM devices WHERE user_id = ")
            .bind(user.to_string())
            .push(" ORDER BY id");
        self.db
            .query_all_raw(sql.build())
            .await?
            .iter()
            .map(device_from)
            .collect()
    }

    /// The newest entries of `scope`'s inbox as `user` has read it, older than `before` (a notification id) when given; and how many are unread in all.
    #[instrument(skip_all, fields(limit))]
    pub async fn inbox(
        &self,
        user: &UserId,
        scope: &InboxScope,
        unread_only: bool,
        before: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<InboxEntry>, u64), StorageError> {
        let mut sql = Sql::new(self.backend);
        sql.push(ENTRY_SELECT)
            .push(", nr.read_at_ms AS read_at_ms")
            .push(ENTRY_FROM)
            .push(" LEFT JOIN notification_reads nr ON nr.notification_id = n.id AND nr.user_id = ")
            .bind(user.to_string())
            .push(" WHERE ");
        scope.condition(&mut sql);
        if unread_only {
            sql.push(" AND nr.read_at_ms IS NULL");
        }
        if let Some(before) = before {
            sql.push(" AND n.id < ").bind(before.to_owned());
        }
        sql.push(" ORDER BY n.id DESC LIMIT ")
            .bind(bigint("limit", limit)?);
        let entries = self
            .db
            .query_all_raw(sql.build())
            .await?
            .iter()
            .map(|row| entry(row, get(row, "read_at_ms")?))
            .collect::<Result<Vec<_>, _>>()?;

        let mut sql = Sql::new(self.backend);
        sql.push(
            "SELECT COUNT(*) AS unread FROM notifications n \
             LEFT JOIN notification_reads nr ON nr.notification_id = n.id AND nr.user_id = ",
        )
        .bind(user.to_string())
        .push(" WHERE ");
        scope.condition(&mut sql);
        sql.push(" AND nr.read_at_ms IS NULL");
        let unread: i64 = match self.db.query_one_raw(sql.build()).await? {
            Some(row) => get(&row, "unread")?,
            None => 0,
        };
        Ok((entries, u64::try_from(unread).unwrap_or(0)))
    }

    /// Marks read the entries of `scope`'s inbox named in `ids` and, with `all_before`, every entry created before it; ids outside the inbox are ignored. Answers how many were newly marked.
    #[instrument(skip_all, fields(ids = ids.len()))]
    pub async fn mark_read(
        &self,
        user: &UserId,
        scope: &InboxScope,
        ids: Vec<String>,
        all_before: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<u64, StorageError> {
        let backend = self.backend;
        let user = user.to_string();
        let scope = scope.clone();
        self.write(move |txn| {
            Box::pin(async move {
                let mut marked = 0;
                for chunk in ids.chunks(MAX_BINDS) {
                    marked += mark(txn, backend, &user, &scope, Some(chunk), None, now).await?;
                }
                if let Some(before) = all_before {
                    marked += mark(txn, backend, &user, &scope, None, Some(before), now).await?;
                }
                Ok::<_, StorageError>(marked)
            })
        })
        .await
    }

    /// Entries of `scope`'s inbox after `after`, in commit order, at most `limit`.
    ///
    /// Each entry takes its causing event's position (written in the same transaction), so the event log's commit-order guarantee carries over: on PostgreSQL only transactions older than every running one are read.
    pub async fn inbox_after(
        &self,
        scope: &InboxScope,
        after: &InboxPosition,
        limit: u64,
    ) -> Result<Vec<InboxEntry>, StorageError> {
        let mut sql = Sql::new(self.backend);
        sql.push(ENTRY_SELECT).push(ENTRY_FROM).push(" WHERE ");
        scope.condition(&mut sql);
        match self.backend {
            Backend::Sqlite => {
                sql.push(" AND (e.id > ")
                    .bind(after.event.id)
                    .push(" OR (e.id = ")
                    .bind(after.event.id)
                    .push(" AND n.id > ")
                    .bind(after.id.clone())
                    .push(")) ORDER BY e.id, n.id");
            }
            Backend::Postgres => {
                sql.push(" AND (e.txid > ")
                    .bind(after.event.txid)
                    .push(" OR (e.txid = ")
                    .bind(after.event.txid)
                    .push(" AND (e.id > ")
                    .bind(after.event.id)
                    .push(" OR (e.id = ")
                    .bind(after.event.id)
                    .push(" AND n.id > ")
                    .bind(after.id.clone())
                    .push("))))")
                    .push(" AND e.txid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
                    .push(" ORDER BY e.txid, e.id, n.id");
            }
        }
        sql.push(" LIMIT ").bind(bigint("limit", limit)?);
        self.db
            .query_all_raw(sql.build())
            .await?
            .iter()
            .map(|row| entry(row, None))
            .collect()
    }

    /// Puts back `owner`'s claims from before a restart.
    pub async fn release_push_claims(&self, owner: &str) -> Result<(), StorageError> {
        let mut deliveries = Sql::new(self.backend);
        deliveries
            .push("UPDATE push_deliveries SET claimed_until_ms = 0 WHERE claimed_by = ")
            .bind(owner.to_owned())
            .push(" AND state = 'queued'");
        let deliveries = deliveries.build();
        let mut notifications = Sql::new(self.backend);
        notifications
            .push("UPDATE notifications SET claimed_until_ms = 0 WHERE claimed_by = ")
            .bind(owner.to_owned())
            .push(" AND state = 'sending'");
        let notifications = notifications.build();
        self.write(move |txn| {
            Box::pin(async move {
                txn.execute_raw(deliveries).await?;
                txn.execute_raw(notifications).await?;
                Ok::<_, StorageError>(())
            })
        })
        .await
    }

    /// Claims deliveries for `owner` (see [`gridwhistle_dispatcher::push::OutboxStore::take`]) in one transaction: due retries and deliveries whose claim ran out first, then new notifications expanded into deliveries.
    #[instrument(skip_all, fields(limit))]
    pub async fn take_deliveries(
        &self,
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
        let backend = self.backend;
        let owner = owner.to_owned();
        let channels: Vec<&'static str> = channels.iter().map(|c| c.as_str()).collect();
        self.write(move |txn| {
            Box::pin(async move {
                let retries = claim_due(txn, backend, &owner, now, lease_until, limit).await?;
                let mut deliveries = load_deliveries(txn, backend, &retries, now).await?;
                if retries.len() < limit {
                    let room = limit - retries.len();
                    let fresh = expand(
                        txn,
                        backend,
                        &owner,
                        now,
                        lease_until,
                        stale_before,
                        &channels,
                        room,
                    )
                    .await?;
                    deliveries.extend(fresh);
                }
                Ok(deliveries)
            })
        })
        .await
    }

    /// Whether any notification waits to be expanded or any delivery is due.
    async fn outbox_has_work(&self, now: Timestamp) -> Result<bool, StorageError> {
        let mut sql = Sql::new(self.backend);
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
        let row = self.db.query_one_raw(sql.build()).await?;
        match row {
            Some(row) => Ok(get::<i64>(&row, "work")? == 1),
            None => Ok(false),
        }
    }

    /// Records attempts' outcomes in one transaction: each delivery's row is written (a first attempt) or moved on (a retry) with one multi-row upsert; a device whose token was reported invalid is deactivated; and the `finished` notifications, every delivery of which is now recorded, are released.
    #[instrument(skip_all, fields(settled = settled.len()))]
    pub async fn settle_deliveries(
        &self,
        settled: Vec<(Delivery, Settlement)>,
        finished: Vec<String>,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let backend = self.backend;
        self.write(move |txn| {
            Box::pin(async move {
                let mut invalid = Vec::new();
                let mut rows = Vec::with_capacity(settled.len());
                for (delivery, settlement) in settled {
                    let (state, next_attempt, error) = match settlement {
                        Settlement::Sent => ("sent", now, None),
                        Settlement::TokenInvalid => {
                            invalid.push(delivery.device.clone());
                            ("dropped", now, Some("UNREGISTERED".to_owned()))
                        }
                        Settlement::Rejected { reason } => ("dropped", now, Some(reason)),
                        Settlement::Dead { reason } => ("dead", now, Some(reason)),
                        Settlement::Retry { at, reason } => ("queued", at, Some(reason)),
                    };
                    rows.push(Outcome {
                        notification: delivery.message.notification,
                        device: delivery.device,
                        state,
                        next_attempt,
                        error,
                    });
                }
                // Five values a row on SQLite: well under its limit on binds per statement.
                for chunk in rows.chunks(MAX_BINDS / 5) {
                    record(txn, backend, chunk, now).await?;
                }
                for chunk in invalid.chunks(MAX_BINDS) {
                    let mut sql = Sql::new(backend);
                    sql.push("UPDATE devices SET active = FALSE, updated_at_ms = ")
                        .bind(now.as_unix_millis())
                        .push(" WHERE id IN ")
                        .list(chunk.iter().cloned());
                    txn.execute_raw(sql.build()).await?;
                }
                for chunk in finished.chunks(MAX_BINDS) {
                    let mut sql = Sql::new(backend);
                    sql.push(
                        "UPDATE notifications SET state = 'expanded', claimed_by = NULL \
                         WHERE state = 'sending' AND id",
                    )
                    .any(chunk.iter().cloned());
                    txn.execute_raw(sql.build()).await?;
                }
                Ok::<_, StorageError>(())
            })
        })
        .await
    }

    /// When the earliest queued delivery may be tried next, claims counted.
    pub async fn next_push_retry(&self) -> Result<Option<Timestamp>, StorageError> {
        let row = self
            .db
            .query_one_raw(Sql::text(
                self.backend,
                "SELECT MIN(CASE WHEN claimed_until_ms > next_attempt_at_ms THEN claimed_until_ms \
                 ELSE next_attempt_at_ms END) AS next FROM push_deliveries WHERE state = 'queued'",
            ))
            .await?;
        let next: Option<i64> = match row {
            Some(row) => get(&row, "next")?,
            None => None,
        };
        Ok(next.map(Timestamp::from_unix_millis))
    }

    /// Deliveries given up on, newest first, after the delivery id `before` when given.
    pub async fn dead_letters(
        &self,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<DeadLetterRecord>, StorageError> {
        let mut sql = Sql::new(self.backend);
        sql.push(
            "SELECT pd.notification_id || '/' || pd.device_id AS id, pd.attempts AS attempts, pd.last_error AS last_error, \
             pd.updated_at_ms AS dead_at_ms, d.channel AS channel, n.id AS notification_id, \
             n.kind AS kind, n.audience AS audience, n.department_id AS department_id, \
             n.report_id AS report_id, r.case_id AS case_id, n.created_at_ms AS created_at_ms \
             FROM push_deliveries pd JOIN notifications n ON n.id = pd.notification_id \
             JOIN devices d ON d.id = pd.device_id JOIN reports r ON r.id = n.report_id \
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
        self.db
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
                    subject: subject(
                        &audience,
                        &get::<String>(row, "report_id")?,
                        get(row, "case_id")?,
                    ),
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
    pub async fn push_counts(&self) -> Result<Vec<(String, u64)>, StorageError> {
        let rows = self
            .db
            .query_all_raw(Sql::text(
                self.backend,
                "SELECT 'delivery:' || state AS state, COUNT(*) AS n FROM push_deliveries GROUP BY state \
                 UNION ALL SELECT 'notification:' || state AS state, COUNT(*) AS n FROM notifications GROUP BY state \
                 ORDER BY state",
            ))
            .await?;
        rows.iter()
            .map(|row| {
                let n: i64 = get(row, "n")?;
                Ok((get(row, "state")?, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }
}

/// Marks read, for `user`, the entries of `scope` named by `ids` or created before `before`.
async fn mark(
    txn: &DatabaseTransaction,
    backend: Backend,
    user: &str,
    scope: &InboxScope,
    ids: Option<&[String]>,
    before: Option<Timestamp>,
    now: Timestamp,
) -> Result<u64, StorageError> {
    let mut sql = Sql::new(backend);
    sql.push("INSERT INTO notification_reads (user_id, notification_id, read_at_ms) SELECT ")
        .bind(user.to_owned())
        .push(", n.id, ")
        .bind(now.as_unix_millis())
        .push(" FROM notifications n WHERE ");
    scope.condition(&mut sql);
    if let Some(ids) = ids {
        if ids.is_empty() {
            return Ok(0);
        }
        sql.push(" AND n.id IN ").list(ids.iter().cloned());
    }
    if let Some(before) = before {
        sql.push(" AND n.created_at_ms < ")
            .bind(before.as_unix_millis());
    }
    sql.push(" ON CONFLICT (user_id, notification_id) DO NOTHING");
    Ok(txn.execute_raw(sql.build()).await?.rows_affected())
}

/// How a delivery's row is written: inserted with its first outcome, or moved on from `queued` by a retry's.
const RECORD_CONFLICT: &str = " ON CONFLICT (notification_id, device_id) DO UPDATE SET state = excluded.state, \
     next_attempt_at_ms = excluded.next_attempt_at_ms, last_error = excluded.last_error, \
     attempts = push_deliveries.attempts + 1, claimed_by = NULL, claimed_until_ms = 0, \
     updated_at_ms = excluded.updated_at_ms WHERE push_deliveries.state = 'queued'";

/// One attempt's outcome, as its delivery's row records it.
struct Outcome {
    notification: String,
    device: String,
    state: &'static str,
    next_attempt: Timestamp,
    error: Option<String>,
}

/// Writes the outcome rows `rows`: one multi-row `VALUES` on SQLite; on PostgreSQL one `UNNEST` of five arrays, a statement whose text (and prepared plan) is the same for every batch.
async fn record(
    txn: &DatabaseTransaction,
    backend: Backend,
    rows: &[Outcome],
    now: Timestamp,
) -> Result<(), StorageError> {
    const COLUMNS: &str = "INSERT INTO push_deliveries (notification_id, device_id, state, \
         next_attempt_at_ms, last_error, attempts, claimed_by, claimed_until_ms, \
         created_at_ms, updated_at_ms) ";
    let mut sql = Sql::new(backend);
    sql.push(COLUMNS);
    match backend {
        Backend::Sqlite => {
            sql.push("VALUES ");
            // The time is written inline: it is a number, and every row shares it.
            let at = now.as_unix_millis().to_string();
            for (r, row) in rows.iter().enumerate() {
                sql.push(if r == 0 { "(" } else { ", (" })
                    .bind(row.notification.clone())
                    .push(", ")
                    .bind(row.device.clone())
                    .push(", ")
                    .bind(row.state)
                    .push(", ")
                    .bind(row.next_attempt.as_unix_millis())
                    .push(", ")
                    .bind(row.error.clone())
                    .push(", 1, NULL, 0, ")
                    .push(&at)
                    .push(", ")
                    .push(&at)
                    .push(")");
            }
        }
        Backend::Postgres => {
            let texts = |f: fn(&Outcome) -> String| text_array(rows.iter().map(f));
            let times = Value::Array(
                sea_orm::sea_query::ArrayType::BigInt,
                Some(Box::new(
                    rows.iter()
                        .map(|r| Value::from(r.next_attempt.as_unix_millis()))
                        .collect(),
                )),
            );
            // A text[] cannot hold NULL through sea-query: no error travels as '' and is turned back by NULLIF.
            sql.push("SELECT n, d, s, a, NULLIF(e, ''), 1, NULL, 0, ")
                .bind(now.as_unix_millis())
                .push(", ")
                .bind(now.as_unix_millis())
                .push(" FROM UNNEST(")
                .bind(texts(|r| r.notification.clone()))
                .push("::text[], ")
                .bind(texts(|r| r.device.clone()))
                .push("::text[], ")
                .bind(texts(|r| r.state.to_owned()))
                .push("::text[], ")
                .bind(times)
                .push("::bigint[], ")
                .bind(texts(|r| r.error.clone().unwrap_or_default()))
                .push("::text[]) AS t(n, d, s, a, e) WHERE TRUE");
        }
    }
    sql.push(RECORD_CONFLICT);
    txn.execute_raw(sql.build()).await?;
    Ok(())
}

/// Claims queued deliveries that are due and not claimed (retries, and those whose sender died); answers their keys (notification, device).
async fn claim_due(
    txn: &DatabaseTransaction,
    backend: Backend,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Vec<(String, String)>, StorageError> {
    let mut sql = Sql::new(backend);
    sql.push("UPDATE push_deliveries SET claimed_by = ")
        .bind(owner.to_owned())
        .push(", claimed_until_ms = ")
        .bind(lease_until.as_unix_millis())
        .push(
            " WHERE (notification_id, device_id) IN (SELECT notification_id, device_id \
             FROM push_deliveries WHERE state = 'queued' AND next_attempt_at_ms <= ",
        )
        .bind(now.as_unix_millis())
        .push(" AND claimed_until_ms < ")
        .bind(now.as_unix_millis())
        .push(" ORDER BY next_attempt_at_ms LIMIT ")
        .bind(bigint("limit", limit)?);
    if backend == Backend::Postgres {
        sql.push(" FOR UPDATE SKIP LOCKED");
    }
    sql.push(") RETURNING notification_id, device_id");
    txn.query_all_raw(sql.build())
        .await?
        .iter()
        .map(|row| Ok((get(row, "notification_id")?, get(row, "device_id")?)))
        .collect()
}

/// Claims up to `room` notifications that wait to be pushed (queued, or claimed by a sender whose lease ran out) and answers their deliveries, one per active device of their recipients on `channels` that has no delivery recorded yet.
///
/// A notification too old to push becomes `expired`, one whose stage was met `skipped`, and one with nobody to push to `expanded` at once; the rest stay `sending`, claimed for the lease, until the sender records every one of their deliveries. No delivery row is written here: each is written once, with its outcome.
#[allow(clippy::too_many_arguments)]
async fn expand(
    txn: &DatabaseTransaction,
    backend: Backend,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
    stale_before: Timestamp,
    channels: &[&'static str],
    room: usize,
) -> Result<Vec<Delivery>, StorageError> {
    let mut sql = Sql::new(backend);
    sql.push(
        // `state IN (…)` first: it is the condition of the partial index of unsent rows, so the read never walks the sent history.
        "SELECT id, state FROM notifications WHERE state IN ('queued', 'sending') \
         AND (state = 'queued' OR claimed_until_ms < ",
    )
    .bind(now.as_unix_millis())
    .push(") ORDER BY id LIMIT ")
    .bind(bigint("limit", room)?);
    if backend == Backend::Postgres {
        sql.push(" FOR UPDATE SKIP LOCKED");
    }
    let rows = txn.query_all_raw(sql.build()).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::with_capacity(rows.len());
    // Claimed before by a sender that died: some of their deliveries may be recorded already.
    let mut reclaimed = Vec::new();
    for row in &rows {
        let id: String = get(row, "id")?;
        if get::<String>(row, "state")? == "sending" {
            reclaimed.push(id.clone());
        }
        ids.push(id);
    }
    let mut sql = Sql::new(backend);
    sql.push("UPDATE notifications SET claimed_by = ")
        .bind(owner.to_owned())
        .push(", claimed_until_ms = ")
        .bind(lease_until.as_unix_millis())
        .push(", state = CASE WHEN created_at_ms < ")
        .bind(stale_before.as_unix_millis())
        .push(" THEN 'expired' WHEN EXISTS (SELECT 1 FROM notifications n WHERE n.id = notifications.id AND ")
        .push(STAGE_MET)
        .push(") THEN 'skipped' ELSE 'sending' END WHERE id")
        .any(ids.iter().cloned());
    txn.execute_raw(sql.build()).await?;

    let fresh: Vec<String> = ids
        .iter()
        .filter(|id| !reclaimed.contains(id))
        .cloned()
        .collect();
    let mut deliveries = recipients(txn, backend, channels, &fresh, false).await?;
    if !reclaimed.is_empty() {
        deliveries.extend(recipients(txn, backend, channels, &reclaimed, true).await?);
    }
    // Nobody to push to: done already.
    let reached: std::collections::HashSet<&str> = deliveries
        .iter()
        .map(|d| d.message.notification.as_str())
        .collect();
    let idle: Vec<String> = ids
        .iter()
        .filter(|id| !reached.contains(id.as_str()))
        .cloned()
        .collect();
    if !idle.is_empty() {
        let mut sql = Sql::new(backend);
        sql.push("UPDATE notifications SET state = 'expanded', claimed_by = NULL WHERE state = 'sending' AND id")
            .any(idle);
        txn.execute_raw(sql.build()).await?;
    }
    Ok(deliveries)
}

/// One delivery per active device of the recipients of `notifications` (claimed, `sending`) on `channels`; with `unrecorded_only`, leaving out devices whose delivery is already recorded.
async fn recipients(
    txn: &DatabaseTransaction,
    backend: Backend,
    channels: &[&'static str],
    notifications: &[String],
    unrecorded_only: bool,
) -> Result<Vec<Delivery>, StorageError> {
    if notifications.is_empty() {
        return Ok(Vec::new());
    }
    // Recipients by audience, one indexed join each: the duty officers or head of the notification's department, every supervisor, or the one grid worker.
    const AUDIENCES: [(&str, &str); 3] = [
        (
            "u.department_id = n.department_id AND u.role = \
             CASE n.audience WHEN 'duty_officers' THEN 'duty_officer' ELSE 'department_head' END",
            "n.audience IN ('duty_officers', 'department_head')",
        ),
        (
            "u.role = 'supervisor'",
            "n.audience IN ('supervisors', 'district_leader')",
        ),
        ("u.id = n.recipient_user_id", "n.audience = 'reporter'"),
    ];
    let mut sql = Sql::new(backend);
    sql.push(
        "SELECT n.id AS notification_id, n.kind AS kind, n.audience AS audience, n.stage AS stage, \
         n.report_id AS report_id, r.case_id AS case_id, r.risk_grade AS risk_grade \
         FROM notifications n JOIN reports r ON r.id = n.report_id WHERE n.id",
    )
    .any(notifications.iter().cloned());
    let mut notices = std::collections::HashMap::with_capacity(notifications.len());
    for row in txn.query_all_raw(sql.build()).await? {
        notices.insert(get::<String>(&row, "notification_id")?, notice_from(&row)?);
    }

    // The per-device part, one row per notification: its devices' id, token, channel and locale, joined by tabs and newlines (none of them may hold either), since handing rows over costs more than the bytes in them.
    let mut sql = Sql::new(backend);
    sql.push("SELECT nid, ").push(match backend {
        Backend::Sqlite => "group_concat(device, char(10))",
        Backend::Postgres => "string_agg(device, chr(10))",
    });
    sql.push(" FROM (");
    for (i, (join, audience)) in AUDIENCES.iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        let tab = tab(backend);
        sql.push("SELECT n.id AS nid, d.id || ")
            .push(tab)
            .push(" || d.push_token || ")
            .push(tab)
            .push(" || d.channel || ")
            .push(tab)
            .push(" || d.locale AS device FROM notifications n JOIN users u ON ")
            .push(join)
            .push(" JOIN devices d ON d.user_id = u.id WHERE ")
            .push(audience)
            .push(" AND n.state = 'sending' AND NOT u.disabled AND d.active AND d.channel IN ")
            .list(channels.iter().copied())
            .push(" AND n.id")
            .any(notifications.iter().cloned());
        if unrecorded_only {
            sql.push(
                " AND NOT EXISTS (SELECT 1 FROM push_deliveries pd \
                 WHERE pd.notification_id = n.id AND pd.device_id = d.id)",
            );
        }
    }
    sql.push(") AS recipients GROUP BY nid");
    let mut deliveries = Vec::new();
    for row in txn.query_all_raw(sql.build()).await? {
        let at = |i: usize| -> Result<String, StorageError> {
            row.try_get_by_index(i)
                .map_err(|e| corrupt("push", format!("recipient column {i}: {e}")))
        };
        let notification = at(0)?;
        let notice = notices
            .get(&notification)
            .ok_or_else(|| corrupt("push", "a recipient of an unread notification"))?;
        for device in at(1)?.split('\n') {
            let mut fields = device.split('\t');
            let (Some(id), Some(token), Some(channel), Some(locale)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(corrupt(
                    "push",
                    "a recipient device without its four fields",
                ));
            };
            deliveries.push(delivery(
                notification.clone(),
                notice,
                id.to_owned(),
                token.to_owned(),
                channel,
                locale,
                0,
            )?);
        }
    }
    Ok(deliveries)
}

/// A tab, in each database's SQL.
fn tab(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "char(9)",
        Backend::Postgres => "chr(9)",
    }
}

/// What a delivery needs besides its id, device and attempts, from `notifications n`, `devices d` and `reports r`.
const DELIVERY_COLUMNS: &str = "d.push_token AS push_token, d.channel AS channel, d.locale AS locale, \
     n.id AS notification_id, n.kind AS kind, n.audience AS audience, n.stage AS stage, \
     n.report_id AS report_id, r.case_id AS case_id, r.risk_grade AS risk_grade";

/// Reads what claimed retries need to be sent; those whose stage was met since they were queued, or whose device was deactivated, are settled as skipped and left out.
async fn load_deliveries(
    txn: &DatabaseTransaction,
    backend: Backend,
    claimed: &[(String, String)],
    now: Timestamp,
) -> Result<Vec<Delivery>, StorageError> {
    let mut deliveries = Vec::with_capacity(claimed.len());
    for chunk in claimed.chunks(MAX_BINDS / 2) {
        skip_stale(txn, backend, chunk, now).await?;
        let mut sql = Sql::new(backend);
        sql.push("SELECT pd.device_id AS device_id, pd.attempts AS attempts, ")
            .push(DELIVERY_COLUMNS)
            .push(
                " FROM push_deliveries pd JOIN notifications n ON n.id = pd.notification_id \
                 JOIN devices d ON d.id = pd.device_id JOIN reports r ON r.id = n.report_id \
                 WHERE pd.state = 'queued' AND (pd.notification_id, pd.device_id) IN ",
            )
            .keys(chunk)
            .push(" ORDER BY pd.notification_id, pd.device_id");
        for row in txn.query_all_raw(sql.build()).await? {
            deliveries.push(delivery_from(&row)?);
        }
    }
    Ok(deliveries)
}

/// Settles as `skipped` those of `keys` whose stage was met or whose device was deactivated since they were queued.
async fn skip_stale(
    txn: &DatabaseTransaction,
    backend: Backend,
    keys: &[(String, String)],
    now: Timestamp,
) -> Result<(), StorageError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new(backend);
    sql.push("UPDATE push_deliveries SET state = 'skipped', claimed_by = NULL, updated_at_ms = ")
        .bind(now.as_unix_millis())
        .push(
            " WHERE (notification_id, device_id) IN (SELECT pd.notification_id, pd.device_id \
             FROM push_deliveries pd JOIN notifications n ON n.id = pd.notification_id \
             JOIN devices d ON d.id = pd.device_id WHERE (pd.notification_id, pd.device_id) IN ",
        )
        .keys(keys)
        .push(" AND (NOT d.active OR (")
        .push(STAGE_MET)
        .push(")))");
    txn.execute_raw(sql.build()).await?;
    Ok(())
}

/// What every push of one notification shares.
struct Notice {
    kind: NoticeKind,
    subject: String,
    collapse_key: String,
    urgent: bool,
}

/// A notification's shared part, from the columns `kind`, `audience`, `stage`, `report_id`, `case_id` and `risk_grade`.
fn notice_from(row: &QueryResult) -> Result<Notice, StorageError> {
    let kind: String = get(row, "kind")?;
    let kind = kind_of(&kind)?;
    let audience: String = get(row, "audience")?;
    let report: String = get(row, "report_id")?;
    let case: Option<String> = get(row, "case_id")?;
    let stage: Option<String> = get(row, "stage")?;
    let grade: Option<String> = get(row, "risk_grade")?;
    let grade_a = grade
        .as_deref()
        .and_then(|g| g.parse::<RiskGrade>().ok())
        .is_some_and(|g| g == RiskGrade::A);
    let subject = subject(&audience, &report, case);
    // One slot per subject and stage (or kind) on the phone: a repeat replaces, a different matter stacks.
    let collapse_key = format!(
        "{}/{}",
        subject.rsplit('/').next().unwrap_or_default(),
        stage.as_deref().unwrap_or(kind.as_str())
    );
    Ok(Notice {
        kind,
        subject,
        collapse_key,
        urgent: grade_a || kind.always_urgent(),
    })
}

/// One device's delivery of `notice`.
#[allow(clippy::too_many_arguments)]
fn delivery(
    notification: String,
    notice: &Notice,
    device: String,
    token: String,
    channel: &str,
    locale: &str,
    attempts: u32,
) -> Result<Delivery, StorageError> {
    let channel = channel_of(channel)?;
    let (title, body) = notice
        .kind
        .generic_text(locale.is_empty() || locale.starts_with("zh"));
    Ok(Delivery {
        id: format!("{notification}/{device}"),
        device,
        channel,
        attempts,
        message: PushMessage {
            token,
            notification,
            kind: notice.kind,
            subject: notice.subject.clone(),
            collapse_key: notice.collapse_key.clone(),
            urgent: notice.urgent,
            title,
            body,
        },
    })
}

/// A retry's delivery, from a row with the notification's columns and the device's.
fn delivery_from(row: &QueryResult) -> Result<Delivery, StorageError> {
    let notice = notice_from(row)?;
    let attempts: i32 = get(row, "attempts")?;
    delivery(
        get(row, "notification_id")?,
        &notice,
        get(row, "device_id")?,
        get(row, "push_token")?,
        &get::<String>(row, "channel")?,
        &get::<String>(row, "locale")?,
        u32::try_from(attempts).map_err(|e| corrupt("push", e))?,
    )
}
