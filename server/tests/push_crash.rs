//! Crash safety of the push sender: the server is killed with SIGKILL three times while pushes are queued, and after the last restart every queued push reaches the fake FCM.
//! A push may be sent twice only when a kill caught it between the send and the commit recording it (in flight, or answered and waiting for its batch's commit): FCM has no idempotency key, and the collapse key folds the repeat on the phone.
//!
//! Runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set (required under `TEST_INTEGRATION=1`).

#[path = "support/client.rs"]
mod client;
mod support;

use std::collections::{HashMap, HashSet};
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use gridwhistle_fake_fcm::{FakeFcm, Options};
use gridwhistle_proto::v1;
use gridwhistle_proto::v1::device_service_client::DeviceServiceClient;
use sea_orm::{ConnectionTrait, Database, Statement};
use tokio::sync::Semaphore;

use client::{authorized, channel, login, whistle_dispute};
use support::{CrashDatabase, count, serve};

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";
const WHISTLES: usize = 150;
/// Phones per summoned department's duty officer.
const PHONES: usize = 5;
const KILLS: usize = 3;
const CONCURRENCY: usize = 4;

fn kill(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_queued_push_is_sent_after_three_sigkills() {
    for database in CrashDatabase::all("gw_push_crash").await {
        // Slow enough that a few thousand pushes take several seconds to drain.
        let fcm = FakeFcm::start(Options {
            latency: Duration::from_millis(15),
            ..Options::default()
        })
        .await
        .expect("the fake FCM starts");
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("fcm.json");
        std::fs::write(&key, fcm.service_account_json()).unwrap();
        let database_url = database.url(dir.path());
        let base_url = fcm.base_url();
        let concurrency = CONCURRENCY.to_string();
        let args = [
            "--demo",
            "--deadline-engine",
            "false",
            "--database-url",
            database_url.as_str(),
            "--fcm-credentials",
            key.to_str().unwrap(),
            "--fcm-base-url",
            base_url.as_str(),
            "--push-concurrency",
            concurrency.as_str(),
        ];
        let (mut child, addr, _log) = serve(dir.path(), &args);
        let shared = channel(&addr);
        let worker = login(shared.clone(), WORKER).await;
        let at = gridwhistle_sample::point_in_grid(include_str!("../demo/grids.geojson"), GRID)
            .expect("the sample grid");

        // Learn the departments this grid and category summon, and give their duty officers phones.
        let departments: Vec<String> = whistle_dispute(shared.clone(), &worker, at)
            .await
            .assignments
            .into_iter()
            .map(|a| a.department)
            .collect();
        let mut tokens = HashSet::new();
        for department in &departments {
            let officer = format!("duty.{}", department.strip_prefix("departments/").unwrap());
            let token = login(shared.clone(), &officer).await;
            for phone in 0..PHONES {
                let push_token = format!("tok-{officer}-{phone}");
                DeviceServiceClient::new(shared.clone())
                    .register_device(authorized(
                        v1::RegisterDeviceRequest {
                            device_id: uuid::Uuid::new_v4().to_string(),
                            push_token: push_token.clone(),
                            platform: v1::Platform::Android.into(),
                            channel: v1::PushChannel::Fcm.into(),
                            app_version: "2.3.0".to_owned(),
                            locale: "zh-CN".to_owned(),
                        },
                        &token,
                    ))
                    .await
                    .expect("the device registers");
                tokens.insert(push_token);
            }
        }

        let permits = Arc::new(Semaphore::new(16));
        let mut tasks = Vec::with_capacity(WHISTLES);
        for _ in 0..WHISTLES {
            let permit = permits.clone().acquire_owned().await.unwrap();
            let (channel, token) = (shared.clone(), worker.clone());
            tasks.push(tokio::spawn(async move {
                whistle_dispute(channel, &token, at).await;
                drop(permit);
            }));
        }
        for task in tasks {
            task.await.expect("a whistle");
        }
        let expected = WHISTLES * departments.len() * PHONES;

        // Kill the server while pushes are still queued, at a quarter, half and three quarters of the way.
        let db = Database::connect(&database_url)
            .await
            .expect("the database");
        for k in 1..=KILLS {
            let mark = expected * k / (KILLS + 1);
            let mut waited = 0;
            while (fcm.sent() as usize) < mark {
                waited += 1;
                assert!(
                    waited < 6_000,
                    "pushes stalled at {} of {expected}",
                    fcm.sent()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            kill(&mut child);
            let queued = count(
                &db,
                "SELECT (SELECT COUNT(*) FROM notifications WHERE state IN ('queued', 'sending')) \
                 + (SELECT COUNT(*) FROM push_deliveries WHERE state = 'queued')",
            )
            .await;
            assert!(queued > 0, "kill {k} came after the outbox drained");
            let (restarted, _, _) = serve(dir.path(), &args);
            child = restarted;
        }

        // After the last restart everything drains.
        let mut waited = 0;
        while count(
            &db,
            "SELECT (SELECT COUNT(*) FROM notifications WHERE state IN ('queued', 'sending')) \
             + (SELECT COUNT(*) FROM push_deliveries WHERE state = 'queued')",
        )
        .await
            > 0
        {
            waited += 1;
            assert!(
                waited < 600,
                "pushes still queued a minute after the last restart"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        kill(&mut child);

        let deliveries = count(&db, "SELECT COUNT(*) FROM push_deliveries").await;
        let sent = count(
            &db,
            "SELECT COUNT(*) FROM push_deliveries WHERE state = 'sent'",
        )
        .await;
        assert!(
            deliveries >= i64::try_from(expected).unwrap(),
            "{deliveries} deliveries for {expected} pushes"
        );
        assert_eq!(sent, deliveries, "every delivery was sent");

        // Every delivery reached the fake, and repeats are bounded by what was in flight at the kills.
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT pd.notification_id AS n, d.push_token AS t FROM push_deliveries pd \
                 JOIN devices d ON d.id = pd.device_id",
            ))
            .await
            .unwrap();
        let mut received: HashMap<(String, String), usize> = HashMap::new();
        for a in fcm.accepted() {
            let n = a.body["message"]["data"]["notification"]
                .as_str()
                .unwrap()
                .to_owned();
            *received.entry((n, a.token)).or_default() += 1;
        }
        for row in &rows {
            let key = (
                row.try_get::<String>("", "n").unwrap(),
                row.try_get::<String>("", "t").unwrap(),
            );
            assert!(tokens.contains(&key.1));
            assert!(received.contains_key(&key), "{key:?} never reached FCM");
        }
        let repeats: usize = received.values().map(|n| n - 1).sum();
        // Per kill: the sends in flight, plus the answers of about two settle commits' worth of sending at this rate.
        let bound = KILLS * 8 * CONCURRENCY;
        assert!(
            repeats <= bound,
            "{repeats} repeated pushes; a kill can repeat only what was sent but not yet recorded (bound {bound})"
        );
        eprintln!(
            "{deliveries} pushes sent across {KILLS} SIGKILLs on {:?}, {repeats} repeated",
            db.get_database_backend()
        );
        db.close().await.expect("close");
        database.drop_database().await;
    }
}
