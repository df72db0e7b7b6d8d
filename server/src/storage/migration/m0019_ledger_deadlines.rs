//! A deadline, and the notifications it causes, may be about a step of a ledger entry's plan instead of a case: the subject becomes data.
//!
//! `deadlines` and `notifications` get `entry_id` and `step` beside `report_id`, which may now be empty; a check keeps exactly one subject on each row.
//! A notification about a step has no case event to take its place in the event log from, so it keeps its own (`log_txid`, `log_id`, see `outbox::log_position`); inbox streams follow both in commit order.
//! A step's deadline is unique per (entry, step), as a case's is per (report, department, stage, letter).
//! PostgreSQL alters the tables in place; SQLite cannot drop a `NOT NULL`, so there each table is copied into its new shape, with its indexes made again.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0019_ledger_deadlines"
    }
}

/// Exactly one subject: a case's report, or a ledger entry's step.
const ONE_SUBJECT: &str = "CHECK ((report_id IS NULL) <> (entry_id IS NULL) \
     AND (entry_id IS NULL) = (step IS NULL))";

const STEP_UNIQUE: &str =
    "CREATE UNIQUE INDEX ux_deadlines_ledger_step ON deadlines (entry_id, step)";

fn postgres() -> Vec<String> {
    vec![
        "ALTER TABLE deadlines ALTER COLUMN report_id DROP NOT NULL".to_owned(),
        "ALTER TABLE deadlines ADD COLUMN entry_id TEXT NULL REFERENCES ledger_entries (id)"
            .to_owned(),
        "ALTER TABLE deadlines ADD COLUMN step INTEGER NULL".to_owned(),
        format!("ALTER TABLE deadlines ADD CONSTRAINT ck_deadlines_subject {ONE_SUBJECT}"),
        STEP_UNIQUE.to_owned(),
        "ALTER TABLE notifications ALTER COLUMN report_id DROP NOT NULL".to_owned(),
        "ALTER TABLE notifications ADD COLUMN entry_id TEXT NULL".to_owned(),
        "ALTER TABLE notifications ADD COLUMN step INTEGER NULL".to_owned(),
        "ALTER TABLE notifications ADD COLUMN log_txid BIGINT NULL".to_owned(),
        "ALTER TABLE notifications ADD COLUMN log_id BIGINT NULL".to_owned(),
        format!("ALTER TABLE notifications ADD CONSTRAINT ck_notifications_subject {ONE_SUBJECT}"),
    ]
}

const DEADLINE_COLUMNS: &str = "id, report_id, department_id, stage, policy_version, started_at_ms, due_at_ms, \
     state, satisfied_at_ms, escalation_level, next_step, next_fire_at_ms, claimed_by, \
     claimed_until_ms, letter_id, provisional";

const NOTIFICATION_COLUMNS: &str = "id, report_id, department_id, audience, kind, stage, event_sequence, \
     escalation_level, due_at_ms, created_at_ms, state, recipient_user_id, claimed_by, claimed_until_ms";

fn sqlite() -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE deadlines_new (
                id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
                report_id TEXT NULL REFERENCES reports (id),
                department_id TEXT NOT NULL REFERENCES departments (id),
                stage TEXT NOT NULL,
                policy_version BIGINT NOT NULL,
                started_at_ms BIGINT NOT NULL,
                due_at_ms BIGINT NOT NULL,
                state TEXT NOT NULL,
                satisfied_at_ms BIGINT NULL,
                escalation_level INTEGER NOT NULL,
                next_step INTEGER NOT NULL,
                next_fire_at_ms BIGINT NULL,
                claimed_by TEXT NULL,
                claimed_until_ms BIGINT NULL,
                letter_id TEXT NOT NULL DEFAULT '',
                provisional BOOLEAN NOT NULL DEFAULT FALSE,
                entry_id TEXT NULL REFERENCES ledger_entries (id),
                step INTEGER NULL,
                {ONE_SUBJECT}
            )"
        ),
        format!(
            "INSERT INTO deadlines_new ({DEADLINE_COLUMNS}) SELECT {DEADLINE_COLUMNS} FROM deadlines"
        ),
        "DROP TABLE deadlines".to_owned(),
        "ALTER TABLE deadlines_new RENAME TO deadlines".to_owned(),
        "CREATE INDEX ix_deadlines_next_fire_id ON deadlines (next_fire_at_ms, id)".to_owned(),
        "CREATE INDEX ix_deadlines_provisional ON deadlines (provisional, state)".to_owned(),
        "CREATE UNIQUE INDEX ux_deadlines_stage_letter ON deadlines (report_id, department_id, stage, letter_id)"
            .to_owned(),
        STEP_UNIQUE.to_owned(),
        format!(
            "CREATE TABLE notifications_new (
                id TEXT NOT NULL PRIMARY KEY,
                report_id TEXT NULL,
                department_id TEXT NULL,
                audience TEXT NOT NULL,
                kind TEXT NOT NULL,
                stage TEXT NULL,
                event_sequence BIGINT NOT NULL,
                escalation_level INTEGER NOT NULL,
                due_at_ms BIGINT NULL,
                created_at_ms BIGINT NOT NULL,
                state TEXT NOT NULL,
                recipient_user_id TEXT NULL,
                claimed_by TEXT NULL,
                claimed_until_ms BIGINT NOT NULL DEFAULT 0,
                entry_id TEXT NULL,
                step INTEGER NULL,
                log_txid BIGINT NULL,
                log_id BIGINT NULL,
                {ONE_SUBJECT}
            )"
        ),
        format!(
            "INSERT INTO notifications_new ({NOTIFICATION_COLUMNS}) SELECT {NOTIFICATION_COLUMNS} FROM notifications"
        ),
        "DROP TABLE notifications".to_owned(),
        "ALTER TABLE notifications_new RENAME TO notifications".to_owned(),
        "CREATE INDEX ix_notifications_audience ON notifications (audience, department_id, id)"
            .to_owned(),
        "CREATE INDEX ix_notifications_recipient ON notifications (recipient_user_id, id)"
            .to_owned(),
        "CREATE INDEX ix_notifications_unsent ON notifications (id) WHERE state IN ('queued', 'sending')"
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DatabaseBackend::Sqlite => sqlite(),
            _ => postgres(),
        };
        for statement in statements {
            manager
                .get_connection()
                .execute_unprepared(&statement)
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Rows about ledger steps have no case to fall back to: going down would lose them, so it is refused.
        Err(DbErr::Migration(
            "m0019_ledger_deadlines cannot be undone: deadlines and notifications of ledger steps have no case"
                .to_owned(),
        ))
    }
}
