//! Runs the `gridwhistle` binary as an operator would, for the tests in this directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_gridwhistle");

/// The binary with `data_dir` and no database URL from the environment: SQLite in the data directory.
pub(crate) fn gridwhistle(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("GRIDWHISTLE_DATABASE_URL")
        .env("RUST_LOG", "info");
    command
}

/// Starts `serve` on port 0 with `args` added; returns the child, the address it logged, and every later log line.
pub(crate) fn serve(data_dir: &Path, args: &[&str]) -> (Child, String, Receiver<String>) {
    let mut child = gridwhistle(data_dir)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("gridwhistle serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the server logs its address");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    (child, addr, rx)
}

/// A database for one run of a crash test: a SQLite file in the run's data directory, or a fresh PostgreSQL database dropped by [`CrashDatabase::drop_database`].
#[derive(Debug)]
#[allow(dead_code, reason = "each test binary uses the part it needs")]
pub(crate) struct CrashDatabase {
    /// `None` for SQLite: the server's default in its data directory.
    pub(crate) postgres: Option<(String, String)>,
}

#[allow(dead_code, reason = "each test binary uses the part it needs")]
impl CrashDatabase {
    /// SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set (required under `TEST_INTEGRATION=1`), each in a database named after `prefix`.
    pub(crate) async fn all(prefix: &str) -> Vec<CrashDatabase> {
        use sea_orm::{ConnectionTrait, Database};
        let mut all = vec![CrashDatabase { postgres: None }];
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(admin) => {
                let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
                let db = Database::connect(&admin).await.expect("PostgreSQL answers");
                db.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the test database");
                db.close().await.expect("close");
                let (base, _) = admin.rsplit_once('/').expect("a database URL has a path");
                all.push(CrashDatabase {
                    postgres: Some((format!("{base}/{name}"), name)),
                });
            }
            None => assert!(
                !std::env::var("TEST_INTEGRATION").is_ok_and(|v| v == "1"),
                "TEST_INTEGRATION=1 but TEST_DATABASE_URL is not set"
            ),
        }
        all
    }

    /// The URL the server opens, given its data directory.
    pub(crate) fn url(&self, data_dir: &Path) -> String {
        match &self.postgres {
            Some((url, _)) => url.clone(),
            None => gridwhistle_server::config::sqlite_url(&data_dir.join("gridwhistle.db")),
        }
    }

    /// Drops the PostgreSQL database, if this is one.
    pub(crate) async fn drop_database(self) {
        use sea_orm::{ConnectionTrait, Database};
        if let Some((_, name)) = self.postgres {
            let admin = std::env::var("TEST_DATABASE_URL").expect("set when PostgreSQL ran");
            let db = Database::connect(&admin).await.expect("PostgreSQL answers");
            db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .expect("drop the test database");
        }
    }
}

/// Runs `test` on every database at the same time, each on a task of its own, and fails if any of them failed.
/// For tests that spend most of their time waiting on the wall clock, so the waits overlap instead of adding up.
#[allow(dead_code, reason = "each test binary uses the part it needs")]
pub(crate) async fn on_each_at_once<F, Fut>(databases: Vec<CrashDatabase>, test: F)
where
    F: Fn(CrashDatabase) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let tasks: Vec<_> = databases
        .into_iter()
        .map(|database| tokio::spawn(test(database)))
        .collect();
    for task in tasks {
        if let Err(failed) = task.await {
            std::panic::resume_unwind(failed.into_panic());
        }
    }
}

/// The single number `sql` answers.
#[allow(dead_code, reason = "each test binary uses the part it needs")]
pub(crate) async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .expect("the query runs")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}
