//! The deadline engine's write path, lighter per firing.
//!
//! - On PostgreSQL, `deadlines` and `reports` leave room in each page (fillfactor 70 and 80), so an engine's claim and a firing's version bump, which change no indexed column, can be HOT updates: the new row version stays on its page and no index is touched. Pages written before this migration get the room as they are rewritten (an operator may run `VACUUM FULL deadlines, reports` in a quiet hour); nothing here rewrites a table under live replicas.
//! - `ix_notifications_state` goes: every query over unsent notifications reads the partial `ix_notifications_unsent` (m0009), and each outbox row paid for one more index entry.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_firing_path"
    }
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    State,
    CreatedAtMs,
}

/// Each table's fillfactor: the share of a page new rows may fill.
const FILLFACTORS: [(&str, u8); 2] = [("deadlines", 70), ("reports", 80)];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            for (table, fillfactor) in FILLFACTORS {
                manager
                    .get_connection()
                    .execute_unprepared(&format!(
                        "ALTER TABLE {table} SET (fillfactor = {fillfactor})"
                    ))
                    .await?;
            }
        }
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("ix_notifications_state")
                    .table(Notifications::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_state")
                    .table(Notifications::Table)
                    .col(Notifications::State)
                    .col(Notifications::CreatedAtMs)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            for (table, _) in FILLFACTORS {
                manager
                    .get_connection()
                    .execute_unprepared(&format!("ALTER TABLE {table} RESET (fillfactor)"))
                    .await?;
            }
        }
        Ok(())
    }
}
