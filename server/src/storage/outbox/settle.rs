//! Recording what became of each push: one multi-row upsert of outcomes, devices whose token was reported invalid deactivated, and finished notifications released.

use gridwhistle_dispatcher::push::{Delivery, Settlement};
use gridwhistle_domain::Timestamp;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Value};

use super::MAX_BINDS;
use crate::storage::entity::{device, notification};
use crate::storage::sql::{Sql, any_of, text_array};
use crate::storage::{Backend, StorageError};

/// Records attempts' outcomes in `txn` (see `OutboxRepo::settle`).
pub(super) async fn settle_in(
    txn: &DatabaseTransaction,
    backend: Backend,
    settled: Vec<(Delivery, Settlement)>,
    finished: Vec<String>,
    now: Timestamp,
) -> Result<(), StorageError> {
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
        device::Entity::update_many()
            .col_expr(device::Column::Active, Expr::value(false))
            .col_expr(
                device::Column::UpdatedAtMs,
                Expr::value(now.as_unix_millis()),
            )
            .filter(device::Column::Id.is_in(chunk.iter().cloned()))
            .exec(txn)
            .await?;
    }
    for chunk in finished.chunks(MAX_BINDS) {
        notification::Entity::update_many()
            .col_expr(notification::Column::State, Expr::value("expanded"))
            .col_expr(
                notification::Column::ClaimedBy,
                Expr::value(Option::<String>::None),
            )
            .filter(notification::Column::State.eq("sending"))
            .filter(any_of(
                backend,
                notification::Column::Id,
                chunk.iter().cloned(),
            ))
            .exec(txn)
            .await?;
    }
    Ok(())
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
