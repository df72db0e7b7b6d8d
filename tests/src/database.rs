//! A fresh database per test: a SQLite file in a temporary directory, or a new PostgreSQL database (dropped afterwards) on the server in `TEST_DATABASE_URL`.

use gridwhistle_server::config::sqlite_url;
use gridwhistle_server::storage::{PoolSettings, Store};
use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server to test against, if any.
///
/// With `TEST_INTEGRATION=1` (as CI sets it) a missing `TEST_DATABASE_URL` is a failure, never a skip.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let required = std::env::var("TEST_INTEGRATION").is_ok_and(|v| v == "1");
    assert!(
        url.is_some() || !required,
        "TEST_INTEGRATION=1 but TEST_DATABASE_URL is not set: PostgreSQL tests cannot be skipped"
    );
    url
}

/// Every backend this run can test: SQLite always, PostgreSQL when configured.
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if postgres_url().is_some() {
        backends.push(Backend::Postgres);
    } else {
        eprintln!("note: TEST_DATABASE_URL not set; PostgreSQL variants skipped");
    }
    backends
}

/// One test's own database; clones share it, and it is removed when the last clone drops (a restarted server reopens a clone).
#[derive(Debug, Clone)]
pub struct TestDatabase {
    backend: Backend,
    url: String,
    _dir: Option<std::sync::Arc<TempDir>>,
    postgres: Option<std::sync::Arc<PostgresCleanup>>,
}

#[derive(Debug)]
struct PostgresCleanup {
    admin_url: String,
    name: String,
}

/// Replaces the database name in a PostgreSQL URL, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = sqlite_url(&dir.path().join("gridwhistle.db"));
                Self {
                    backend,
                    url,
                    _dir: Some(std::sync::Arc::new(dir)),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_url().expect("TEST_DATABASE_URL is set");
                let name = format!("gw_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create a test database");
                let _ = admin.close().await;
                Self {
                    backend,
                    url: with_database(&admin_url, &name),
                    _dir: None,
                    postgres: Some(std::sync::Arc::new(PostgresCleanup { admin_url, name })),
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// On PostgreSQL, the server's administration URL and this database's name.
    pub fn postgres(&self) -> Option<(&str, &str)> {
        self.postgres
            .as_ref()
            .map(|p| (p.admin_url.as_str(), p.name.as_str()))
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, PoolSettings::default())
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate the test database");
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Only the last clone removes the database.
        let Some(cleanup) = self.postgres.take().and_then(std::sync::Arc::into_inner) else {
            return;
        };
        // Drop runs inside the test's runtime, which may be shutting down: use a runtime of our own on a plain thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(cleanup.admin_url.as_str()).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", cleanup.name);
                admin.execute_unprepared(&sql).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: could not drop a test database");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "gw_1"),
            "postgres://postgres@127.0.0.1:5432/gw_1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "gw_2"),
            "postgres://u:p@h/gw_2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "gw_3"),
            "postgres://h:5432/gw_3"
        );
    }
}
