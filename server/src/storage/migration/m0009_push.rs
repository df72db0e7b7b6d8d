//! Push delivery: devices with their tokens, one delivery row per notification and device (claimed for a lease, retried with backoff, dead-lettered), the outbox's recipient for a grid worker, and each user's read marks for the inbox.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_push"
    }
}

/// Plain DDL that both databases accept as written.
const STATEMENTS: &[&str] = &[
    "CREATE TABLE devices (
        id TEXT NOT NULL PRIMARY KEY,
        user_id TEXT NOT NULL,
        push_token TEXT NOT NULL,
        platform TEXT NOT NULL,
        channel TEXT NOT NULL,
        app_version TEXT NOT NULL,
        locale TEXT NOT NULL,
        active BOOLEAN NOT NULL,
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL
    )",
    "CREATE INDEX ix_devices_user ON devices (user_id)",
    "CREATE INDEX ix_devices_token ON devices (channel, push_token)",
    "ALTER TABLE notifications ADD COLUMN recipient_user_id TEXT NULL",
    "CREATE INDEX ix_notifications_audience ON notifications (audience, department_id, id)",
    "CREATE INDEX ix_notifications_recipient ON notifications (recipient_user_id, id)",
    "CREATE TABLE push_deliveries (
        id TEXT NOT NULL PRIMARY KEY,
        notification_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at_ms BIGINT NOT NULL,
        claimed_by TEXT NULL,
        claimed_until_ms BIGINT NOT NULL,
        last_error TEXT NULL,
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL
    )",
    "CREATE INDEX ix_push_deliveries_queued ON push_deliveries (next_attempt_at_ms) WHERE state = 'queued'",
    "CREATE INDEX ix_push_deliveries_state ON push_deliveries (state, updated_at_ms)",
    "CREATE TABLE notification_reads (
        user_id TEXT NOT NULL,
        notification_id TEXT NOT NULL,
        read_at_ms BIGINT NOT NULL,
        PRIMARY KEY (user_id, notification_id)
    )",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in STATEMENTS {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in [
            "DROP TABLE notification_reads",
            "DROP TABLE push_deliveries",
            "DROP INDEX ix_notifications_recipient",
            "DROP INDEX ix_notifications_audience",
            "ALTER TABLE notifications DROP COLUMN recipient_user_id",
            "DROP TABLE devices",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
