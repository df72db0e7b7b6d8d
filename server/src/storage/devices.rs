//! Devices registered for push, and the in-app inbox: a view of the outbox rows addressed to a user's role and unit, with the user's read marks, in commit order for streams.

use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::push::Channel;
use gridwhistle_domain::{DepartmentId, Timestamp, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QueryResult,
};
use tracing::instrument;

use super::codec::{bigint, corrupt, ms, ts};
use super::entity::{device, notification_read};
use super::multirow::ROWS_PER_STATEMENT;
use super::outbox::{MAX_BINDS, channel_of, get, kind_of, subject};
use super::sql::Sql;
use super::{Backend, DeviceRepo, StorageError};
use crate::model::EventPosition;

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
    /// A district leader: the leader's rungs of the ladders of the entries (and their cases) they own.
    Leader(UserId),
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
            // A leader's rung with no leader named lands with the supervisors.
            InboxScope::Supervisors => {
                sql.push(
                    "(n.audience = 'supervisors' \
                     OR (n.audience = 'district_leader' AND n.recipient_user_id IS NULL))",
                );
            }
            InboxScope::Leader(user) => {
                sql.push("n.audience = 'district_leader' AND n.recipient_user_id = ")
                    .bind(user.to_string());
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

/// A notification's place in the event log's commit order: its case event's, or for one about a ledger step its own (`log_txid`, `log_id`).
const TXID: &str = "COALESCE(e.txid, n.log_txid)";
const EVENT_ID: &str = "COALESCE(e.id, n.log_id)";

/// What every inbox query reads: the notification `n` with the event `e` that caused it and its report `r` (neither, for a notification about a ledger step).
const ENTRY_SELECT: &str = "SELECT n.id AS id, n.kind AS kind, n.audience AS audience, \
     n.report_id AS report_id, r.case_id AS case_id, n.entry_id AS entry_id, \
     n.created_at_ms AS created_at_ms, COALESCE(e.txid, n.log_txid) AS txid, \
     COALESCE(e.id, n.log_id) AS event_id";
const ENTRY_FROM: &str = " FROM notifications n \
     LEFT JOIN case_events e ON e.report_id = n.report_id AND e.sequence = n.event_sequence \
     LEFT JOIN reports r ON r.id = n.report_id";

fn entry(row: &QueryResult, read_at: Option<i64>) -> Result<InboxEntry, StorageError> {
    let kind: String = get(row, "kind")?;
    let audience: String = get(row, "audience")?;
    let txid: Option<i64> = get(row, "txid")?;
    let event: Option<i64> = get(row, "event_id")?;
    Ok(InboxEntry {
        kind: kind_of(&kind)?,
        subject: subject(row, &audience)?,
        created_at: Timestamp::from_unix_millis(get(row, "created_at_ms")?),
        read_at: read_at.map(Timestamp::from_unix_millis),
        position: InboxPosition {
            event: EventPosition {
                txid: txid.unwrap_or_default(),
                id: event.unwrap_or_default(),
            },
            id: get(row, "id")?,
        },
    })
}

/// A device row as registered.
fn device_from(m: device::Model) -> Result<DeviceRecord, StorageError> {
    Ok(DeviceRecord {
        user: UserId::parse(&m.user_id).map_err(|e| corrupt("device", e))?,
        channel: channel_of(&m.channel)?,
        id: m.id,
        platform: m.platform,
        app_version: m.app_version,
        locale: m.locale,
        active: m.active,
        created_at: ts(m.created_at_ms),
        updated_at: ts(m.updated_at_ms),
    })
}

impl DeviceRepo<'_> {
    /// Registers `device` for `user`, or refreshes it: idempotent on the device's id.
    ///
    /// An installation that changes hands (another user logs in on the phone) moves to the new user, and any other installation holding the same token is deactivated, so a push reaches one user's phone once.
    #[instrument(skip_all, fields(device = %device.id))]
    pub async fn register(
        self,
        user: &UserId,
        device: NewDevice,
        now: Timestamp,
    ) -> Result<DeviceRecord, StorageError> {
        let user = user.to_string();
        self.store
            .write(move |txn| Box::pin(register_in(txn, user, device, now)))
            .await
    }

    /// Removes `user`'s device; another user's device, or none, is `NotFound`.
    #[instrument(skip_all, fields(device = %id))]
    pub async fn unregister(self, user: &UserId, id: &str) -> Result<(), StorageError> {
        let (user, id) = (user.to_string(), id.to_owned());
        let deleted = self
            .store
            .write(move |txn| {
                Box::pin(async move {
                    let deleted = device::Entity::delete_many()
                        .filter(device::Column::Id.eq(id))
                        .filter(device::Column::UserId.eq(user))
                        .exec(txn)
                        .await?;
                    Ok::<_, StorageError>(deleted.rows_affected)
                })
            })
            .await?;
        if deleted == 0 {
            return Err(StorageError::NotFound { entity: "device" });
        }
        Ok(())
    }

    /// `user`'s devices, by id.
    pub async fn of_user(self, user: &UserId) -> Result<Vec<DeviceRecord>, StorageError> {
        device::Entity::find()
            .filter(device::Column::UserId.eq(user.to_string()))
            .order_by_asc(device::Column::Id)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(device_from)
            .collect()
    }

    /// The newest entries of `scope`'s inbox as `user` has read it, older than `before` (a notification id) when given; and how many are unread in all.
    #[instrument(skip_all, fields(limit))]
    pub async fn inbox(
        self,
        user: &UserId,
        scope: &InboxScope,
        unread_only: bool,
        before: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<InboxEntry>, u64), StorageError> {
        let mut sql = Sql::new(self.store.backend);
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
            .store
            .db
            .query_all_raw(sql.build())
            .await?
            .iter()
            .map(|row| entry(row, get(row, "read_at_ms")?))
            .collect::<Result<Vec<_>, _>>()?;

        let mut sql = Sql::new(self.store.backend);
        sql.push(
            "SELECT COUNT(*) AS unread FROM notifications n \
             LEFT JOIN notification_reads nr ON nr.notification_id = n.id AND nr.user_id = ",
        )
        .bind(user.to_string())
        .push(" WHERE ");
        scope.condition(&mut sql);
        sql.push(" AND nr.read_at_ms IS NULL");
        let unread: i64 = match self.store.db.query_one_raw(sql.build()).await? {
            Some(row) => get(&row, "unread")?,
            None => 0,
        };
        Ok((
            entries,
            u64::try_from(unread).map_err(|e| corrupt("push", e))?,
        ))
    }

    /// Marks read the entries of `scope`'s inbox named in `ids` and, with `all_before`, every entry created before it; ids outside the inbox are ignored. Answers how many were newly marked.
    #[instrument(skip_all, fields(ids = ids.len()))]
    pub async fn mark_read(
        self,
        user: &UserId,
        scope: &InboxScope,
        ids: Vec<String>,
        all_before: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<u64, StorageError> {
        let backend = self.store.backend;
        let user = user.to_string();
        let scope = scope.clone();
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let mut marked = 0;
                    for chunk in ids.chunks(MAX_BINDS) {
                        marked += mark(txn, backend, &user, &scope, Some(chunk), None, now).await?;
                    }
                    if let Some(before) = all_before {
                        marked +=
                            mark(txn, backend, &user, &scope, None, Some(before), now).await?;
                    }
                    Ok::<_, StorageError>(marked)
                })
            })
            .await
    }

    /// Entries of `scope`'s inbox after `after`, in commit order, at most `limit`.
    ///
    /// Each entry takes its causing event's position (written in the same transaction), or for a notification about a ledger step the position its transaction took in the log, so the event log's commit-order guarantee carries over: on PostgreSQL only transactions older than every running one are read.
    pub async fn inbox_after(
        self,
        scope: &InboxScope,
        after: &InboxPosition,
        limit: u64,
    ) -> Result<Vec<InboxEntry>, StorageError> {
        let mut sql = Sql::new(self.store.backend);
        sql.push(ENTRY_SELECT).push(ENTRY_FROM).push(" WHERE ");
        scope.condition(&mut sql);
        match self.store.backend {
            Backend::Sqlite => {
                sql.push(" AND (")
                    .push(EVENT_ID)
                    .push(" > ")
                    .bind(after.event.id)
                    .push(" OR (")
                    .push(EVENT_ID)
                    .push(" = ")
                    .bind(after.event.id)
                    .push(" AND n.id > ")
                    .bind(after.id.clone())
                    .push(")) ORDER BY ")
                    .push(EVENT_ID)
                    .push(", n.id");
            }
            Backend::Postgres => {
                sql.push(" AND (")
                    .push(TXID)
                    .push(" > ")
                    .bind(after.event.txid)
                    .push(" OR (")
                    .push(TXID)
                    .push(" = ")
                    .bind(after.event.txid)
                    .push(" AND (")
                    .push(EVENT_ID)
                    .push(" > ")
                    .bind(after.event.id)
                    .push(" OR (")
                    .push(EVENT_ID)
                    .push(" = ")
                    .bind(after.event.id)
                    .push(" AND n.id > ")
                    .bind(after.id.clone())
                    .push("))))")
                    .push(" AND ")
                    .push(TXID)
                    .push(" < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
                    .push(" ORDER BY ")
                    .push(TXID)
                    .push(", ")
                    .push(EVENT_ID)
                    .push(", n.id");
            }
        }
        sql.push(" LIMIT ").bind(bigint("limit", limit)?);
        self.store
            .db
            .query_all_raw(sql.build())
            .await?
            .iter()
            .map(|row| entry(row, None))
            .collect()
    }
}

