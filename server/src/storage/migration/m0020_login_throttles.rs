//! Failed logins, counted per login name and per client address, so guessing is throttled on every replica alike (`auth::throttle`).
//!
//! One row per key (`user:{username}`, `addr:{address}`): the failures counted since `first_failure_ms`, and the time until which logins under the key are refused. A success deletes its name's row; an admin's lift deletes it too.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0020_login_throttles"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE login_throttles (
                    key TEXT NOT NULL PRIMARY KEY,
                    failures INTEGER NOT NULL,
                    first_failure_ms BIGINT NOT NULL,
                    last_failure_ms BIGINT NOT NULL,
                    locked_until_ms BIGINT NOT NULL
                )",
            )
            .await?;
        Ok(())
    }
}
