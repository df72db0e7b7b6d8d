//! Crash safety of the deadline engine: 10,000 deadlines of cases and 1,000 of ledger steps fall due within about a minute while the server is killed with SIGKILL three times.
//! Afterwards every deadline fired exactly once (one escalation event, on the case's or the entry's timeline, and one outbox row each) and none fired before its due time.
//!
//! Runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set (required under `TEST_INTEGRATION=1`), both at once.

#[path = "support/client.rs"]
mod client;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{Database, DbBackend};
use tokio::sync::Semaphore;
use tonic::transport::Channel;

use client::{channel, login, open_ledger_entry, whistle_dispute};
use gridwhistle_dispatcher::Clock as _;
use support::{CrashDatabase, count, serve};

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";
/// Each whistle summons two departments, each with a report-in deadline.
const WHISTLES: usize = 5_000;
const DEADLINES: i64 = 2 * WHISTLES as i64;
/// Every tenth whistle, a supervisor opens a ledger entry whose two steps fall due a minute later.
const ENTRIES: usize = WHISTLES / 10;
const STEP_DEADLINES: i64 = 2 * ENTRIES as i64;
const KILLS: usize = 3;

/// One stage, due one minute after the whistle, and ledger steps, each with one escalation at the due time: one firing per deadline.
const POLICIES: &str = r#"{"policies": [{"stages": [{"stage": "report_in",
    "limit": {"amount": 1, "unit": "minutes"},
    "ladder": [{"after_minutes": 0, "audience": "duty_officers"}]},
    {"stage": "ledger_step", "limit": {"amount": 1, "unit": "minutes"},
    "ladder": [{"after_minutes": 0, "audience": "duty_officers"}]}]}]}"#;

/// Files and whistles one report at `at`: two departments are summoned.
async fn whistle_one(channel: Channel, token: &str, at: (f64, f64)) {
    let case = whistle_dispute(channel, token, at).await;
    assert_eq!(case.assignments.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_deadline_fires_once_and_never_early_across_three_sigkills() {
    // The databases side by side: each run spends two minutes waiting for its deadlines to fall due.
    support::on_each_at_once(
        CrashDatabase::all("gw_deadline_crash").await,
        fires_once_and_never_early,
    )
    .await;
}

async fn fires_once_and_never_early(database: CrashDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("time_limits.json");
    std::fs::write(&policies, POLICIES).unwrap();
    let mut args = vec![
        "--demo".to_owned(),
        "--time-limits".to_owned(),
        policies.display().to_string(),
    ];
    let database_url = database.url(dir.path());
    args.extend(["--database-url".to_owned(), database_url.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut child, addr, _log) = serve(dir.path(), &args);
    let token = login(channel(&addr), WORKER).await;
    let supervisor = login(channel(&addr), "supervisor").await;
    let at = gridwhistle_sample::point_in_grid(include_str!("../demo/grids.geojson"), GRID)
        .expect("the sample grid");

    // Whistle as fast as 16 callers can: the deadlines fall due one minute after each whistle.
    let started = Instant::now();
    let shared = channel(&addr);
    let permits = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::with_capacity(WHISTLES);
    for n in 0..WHISTLES {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let (channel, token) = (shared.clone(), token.clone());
        let supervisor = (n % 10 == 0).then(|| supervisor.clone());
        tasks.push(tokio::spawn(async move {
            whistle_one(channel.clone(), &token, at).await;
            if let Some(supervisor) = supervisor {
                let due = gridwhistle_dispatcher::SystemClock.now().as_unix_millis() / 1000 + 60;
                open_ledger_entry(channel, &supervisor, due).await;
            }
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.expect("a whistle");
    }
    let span = started.elapsed();

    // Kill the server three times while the deadlines fall due: from a minute after the first whistle (or the last, if whistling took longer on a loaded machine) until a minute after the last.
    let firing = Duration::from_secs(60).max(span)..span + Duration::from_secs(60);
    let step = (firing.end - firing.start).max(Duration::from_secs(3)) / (KILLS as u32 + 1);
    for kill in 1..=KILLS {
        let at = firing.start + step * kill as u32;
        tokio::time::sleep(at.saturating_sub(started.elapsed())).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let (restarted, _, _) = serve(dir.path(), &args);
        child = restarted;
    }
    // Wait for the last deadline, plus time for the restarted engine to catch up.
    tokio::time::sleep(
        (span + Duration::from_secs(62)).saturating_sub(started.elapsed()) + Duration::from_secs(5),
    )
    .await;

    let db = Database::connect(&database_url)
        .await
        .expect("the database");
    let mut waited = 0;
    while count(
        &db,
        "SELECT COUNT(*) FROM deadlines WHERE next_fire_at_ms IS NOT NULL",
    )
    .await
        > 0
    {
        waited += 1;
        assert!(
            waited < 60,
            "deadlines still waiting a minute after they fell due"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM deadlines").await,
        DEADLINES + STEP_DEADLINES
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM case_events WHERE kind = 'escalated'"
        )
        .await,
        DEADLINES,
        "one escalation event per deadline"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM (SELECT report_id, department_id FROM case_events \
             WHERE kind = 'escalated' GROUP BY report_id, department_id HAVING COUNT(*) <> 1) t"
        )
        .await,
        0,
        "no deadline fired twice"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM case_events e JOIN deadlines d \
             ON d.report_id = e.report_id AND d.department_id = e.department_id \
             WHERE e.kind = 'escalated' AND e.at_ms < d.due_at_ms"
        )
        .await,
        0,
        "no deadline fired early"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM ledger_events WHERE kind = 'escalated'"
        )
        .await,
        STEP_DEADLINES,
        "one escalation event per step's deadline"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM (SELECT entry_id, text FROM ledger_events \
             WHERE kind = 'escalated' GROUP BY entry_id, text HAVING COUNT(*) <> 1) t"
        )
        .await,
        0,
        "no step's deadline fired twice"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM ledger_events e JOIN deadlines d ON d.entry_id = e.entry_id \
             WHERE e.kind = 'escalated' AND e.at_ms < d.due_at_ms"
        )
        .await,
        0,
        "no step's deadline fired early"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM notifications WHERE kind = 'escalation'"
        )
        .await,
        DEADLINES + STEP_DEADLINES,
        "one outbox row per firing"
    );
    eprintln!(
        "{DEADLINES} deadlines whistled and {STEP_DEADLINES} of ledger steps planned in {span:?} fired once each across {KILLS} SIGKILLs on {}",
        if db.get_database_backend() == DbBackend::Postgres {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    db.close().await.expect("close");
    database.drop_database().await;
}
