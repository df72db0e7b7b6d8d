//! Push delivery: devices with their tokens, a claim (lease) on each notification while its pushes are in flight, one delivery row per notification and device written with its outcome (retried with backoff, dead-lettered), the outbox's recipient for a grid worker, and each user's read marks for the inbox.

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
    // The push sender finds a notification's recipients by role and department.
    "CREATE INDEX ix_users_role_department ON users (role, department_id)",
    "ALTER TABLE notifications ADD COLUMN recipient_user_id TEXT NULL",
    "ALTER TABLE notifications ADD COLUMN claimed_by TEXT NULL",
    "ALTER TABLE notifications ADD COLUMN claimed_until_ms BIGINT NOT NULL DEFAULT 0",
    "CREATE INDEX ix_notifications_audience ON notifications (audience, department_id, id)",
    "CREATE INDEX ix_notifications_recipient ON notifications (recipient_user_id, id)",
    // The sender reads only unsent notifications; this index holds just those, however long the history grows.
    "CREATE INDEX ix_notifications_unsent ON notifications (id) WHERE state IN ('queued', 'sending')",
    "CREATE TABLE push_deliveries (
        notification_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at_ms BIGINT NOT NULL,
        claimed_by TEXT NULL,
        claimed_until_ms BIGINT NOT NULL,
        last_error TEXT NULL,
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL,
        PRIMARY KEY (notification_id, device_id)
    )",
    "CREATE INDEX ix_push_deliveries_queued ON push_deliveries (next_attempt_at_ms) WHERE state = 'queued'",
    "CREATE INDEX ix_push_deliveries_dead ON push_deliveries (notification_id, device_id) WHERE state = 'dead'",
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
            "DROP INDEX ix_notifications_unsent",
            "DROP INDEX ix_notifications_recipient",
            "DROP INDEX ix_notifications_audience",
            "ALTER TABLE notifications DROP COLUMN claimed_until_ms",
            "ALTER TABLE notifications DROP COLUMN claimed_by",
            "ALTER TABLE notifications DROP COLUMN recipient_user_id",
            "DROP INDEX ix_users_role_department",
            "DROP TABLE devices",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
