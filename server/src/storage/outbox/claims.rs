//! Claiming the outbox for a sender: due deliveries (retries, and those whose sender died) and new notifications expanded into one delivery per active device of their recipients, each claimed for the sender's lease.

use std::collections::HashMap;

use gridwhistle_dispatcher::notify::{NoticeKind, PushWords, push_words, speaks_chinese};
use gridwhistle_dispatcher::push::{Delivery, PushMessage};
use gridwhistle_domain::{RiskGrade, Timestamp};
use sea_orm::{ConnectionTrait, DatabaseTransaction, QueryResult};

use super::{MAX_BINDS, STAGE_MET, Window, channel_of, get, kind_of, subject};
use crate::storage::codec::{bigint, corrupt, parse};
use crate::storage::lease::{Claim, Lease};
use crate::storage::sql::Sql;
use crate::storage::{Backend, StorageError};

/// Claims queued deliveries that are due and not claimed (retries, and those whose sender died); answers their keys (notification, device).
pub(super) async fn claim_due(
    txn: &DatabaseTransaction,
    backend: Backend,
    lease: Lease<'_>,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<(String, String)>, StorageError> {
    let claim = Claim {
        table: "push_deliveries",
        key: "(notification_id, device_id)",
        order: "next_attempt_at_ms",
        limit: bigint("limit", limit)?,
        returning: "notification_id, device_id",
    };
    let statement = claim.statement(backend, lease, |sql| {
        sql.push("state = 'queued' AND next_attempt_at_ms <= ")
            .bind(now.as_unix_millis())
            .push(" AND claimed_until_ms < ")
            .bind(now.as_unix_millis());
    });
    txn.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| Ok((get(row, "notification_id")?, get(row, "device_id")?)))
        .collect()
}

/// Claims up to `room` notifications that wait to be pushed (queued, or claimed by a sender whose lease ran out) and answers their deliveries, one per active device of their recipients on `channels` that has no delivery recorded yet.
///
/// A notification too old to push becomes `expired`, one whose stage was met `skipped`, and one with nobody to push to `expanded` at once; the rest stay `sending`, claimed for the lease, until the sender records every one of their deliveries. No delivery row is written here: each is written once, with its outcome.
pub(super) async fn expand(
    txn: &DatabaseTransaction,
    backend: Backend,
    lease: Lease<'_>,
    window: Window,
    channels: &[&'static str],
    room: usize,
) -> Result<Vec<Delivery>, StorageError> {
    let (now, stale_before) = (window.now, window.stale_before);
    let claim = Claim {
        table: "notifications",
        key: "id",
        order: "id",
        limit: bigint("limit", room)?,
        returning: "id, state",
    };
    let mut sql = Sql::new(backend);
    claim.select(&mut sql, backend, "id, state", |sql| {
        // `state IN (…)` first: it is the condition of the partial index of unsent rows, so the read never walks the sent history.
        sql.push("state IN ('queued', 'sending') AND (state = 'queued' OR claimed_until_ms < ")
            .bind(now.as_unix_millis())
            .push(")");
    });
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
        .bind(lease.owner.to_owned())
        .push(", claimed_until_ms = ")
        .bind(lease.until.as_unix_millis())
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
    let notices = notices_of(txn, backend, notifications).await?;
    let mut deliveries = Vec::new();
    for row in txn
        .query_all_raw(devices_statement(
            backend,
            channels,
            notifications,
            unrecorded_only,
        ))
        .await?
    {
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
                Device {
                    id: id.to_owned(),
                    token: token.to_owned(),
                    channel,
                    locale,
                },
                0,
            )?);
        }
    }
    Ok(deliveries)
}

/// What every push of each of `notifications` shares, by id.
async fn notices_of(
    txn: &DatabaseTransaction,
    backend: Backend,
    notifications: &[String],
) -> Result<HashMap<String, Notice>, StorageError> {
    let mut sql = Sql::new(backend);
    sql.push(
        "SELECT n.id AS notification_id, n.kind AS kind, n.audience AS audience, n.stage AS stage, \
         n.report_id AS report_id, r.case_id AS case_id, n.entry_id AS entry_id, \
         COALESCE(r.risk_grade, le.grade) AS risk_grade FROM notifications n \
         LEFT JOIN reports r ON r.id = n.report_id LEFT JOIN ledger_entries le ON le.id = n.entry_id \
         WHERE n.id",
    )
    .any(notifications.iter().cloned());
    let mut notices = HashMap::with_capacity(notifications.len());
    for row in txn.query_all_raw(sql.build()).await? {
        notices.insert(get::<String>(&row, "notification_id")?, notice_from(&row)?);
    }
    Ok(notices)
}