/// Deactivates other installations holding the device's token, then inserts or refreshes the device.
async fn register_in(
    txn: &DatabaseTransaction,
    user: String,
    device: NewDevice,
    now: Timestamp,
) -> Result<DeviceRecord, StorageError> {
    device::Entity::update_many()
        .col_expr(device::Column::Active, Expr::value(false))
        .col_expr(device::Column::UpdatedAtMs, Expr::value(ms(now)))
        .filter(device::Column::Channel.eq(device.channel.as_str()))
        .filter(device::Column::PushToken.eq(device.push_token.as_str()))
        .filter(device::Column::Id.ne(device.id.as_str()))
        .filter(device::Column::Active.eq(true))
        .exec(txn)
        .await?;
    let id = device.id.clone();
    device::Entity::insert(device::ActiveModel {
        id: Set(device.id),
        user_id: Set(user),
        push_token: Set(device.push_token),
        platform: Set(device.platform),
        channel: Set(device.channel.as_str().to_owned()),
        app_version: Set(device.app_version),
        locale: Set(device.locale),
        active: Set(true),
        created_at_ms: Set(ms(now)),
        updated_at_ms: Set(ms(now)),
    })
    .on_conflict(
        OnConflict::column(device::Column::Id)
            .update_columns([
                device::Column::UserId,
                device::Column::PushToken,
                device::Column::Platform,
                device::Column::Channel,
                device::Column::AppVersion,
                device::Column::Locale,
                device::Column::Active,
                device::Column::UpdatedAtMs,
            ])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let stored = device::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(|| corrupt("device", "the upserted device is missing"))?;
    device_from(stored)
}

/// Marks read, for `user`, the entries of `scope` named by `ids` or created before `before`; answers how many were newly marked.
async fn mark(
    txn: &DatabaseTransaction,
    backend: Backend,
    user: &str,
    scope: &InboxScope,
    ids: Option<&[String]>,
    before: Option<Timestamp>,
    now: Timestamp,
) -> Result<u64, StorageError> {
    // The entries of the inbox among those asked for: an id outside it is ignored.
    let mut sql = Sql::new(backend);
    sql.push("SELECT n.id AS id FROM notifications n WHERE ");
    scope.condition(&mut sql);
    if let Some(ids) = ids {
        if ids.is_empty() {
            return Ok(0);
        }
        sql.push(" AND n.id IN ").list(ids.iter().cloned());
    }
    if let Some(before) = before {
        sql.push(" AND n.created_at_ms < ").bind(ms(before));
    }
    let entries = txn
        .query_all_raw(sql.build())
        .await?
        .iter()
        .map(|row| get::<String>(row, "id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut marked = 0;
    for chunk in entries.chunks(ROWS_PER_STATEMENT) {
        marked += notification_read::Entity::insert_many(chunk.iter().map(|id| {
            notification_read::ActiveModel {
                user_id: Set(user.to_owned()),
                notification_id: Set(id.clone()),
                read_at_ms: Set(ms(now)),
            }
        }))
        .on_conflict(
            OnConflict::columns([
                notification_read::Column::UserId,
                notification_read::Column::NotificationId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    }
    Ok(marked)
}
