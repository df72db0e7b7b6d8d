//! The schema the migrations build, pinned per database: a landed migration is never edited in what it creates, so a change to any migration that alters the schema fails here.
//!
//! A new migration changes the schema on purpose: run `UPDATE_EXPECT=1 cargo test -p gridwhistle-tests --test schema` and review the diff of `tests/snapshots/`.

use expect_test::expect_file;
use gridwhistle_tests::database::{Backend, TestDatabase, backends};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

/// Every table, column, index and constraint, one line each, in a stable order.
async fn schema(database: &TestDatabase) -> String {
    let db = Database::connect(database.url()).await.expect("connect");
    let (backend, sql) = match database.backend() {
        Backend::Sqlite => (
            DbBackend::Sqlite,
            "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') AS line FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        ),
        Backend::Postgres => (
            DbBackend::Postgres,
            "SELECT line FROM ( \
               SELECT 'column ' || table_name || '.' || column_name || ': ' || data_type || \
                 CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END || \
                 COALESCE(' default ' || column_default, '') AS line \
               FROM information_schema.columns WHERE table_schema = 'public' \
               UNION ALL SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes \
               WHERE schemaname = 'public' \
               UNION ALL SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ': ' || \
                 pg_get_constraintdef(oid) FROM pg_constraint \
               WHERE connamespace = 'public'::regnamespace \
               UNION ALL SELECT 'table ' || relname || ': ' || COALESCE(array_to_string(reloptions, ','), '') \
               FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' \
             ) AS s ORDER BY line",
        ),
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("read the schema");
    let mut out = String::new();
    for row in rows {
        let line: String = row.try_get("", "line").expect("a schema line");
        // SQLite keeps each statement as written: one line per statement reads better in a diff.
        out.push_str(&line.split_whitespace().collect::<Vec<_>>().join(" "));
        out.push('\n');
    }
    db.close().await.expect("close");
    out
}

#[tokio::test]
async fn the_migrations_build_the_pinned_schema() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        database.store().await.close().await.expect("close");
        let schema = schema(&database).await;
        match backend {
            Backend::Sqlite => expect_file!["../snapshots/schema_sqlite.txt"].assert_eq(&schema),
            Backend::Postgres => {
                expect_file!["../snapshots/schema_postgres.txt"].assert_eq(&schema);
            }
        }
    }
}
