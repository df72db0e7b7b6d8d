//! Failed logins per key (`user:{username}`, `addr:{address}`), counted in one statement each so that concurrent failures on any replica never lose a count.

use gridwhistle_domain::Timestamp;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::codec::corrupt;
use super::entity::login_throttle;
use super::sql::Sql;
use super::{LoginRepo, StorageError};

impl LoginRepo<'_> {
    /// The latest instant until which one of `keys` is locked, if any is locked past `now`.
    pub async fn locked_until(
        self,
        keys: &[String],
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StorageError> {
        use login_throttle::Column as L;
        let until: Option<Option<i64>> = login_throttle::Entity::find()
            .select_only()
            .expr(sea_orm::sea_query::Func::max(
                sea_orm::sea_query::Expr::col(L::LockedUntilMs),
            ))
            .filter(L::Key.is_in(keys.iter().cloned()))
            .filter(L::LockedUntilMs.gt(now.as_unix_millis()))
            .into_tuple()
            .one(&self.store.db)
            .await?;
        Ok(until.flatten().map(Timestamp::from_unix_millis))
    }

    /// Counts one failure under `key` at `now` and answers the failures counted, this one included; failures counted before `window_start` are forgotten first.
    pub async fn count_failure(
        self,
        key: &str,
        now: Timestamp,
        window_start: Timestamp,
    ) -> Result<u32, StorageError> {
        let now = now.as_unix_millis();
        let start = window_start.as_unix_millis();
        let mut sql = Sql::new(self.store.backend);
        sql.push(
            "INSERT INTO login_throttles (key, failures, first_failure_ms, last_failure_ms, locked_until_ms) VALUES (",
        )
        .bind(key.to_owned())
        .push(", 1, ")
        .bind(now)
        .push(", ")
        .bind(now)
        .push(
            ", 0) ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN login_throttles.first_failure_ms < ",
        )
        .bind(start)
        .push(" THEN 1 ELSE login_throttles.failures + 1 END, first_failure_ms = CASE WHEN login_throttles.first_failure_ms < ")
        .bind(start)
        .push(
            " THEN excluded.first_failure_ms ELSE login_throttles.first_failure_ms END, \
             last_failure_ms = excluded.last_failure_ms RETURNING failures",
        );
        let row = self
            .store
            .db
            .query_one_raw(sql.build())
            .await?
            .ok_or_else(|| corrupt("login_throttle", "the upsert returned no row"))?;
        let failures: i32 = row
            .try_get("", "failures")
            .map_err(|e| corrupt("login_throttle", e.to_string()))?;
        Ok(u32::try_from(failures).unwrap_or(0))
    }

    /// Refuses logins under `key` until `until`, unless they are refused longer already.
    pub async fn lock(self, key: &str, until: Timestamp) -> Result<(), StorageError> {
        use login_throttle::Column as L;
        login_throttle::Entity::update_many()
            .col_expr(
                L::LockedUntilMs,
                sea_orm::sea_query::Expr::value(until.as_unix_millis()),
            )
            .filter(L::Key.eq(key))
            .filter(L::LockedUntilMs.lt(until.as_unix_millis()))
            .exec(&self.store.db)
            .await?;
        Ok(())
    }

    /// Forgets every failure under `key` and lifts its lock; answers whether there was any.
    pub async fn clear(self, key: &str) -> Result<bool, StorageError> {
        let done = login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::Key.eq(key))
            .exec(&self.store.db)
            .await?;
        Ok(done.rows_affected > 0)
    }

    /// Forgets the failures of keys that are not locked at `now` and failed last before `quiet_since`; answers how many keys were forgotten.
    pub async fn prune(self, now: Timestamp, quiet_since: Timestamp) -> Result<u64, StorageError> {
        use login_throttle::Column as L;
        let done = login_throttle::Entity::delete_many()
            .filter(L::LockedUntilMs.lte(now.as_unix_millis()))
            .filter(L::LastFailureMs.lt(quiet_since.as_unix_millis()))
            .exec(&self.store.db)
            .await?;
        Ok(done.rows_affected)
    }
}