/// The active devices of the recipients of `notifications` on `channels`, one row per notification: (id, its devices).
fn devices_statement(
    backend: Backend,
    channels: &[&'static str],
    notifications: &[String],
    unrecorded_only: bool,
) -> sea_orm::Statement {
    // Recipients by audience, one indexed join each: the duty officers or head of the notification's department, every supervisor (with a leader's rung when no leader is named), or the one user named (the grid worker, the named leader).
    const AUDIENCES: [(&str, &str); 3] = [
        (
            "u.department_id = n.department_id AND u.role = \
             CASE n.audience WHEN 'duty_officers' THEN 'duty_officer' ELSE 'department_head' END",
            "n.audience IN ('duty_officers', 'department_head')",
        ),
        (
            "u.role = 'supervisor'",
            "(n.audience = 'supervisors' OR (n.audience = 'district_leader' AND n.recipient_user_id IS NULL))",
        ),
        (
            "u.id = n.recipient_user_id",
            "n.audience IN ('reporter', 'district_leader')",
        ),
    ];
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
    sql.build()
}

/// A tab, in each database's SQL.
fn tab(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "char(9)",
        Backend::Postgres => "chr(9)",
    }
}

/// What a delivery needs besides its id, device and attempts, from `notifications n`, `devices d`, `reports r` and `ledger_entries le` (either may be missing).
const DELIVERY_COLUMNS: &str = "d.push_token AS push_token, d.channel AS channel, d.locale AS locale, \
     n.id AS notification_id, n.kind AS kind, n.audience AS audience, n.stage AS stage, \
     n.report_id AS report_id, r.case_id AS case_id, n.entry_id AS entry_id, \
     COALESCE(r.risk_grade, le.grade) AS risk_grade";

/// Reads what claimed retries need to be sent; those whose stage was met since they were queued, or whose device was deactivated, are settled as skipped and left out.
pub(super) async fn load_deliveries(
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
                 JOIN devices d ON d.id = pd.device_id LEFT JOIN reports r ON r.id = n.report_id \
                 LEFT JOIN ledger_entries le ON le.id = n.entry_id \
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

/// What every push of one notification shares: its subject, and its words as `notify` decides them in each language a device may speak.
struct Notice {
    kind: NoticeKind,
    subject: String,
    chinese: PushWords,
    other: PushWords,
}

/// A notification's shared part, from the columns `kind`, `audience`, `stage`, `report_id`, `case_id`, `entry_id` and `risk_grade`.
fn notice_from(row: &QueryResult) -> Result<Notice, StorageError> {
    let kind: String = get(row, "kind")?;
    let audience: String = get(row, "audience")?;
    let grade: Option<String> = get(row, "risk_grade")?;
    let grade = grade
        .map(|g| parse::<RiskGrade>("report", &g))
        .transpose()?;
    let kind = kind_of(&kind)?;
    let subject = subject(row, &audience)?;
    let stage: Option<String> = get(row, "stage")?;
    let grade_a = grade == Some(RiskGrade::A);
    // Decided once a notification, in both languages, rather than once a device.
    let words = |locale| push_words(kind, &subject, stage.as_deref(), grade_a, locale);
    Ok(Notice {
        kind,
        chinese: words("zh"),
        other: words("en"),
        subject,
    })
}

/// A recipient's device, as the delivery needs it.
struct Device<'a> {
    id: String,
    token: String,
    channel: &'a str,
    locale: &'a str,
}

/// One device's delivery of `notice`, in the words `notify` decides.
fn delivery(
    notification: String,
    notice: &Notice,
    device: Device<'_>,
    attempts: u32,
) -> Result<Delivery, StorageError> {
    let words = if speaks_chinese(device.locale) {
        &notice.chinese
    } else {
        &notice.other
    };
    Ok(Delivery {
        id: format!("{notification}/{}", device.id),
        channel: channel_of(device.channel)?,
        device: device.id,
        attempts,
        message: PushMessage {
            token: device.token,
            notification,
            kind: notice.kind,
            subject: notice.subject.clone(),
            collapse_key: words.collapse_key.clone(),
            urgent: words.urgent,
            title: words.title,
            body: words.body,
        },
    })
}

/// A retry's delivery, from a row with the notification's columns and the device's.
fn delivery_from(row: &QueryResult) -> Result<Delivery, StorageError> {
    let notice = notice_from(row)?;
    let attempts: i32 = get(row, "attempts")?;
    let (channel, locale): (String, String) = (get(row, "channel")?, get(row, "locale")?);
    delivery(
        get(row, "notification_id")?,
        &notice,
        Device {
            id: get(row, "device_id")?,
            token: get(row, "push_token")?,
            channel: &channel,
            locale: &locale,
        },
        u32::try_from(attempts).map_err(|e| corrupt("push", e))?,
    )
}
