//! The audit of parties' personal data shown unmasked (`reveals`): one row per subject per answer, naming who saw it, when, and through which call.
//!
//! Rows are listed newest first by their time-ordered id, by user or by subject, and pruned by age once they pass the time they are kept for.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0023_party_reveals"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE party_reveals (
                id TEXT NOT NULL PRIMARY KEY,
                revealed_at_ms BIGINT NOT NULL,
                user_id TEXT NOT NULL,
                subject TEXT NOT NULL,
                method TEXT NOT NULL,
                request_id TEXT NOT NULL
            )",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX party_reveals_by_user ON party_reveals (user_id, id)")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX party_reveals_by_subject ON party_reveals (subject, id)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX party_reveals_by_time ON party_reveals (revealed_at_ms)",
        )
        .await?;
        Ok(())
    }
}
