//! A report's version (its count of timeline events, the etag) and its update time move out of the wide `reports` row into a narrow `report_versions` row.
//!
//! Every firing of the deadline engine locks its report and moves the version on. On the wide row (the description, parties, routing decision and so on, about a kilobyte) each firing dirtied and copied a page that holds a handful of reports, so a burst touched as many pages as it had reports, and on PostgreSQL wrote each one whole to the WAL after every checkpoint. A narrow row is about 60 bytes: a page holds a hundred, and a burst of firings stays within a small, hot table.
//!
//! - `report_versions` has one row per report, written with it; a report's other columns are read and written as before.
//! - On PostgreSQL, `case_events` refers to `report_versions` instead of `reports`. An event's foreign-key check locks the row it refers to (`FOR KEY SHARE`), which would dirty the wide row's page again; the narrow row is already locked by whoever appends the event. `report_versions` itself refers to `reports`, so every event still belongs to a stored report. SQLite checks a foreign key without writing to the row, so its `case_events` keeps referring to `reports` (changing a constraint there means rebuilding the table).
//! - `report_versions` keeps room in each page on PostgreSQL (fillfactor 80), so a version bump, which changes no indexed column, is a HOT update.
//!
//! Replicas running the code before this migration read `reports.version`: stop them before it runs (all replicas move to this version together).

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_report_versions"
    }
}

const UP: &[&str] = &[
    "CREATE TABLE report_versions (
        report_id TEXT NOT NULL PRIMARY KEY REFERENCES reports (id),
        version BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL
    )",
    "INSERT INTO report_versions (report_id, version, updated_at_ms) \
     SELECT id, version, updated_at_ms FROM reports",
];

const UP_POSTGRES: &[&str] = &[
    "ALTER TABLE report_versions SET (fillfactor = 80)",
    "ALTER TABLE case_events DROP CONSTRAINT fk_case_events_report",
    "ALTER TABLE case_events ADD CONSTRAINT fk_case_events_report \
     FOREIGN KEY (report_id) REFERENCES report_versions (report_id)",
];

const UP_AFTER: &[&str] = &[
    "ALTER TABLE reports DROP COLUMN version",
    "ALTER TABLE reports DROP COLUMN updated_at_ms",
];

const DOWN: &[&str] = &[
    "ALTER TABLE reports ADD COLUMN version BIGINT NOT NULL DEFAULT 1",
    "ALTER TABLE reports ADD COLUMN updated_at_ms BIGINT NOT NULL DEFAULT 0",
    "UPDATE reports SET \
     version = (SELECT v.version FROM report_versions v WHERE v.report_id = reports.id), \
     updated_at_ms = (SELECT v.updated_at_ms FROM report_versions v WHERE v.report_id = reports.id)",
];

const DOWN_POSTGRES: &[&str] = &[
    "ALTER TABLE case_events DROP CONSTRAINT fk_case_events_report",
    "ALTER TABLE case_events ADD CONSTRAINT fk_case_events_report \
     FOREIGN KEY (report_id) REFERENCES reports (id)",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            run(manager, UP_POSTGRES).await?;
        }
        run(manager, UP_AFTER).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            run(manager, DOWN_POSTGRES).await?;
        }
        run(manager, &["DROP TABLE report_versions"]).await
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
    use sea_orm_migration::MigratorTrait;

    use super::super::Migrator;

    async fn numbers(db: &DatabaseConnection, sql: &str) -> Vec<(String, i64, i64)> {
        db.query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .expect("query")
        .into_iter()
        .map(|row| row.try_get_many_by_index().expect("row"))
        .collect()
    }

    #[tokio::test]
    async fn stored_versions_move_to_their_own_rows_and_back() {
        let db = Database::connect("sqlite::memory:").await.expect("connect");
        Migrator::up(&db, Some(10)).await.expect("up to m0010");
        // A report as m0010 stored it; its author is not the point here.
        db.execute_unprepared("PRAGMA foreign_keys = OFF")
            .await
            .expect("pragma");
        db.execute_unprepared(
            "INSERT INTO reports (id, author_id, category_id, description, latitude, longitude, \
             coordinate_system, accuracy_m, observed_at_ms, created_at_ms, updated_at_ms, parties, \
             attachments, request_hash, state, version, rework_count) VALUES \
             ('r1', 'u1', 'c1', '', 39.9, 116.4, 'wgs84', 5.0, 1000, 1000, 7000, '[]', '[]', 'h', \
             'open', 7, 0)",
        )
        .await
        .expect("insert");

        Migrator::up(&db, None).await.expect("up");
        assert_eq!(
            numbers(
                &db,
                "SELECT report_id, version, updated_at_ms FROM report_versions"
            )
            .await,
            vec![("r1".to_owned(), 7, 7000)]
        );
        let columns = numbers(
            &db,
            "SELECT name, 0, 0 FROM pragma_table_info('reports') \
             WHERE name IN ('version', 'updated_at_ms')",
        )
        .await;
        assert!(columns.is_empty(), "{columns:?}");

        Migrator::down(&db, Some(1)).await.expect("down");
        assert_eq!(
            numbers(&db, "SELECT id, version, updated_at_ms FROM reports").await,
            vec![("r1".to_owned(), 7, 7000)]
        );
    }
}
