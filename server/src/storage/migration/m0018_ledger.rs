//! The ledger of long-standing cases (积案台账): entries, the steps of their plans, and their timelines; summoned interviews (约谈) of departments' responsible persons; and joint meetings (联席会议) with their agenda items and decisions.
//!
//! Written as plain DDL that SQLite and PostgreSQL read alike. An entry keeps `next_due_ms`, the nearest due time of its open steps (`i64::MAX` when none is open), so lists ordered by urgency and the overdue filter read an index.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0018_ledger"
    }
}

const UP: &[&str] = &[
    "CREATE TABLE ledger_entries (
        id TEXT NOT NULL PRIMARY KEY,
        report_id TEXT NULL REFERENCES reports (id),
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        nature TEXT NOT NULL,
        since_ms BIGINT NOT NULL,
        complexity TEXT NOT NULL,
        social_impact TEXT NOT NULL,
        grade TEXT NOT NULL,
        unit_id TEXT NOT NULL REFERENCES departments (id),
        responsible_person TEXT NOT NULL,
        leader_id TEXT NULL REFERENCES users (id),
        parties TEXT NOT NULL,
        state TEXT NOT NULL,
        close_result TEXT NULL,
        parties_stance TEXT NULL,
        next_due_ms BIGINT NOT NULL,
        version BIGINT NOT NULL,
        request_hash TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL,
        closed_at_ms BIGINT NULL
    )",
    "CREATE INDEX ix_ledger_grade ON ledger_entries (grade, next_due_ms, id)",
    "CREATE INDEX ix_ledger_unit ON ledger_entries (unit_id, grade, next_due_ms, id)",
    "CREATE INDEX ix_ledger_leader ON ledger_entries (leader_id, grade, next_due_ms, id)",
    "CREATE UNIQUE INDEX ux_ledger_report ON ledger_entries (report_id)",
    // Covers the dashboard's counts of the entries not closed, by colour and overdue.
    "CREATE INDEX ix_ledger_state ON ledger_entries (state, grade, next_due_ms)",
    "CREATE TABLE ledger_steps (
        entry_id TEXT NOT NULL REFERENCES ledger_entries (id),
        number INTEGER NOT NULL,
        department_id TEXT NOT NULL REFERENCES departments (id),
        description TEXT NOT NULL,
        due_at_ms BIGINT NOT NULL,
        state TEXT NOT NULL,
        revision INTEGER NOT NULL,
        done_at_ms BIGINT NULL,
        done_by TEXT NULL REFERENCES users (id),
        result TEXT NULL,
        attachments TEXT NOT NULL,
        PRIMARY KEY (entry_id, number)
    )",
    "CREATE INDEX ix_ledger_steps_department ON ledger_steps (department_id, entry_id)",
    "CREATE TABLE ledger_events (
        entry_id TEXT NOT NULL REFERENCES ledger_entries (id),
        sequence BIGINT NOT NULL,
        kind TEXT NOT NULL,
        actor_id TEXT NULL REFERENCES users (id),
        text TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        PRIMARY KEY (entry_id, sequence)
    )",
    "CREATE TABLE interviews (
        id TEXT NOT NULL PRIMARY KEY,
        department_id TEXT NOT NULL REFERENCES departments (id),
        person TEXT NOT NULL,
        reason TEXT NOT NULL,
        letters TEXT NOT NULL,
        entries TEXT NOT NULL,
        outcome TEXT NOT NULL,
        interviewer_id TEXT NOT NULL REFERENCES users (id),
        held_at_ms BIGINT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        request_hash TEXT NOT NULL
    )",
    "CREATE INDEX ix_interviews_department ON interviews (department_id, held_at_ms, id)",
    "CREATE INDEX ix_interviews_held ON interviews (held_at_ms, id)",
    "CREATE TABLE meetings (
        id TEXT NOT NULL PRIMARY KEY,
        month TEXT NOT NULL,
        title TEXT NOT NULL,
        created_by TEXT NOT NULL REFERENCES users (id),
        created_at_ms BIGINT NOT NULL,
        request_hash TEXT NOT NULL
    )",
    "CREATE INDEX ix_meetings_month ON meetings (month, created_at_ms)",
    "CREATE TABLE meeting_items (
        meeting_id TEXT NOT NULL REFERENCES meetings (id),
        number INTEGER NOT NULL,
        entry_id TEXT NULL REFERENCES ledger_entries (id),
        report_id TEXT NULL REFERENCES reports (id),
        reasons TEXT NOT NULL,
        detail TEXT NOT NULL,
        lead_id TEXT NULL REFERENCES departments (id),
        assists TEXT NULL,
        decision TEXT NULL,
        decided_by TEXT NULL REFERENCES users (id),
        decided_at_ms BIGINT NULL,
        PRIMARY KEY (meeting_id, number)
    )",
];

const DOWN: &[&str] = &[
    "DROP TABLE meeting_items",
    "DROP TABLE meetings",
    "DROP TABLE interviews",
    "DROP TABLE ledger_events",
    "DROP TABLE ledger_steps",
    "DROP TABLE ledger_entries",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for statement in UP {
            manager
                .get_connection()
                .execute_unprepared(statement)
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for statement in DOWN {
            manager
                .get_connection()
                .execute_unprepared(statement)
                .await?;
        }
        Ok(())
    }
}
