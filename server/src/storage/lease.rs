//! Leases: rows claimed by one worker (a replica's deadline engine or push sender) until a time, so replicas share the work without holding locks across it.
//!
//! A claim is one statement: the rows that `condition` selects, in `order`, at most `limit`, are stamped with the owner and the lease's end, and answered.
//! On PostgreSQL the inner select takes `FOR UPDATE SKIP LOCKED`, so two claimers never wait on, or take, the same row; a row whose lease ran out (its worker died) is selected again by the caller's condition.

use gridwhistle_domain::Timestamp;

use super::Backend;
use super::sql::Sql;

/// Who claims, and until when.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    pub owner: &'a str,
    pub until: Timestamp,
}

/// What a claim selects.
pub(super) struct Claim<'a> {
    pub table: &'a str,
    /// The key columns, one or a parenthesised list: `id`, `(notification_id, device_id)`.
    pub key: &'a str,
    pub order: &'a str,
    pub limit: i64,
    /// The columns answered.
    pub returning: &'a str,
}

impl Claim<'_> {
    /// `SELECT {columns} FROM {table} WHERE {condition} ORDER BY {order} LIMIT {limit}`, with `FOR UPDATE SKIP LOCKED` on PostgreSQL: the rows a claim takes, locked against other claimers until the transaction ends.
    pub(super) fn select(
        &self,
        sql: &mut Sql,
        backend: Backend,
        columns: &str,
        condition: impl FnOnce(&mut Sql),
    ) {
        sql.push("SELECT ")
            .push(columns)
            .push(" FROM ")
            .push(self.table)
            .push(" WHERE ");
        condition(sql);
        sql.push(" ORDER BY ")
            .push(self.order)
            .push(" LIMIT ")
            .bind(self.limit);
        if backend == Backend::Postgres {
            sql.push(" FOR UPDATE SKIP LOCKED");
        }
    }

    /// The claiming statement: `UPDATE {table} SET claimed_by, claimed_until_ms WHERE {key} IN (`[`Claim::select`]`) RETURNING {returning}`.
    pub(super) fn statement(
        &self,
        backend: Backend,
        lease: Lease<'_>,
        condition: impl FnOnce(&mut Sql),
    ) -> sea_orm::Statement {
        let mut sql = Sql::new(backend);
        sql.push("UPDATE ")
            .push(self.table)
            .push(" SET claimed_by = ")
            .bind(lease.owner.to_owned())
            .push(", claimed_until_ms = ")
            .bind(lease.until.as_unix_millis())
            .push(" WHERE ")
            .push(self.key)
            .push(" IN (");
        let columns = self.key.trim_start_matches('(').trim_end_matches(')');
        self.select(&mut sql, backend, columns, condition);
        sql.push(") RETURNING ").push(self.returning);
        sql.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_skips_locked_rows_on_postgres_only() {
        let claim = Claim {
            table: "push_deliveries",
            key: "(notification_id, device_id)",
            order: "next_attempt_at_ms",
            limit: 10,
            returning: "notification_id, device_id",
        };
        let lease = Lease {
            owner: "a",
            until: Timestamp::from_unix_millis(5),
        };
        let pg = claim.statement(Backend::Postgres, lease, |sql| {
            sql.push("state = 'queued'");
        });
        assert_eq!(
            pg.sql,
            "UPDATE push_deliveries SET claimed_by = $1, claimed_until_ms = $2 \
             WHERE (notification_id, device_id) IN (SELECT notification_id, device_id \
             FROM push_deliveries WHERE state = 'queued' ORDER BY next_attempt_at_ms LIMIT $3 \
             FOR UPDATE SKIP LOCKED) RETURNING notification_id, device_id"
        );
        let lite = claim.statement(Backend::Sqlite, lease, |sql| {
            sql.push("state = 'queued'");
        });
        assert!(!lite.sql.contains("SKIP LOCKED"));
        assert!(lite.sql.contains("LIMIT ?)"));
    }
}
