//! Crash safety of `CreateReport`: the server is killed with SIGKILL while clients file reports and retry, then restarted.
//! Afterwards every report whose `CreateReport` returned OK is stored exactly once, with exactly one `Reported` event, and nothing else is.
//!
//! Runs on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set (required under `TEST_INTEGRATION=1`).

#[path = "support/client.rs"]
mod client;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use gridwhistle_dispatcher::clock::{Clock as _, SystemClock};
use gridwhistle_proto::v1;
use gridwhistle_proto::v1::auth_service_client::AuthServiceClient;
use gridwhistle_proto::v1::report_service_client::ReportServiceClient;
use tokio::sync::{Mutex, watch};
use tonic::transport::Channel;

use client::{authorized, channel};
use support::{CrashDatabase, serve};

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";
const CLIENTS: usize = 16;
const KILLS: usize = 3;
/// Acknowledged reports to wait for between kills.
const ACKS_PER_ROUND: usize = 150;

/// A point inside the worker's grid, from the sample district's own geometry.
fn point() -> (f64, f64) {
    gridwhistle_sample::point_in_grid(include_str!("../demo/grids.geojson"), GRID)
        .expect("the sample grid")
}

fn request(id: &uuid::Uuid, (lat, lng): (f64, f64)) -> v1::CreateReportRequest {
    // The server runs on the system clock, so the report was seen by it a minute ago.
    let observed = SystemClock.now().as_unix_millis() / 1000 - 60;
    v1::CreateReportRequest {
        report_id: id.to_string(),
        report: Some(v1::Report {
            category: "categories/neighbour-dispute".to_owned(),
            description: format!("楼道堆放杂物 {id}"),
            location: Some(v1::Location {
                latitude: lat,
                longitude: lng,
                coordinate_system: v1::CoordinateSystem::Wgs84.into(),
                accuracy_meters: 5.0,
            }),
            observe_time: Some(prost_types::Timestamp {
                seconds: observed,
                nanos: 0,
            }),
            ..Default::default()
        }),
    }
}

/// Files reports back to back; retries each one, with the same id and payload, until the server says OK.
async fn client(
    server: watch::Receiver<Channel>,
    token: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<uuid::Uuid>>>,
    retries: Arc<AtomicUsize>,
) {
    let at = point();
    while !stop.load(Ordering::Relaxed) {
        let id = uuid::Uuid::now_v7();
        let message = request(&id, at);
        loop {
            let channel = server.borrow().clone();
            match ReportServiceClient::new(channel)
                .create_report(authorized(message.clone(), &token))
                .await
            {
                Ok(reply) => {
                    let report = reply.into_inner().report.expect("a report");
                    assert_eq!(report.name, format!("reports/{id}"));
                    acked.lock().await.push(id);
                    break;
                }
                Err(status) => {
                    // A refusal would be a bug; only the transport may fail while the server is down.
                    assert!(
                        matches!(
                            status.code(),
                            tonic::Code::Unavailable
                                | tonic::Code::Unknown
                                | tonic::Code::Cancelled
                                | tonic::Code::DeadlineExceeded
                        ),
                        "{status:?}"
                    );
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

async fn wait_for_acks(acked: &Mutex<Vec<uuid::Uuid>>, at_least: usize) {
    for _ in 0..6000 {
        if acked.lock().await.len() >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("clients acknowledged fewer than {at_least} reports in a minute");
}

async fn login(addr: &str) -> String {
    AuthServiceClient::new(channel(addr))
        .login(v1::LoginRequest {
            username: WORKER.to_owned(),
            password: gridwhistle_server::demo::DEMO_PASSWORD.to_owned(),
        })
        .await
        .expect("the demo worker logs in")
        .into_inner()
        .tokens
        .expect("tokens")
        .access_token
}

fn kill(child: &mut std::process::Child) {
    // Child::kill sends SIGKILL on Unix: no drain, no shutdown hook, no final fsync.
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_acknowledged_before_sigkill_are_stored_exactly_once_after_restart() {
    for database in CrashDatabase::all("gw_crash").await {
        let dir = tempfile::tempdir().unwrap();
        let args = [
            "--demo".to_owned(),
            "--database-url".to_owned(),
            database.url(dir.path()),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (mut child, addr, _log) = serve(dir.path(), &args);
        let token = login(&addr).await;
        let (server, watched) = watch::channel(channel(&addr));
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let retries = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                tokio::spawn(client(
                    watched.clone(),
                    token.clone(),
                    stop.clone(),
                    acked.clone(),
                    retries.clone(),
                ))
            })
            .collect();

        let mut addr = addr;
        for round in 1..=KILLS {
            wait_for_acks(&acked, round * ACKS_PER_ROUND).await;
            kill(&mut child);
            let (restarted, new_addr, _) = serve(dir.path(), &args);
            child = restarted;
            addr = new_addr;
            server.send_replace(channel(&addr));
        }
        wait_for_acks(&acked, (KILLS + 1) * ACKS_PER_ROUND).await;
        stop.store(true, Ordering::Relaxed);
        for task in clients {
            task.await.expect("a client finished");
        }

        let acked: BTreeSet<uuid::Uuid> = acked.lock().await.iter().copied().collect();
        let retries = retries.load(Ordering::Relaxed);
        assert!(
            retries >= KILLS,
            "every kill interrupted calls in flight, yet only {retries} were retried"
        );
        let channel = channel(&addr);
        let mut reports = ReportServiceClient::new(channel);
        let mut stored = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = reports
                .list_my_reports(authorized(
                    v1::ListMyReportsRequest {
                        page_size: 500,
                        page_token: page_token.clone(),
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .expect("list")
                .into_inner();
            stored.extend(page.reports.into_iter().map(|r| r.name));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let stored_set: BTreeSet<uuid::Uuid> = stored
            .iter()
            .map(|name| name.strip_prefix("reports/").unwrap().parse().unwrap())
            .collect();
        assert_eq!(stored.len(), stored_set.len(), "a report listed twice");
        assert_eq!(
            stored_set, acked,
            "stored reports differ from the acknowledged ones"
        );

        // The event log, replayed from its start, holds one Reported event per report.
        let mut stream = reports
            .watch_my_reports(authorized(
                v1::WatchMyReportsRequest {
                    cursor: "0.0".to_owned(),
                },
                &token,
            ))
            .await
            .expect("watch")
            .into_inner();
        let mut reported: HashMap<String, usize> = HashMap::new();
        while reported.values().sum::<usize>() < acked.len() {
            let change = tokio::time::timeout(Duration::from_secs(10), stream.message())
                .await
                .expect("the replay keeps coming")
                .expect("a change")
                .expect("the stream is open");
            let event = change.event.expect("an event");
            assert_eq!(event.kind(), v1::CaseEventKind::Reported);
            *reported
                .entry(change.report.expect("a report").name)
                .or_default() += 1;
        }
        assert!(
            reported.values().all(|&n| n == 1),
            "a report has two Reported events"
        );
        assert_eq!(reported.len(), acked.len());
        eprintln!(
            "{} reports acknowledged across {KILLS} SIGKILLs on {} ({retries} calls retried); all present once",
            acked.len(),
            if database.postgres.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            }
        );
        kill(&mut child);
        database.drop_database().await;
    }
}
