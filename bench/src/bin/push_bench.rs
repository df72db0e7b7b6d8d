//! Measures push sending against a local fake FCM (an HTTP/2 server in this process that answers like FCM) at 100 concurrent streams: first a plain `reqwest` loop posting the same messages (the floor), then the real sender draining the outbox through the FCM client, with its durable bookkeeping (expanding notifications into deliveries, claims, one commit per batch of outcomes) on SQLite and, given `--postgres-url`, on PostgreSQL. All in one run, so the ratio is comparable.
//!
//! The outbox is seeded through the real API (a whistle and the duty officer's phones on the demo district), then widened with copies of the whistle's notification.

#![allow(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use gridwhistle_bench::{authorized, connect, login};
use gridwhistle_dispatcher::push::{Sender, SenderConfig};
use gridwhistle_dispatcher::{Clock, SystemClock};
use gridwhistle_fake_fcm::{FakeFcm, Options, PROJECT};
use gridwhistle_proto::v1;
use gridwhistle_proto::v1::device_service_client::DeviceServiceClient;
use gridwhistle_proto::v1::report_service_client::ReportServiceClient;
use gridwhistle_server::ServerConfig;
use gridwhistle_server::push::OutboxDb;
use gridwhistle_server::push::fcm::{FcmClient, FcmSettings, ServiceAccount};
use gridwhistle_server::storage::{PoolSettings, Store};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, Value};
use tokio::sync::Semaphore;

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";
const DEMO_GRIDS: &str = include_str!("../../../server/demo/grids.geojson");

#[derive(Debug, Parser)]
#[command(about = "Push sending throughput against a local fake FCM, beside a plain reqwest floor")]
struct Args {
    /// Messages each measurement sends.
    #[arg(long, default_value_t = 50_000)]
    messages: usize,
    /// Phones of the duty officer; each notification goes to all of them.
    #[arg(long, default_value_t = 5)]
    phones: usize,
    /// Concurrent streams to the fake FCM.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Also measure on PostgreSQL (a fresh database is made and dropped on this server).
    #[arg(long)]
    postgres_url: Option<String>,
    /// Measurements of each target, each between two of the floor.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// An FCM v1 body like the sender's: ids and generic text only.
fn body(token: &str, n: usize) -> Vec<u8> {
    serde_json::json!({
        "message": {
            "token": token,
            "notification": { "title": "新的吹哨案件", "body": "有案件派给您的部门，请及时报到。" },
            "data": {
                "notification": format!("00000000-0000-7000-8000-{n:012}"),
                "kind": "case_assigned",
                "subject": "cases/00000000-0000-7000-8000-000000000000",
            },
            "android": { "priority": "NORMAL", "collapse_key": "c/case_assigned",
                "notification": { "tag": "c/case_assigned" } },
            "apns": { "headers": { "apns-priority": "5", "apns-collapse-id": "c/case_assigned" } },
        }
    })
    .to_string()
    .into_bytes()
}

/// The floor: `messages` POSTs from a plain reqwest client over HTTP/2, `concurrency` at a time.
async fn floor(fcm: &FakeFcm, args: &Args) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .tcp_nodelay(true)
        .build()?;
    let url = format!("{}/v1/projects/{PROJECT}/messages:send", fcm.base_url());
    let bearer = format!("Bearer {}", fcm.issue_access_token());
    let before = fcm.sent();
    let permits = Arc::new(Semaphore::new(args.concurrency));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..args.messages {
        let permit = permits.clone().acquire_owned().await?;
        let (client, url, bearer) = (client.clone(), url.clone(), bearer.clone());
        tasks.spawn(async move {
            let response = client
                .post(url)
                .header("authorization", bearer)
                .header("content-type", "application/json")
                .body(body(&format!("tok-{}", n % 5), n))
                .send()
                .await?;
            let ok = response.status().is_success();
            // Read to the end: a response dropped with its body unread makes the client's HTTP/2 reset the stream
            // (RST_STREAM CANCEL), and after 1,024 such resets h2 closes the connection with ENHANCE_YOUR_CALM.
            response.bytes().await?;
            drop(permit);
            Ok::<_, reqwest::Error>(ok)
        });
        while let Some(done) = tasks.try_join_next() {
            if !done?? {
                bail!("the fake refused a floor message");
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        if !done?? {
            bail!("the fake refused a floor message");
        }
    }
    let elapsed = started.elapsed();
    let sent = fcm.sent() - before;
    if sent != args.messages as u64 {
        bail!(
            "the fake accepted {sent} of {} floor messages",
            args.messages
        );
    }
    Ok(args.messages as f64 / elapsed.as_secs_f64())
}

/// Starts the server on `url` with the demo district (no engine, no sender of its own), whistles one report and registers the lead's duty officer's phones; answers the lead department.
async fn seed_through_the_api(
    url: &str,
    dir: &std::path::Path,
    args: &Args,
) -> anyhow::Result<String> {
    let mut config = ServerConfig::with_defaults(url.to_owned());
    // The metrics are kept, as in production, on a port of their own.
    config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.demo = true;
    config.deadline_engine = false;
    config.push.sender = false;
    config.attachment_dir = dir.join("attachments");
    config.replica_id_file = dir.join("replica-id");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gridwhistle_server::run(
        config,
        Arc::new(SystemClock),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let channel = connect(addr).await?;
    let worker = login(channel.clone(), WORKER).await?;
    let (lat, lng) = gridwhistle_sample::point_in_grid(DEMO_GRIDS, GRID).context("grid")?;
    let mut reports = ReportServiceClient::new(channel.clone());
    let report = reports
        .create_report(authorized(
            v1::CreateReportRequest {
                report_id: uuid::Uuid::now_v7().to_string(),
                report: Some(v1::Report {
                    category: "categories/neighbour-dispute".to_owned(),
                    description: "楼道堆放杂物".to_owned(),
                    location: Some(v1::Location {
                        latitude: lat,
                        longitude: lng,
                        coordinate_system: v1::CoordinateSystem::Wgs84.into(),
                        accuracy_meters: 5.0,
                    }),
                    observe_time: Some(prost_types::Timestamp {
                        seconds: SystemClock.now().as_unix_millis() / 1000 - 60,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
            },
            &worker,
        )?)
        .await?
        .into_inner()
        .report
        .context("a report")?;
    let case = reports
        .whistle(authorized(
            v1::WhistleRequest {
                name: report.name,
                kind: v1::WhistleKind::Routine.into(),
                ..Default::default()
            },
            &worker,
        )?)
        .await?
        .into_inner()
        .case
        .context("a case")?;
    let lead = case.assignments[0]
        .department
        .strip_prefix("departments/")
        .context("a department name")?
        .to_owned();
    let officer = login(channel.clone(), &format!("duty.{lead}")).await?;
    for phone in 0..args.phones {
        DeviceServiceClient::new(channel.clone())
            .register_device(authorized(
                v1::RegisterDeviceRequest {
                    device_id: uuid::Uuid::new_v4().to_string(),
                    push_token: format!("tok-{phone}"),
                    platform: v1::Platform::Android.into(),
                    channel: v1::PushChannel::Fcm.into(),
                    app_version: "2.3.0".to_owned(),
                    locale: "zh-CN".to_owned(),
                },
                &officer,
            )?)
            .await?;
    }
    let _ = stop.send(());
    server.await??;
    Ok(lead)
}

/// Widens the outbox to `notifications` copies of the whistle's notification to the lead's duty officers, queued now.
async fn widen(db: &DatabaseConnection, lead: &str, notifications: usize) -> anyhow::Result<()> {
    let backend = db.get_database_backend();
    let placeholder = |i: usize| match backend {
        sea_orm::DbBackend::Postgres => format!("${i}"),
        _ => "?".to_owned(),
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT report_id, event_sequence FROM notifications WHERE audience = 'duty_officers' \
                 AND department_id = {} AND kind = 'case_assigned'",
                placeholder(1)
            ),
            [Value::from(lead.to_owned())],
        ))
        .await?
        .context("the whistle's notification")?;
    let report: String = row.try_get("", "report_id")?;
    let sequence: i64 = row.try_get("", "event_sequence")?;
    db.execute_unprepared("UPDATE notifications SET state = 'expired' WHERE state = 'queued'")
        .await?;
    let now = SystemClock.now().as_unix_millis();
    let mut remaining = notifications;
    while remaining > 0 {
        let chunk = remaining.min(500);
        remaining -= chunk;
        let mut sql = String::from(
            "INSERT INTO notifications (id, report_id, department_id, audience, kind, stage, \
             event_sequence, escalation_level, due_at_ms, created_at_ms, state, recipient_user_id) VALUES ",
        );
        let mut values = Vec::with_capacity(chunk * 2);
        for i in 0..chunk {
            if i > 0 {
                sql.push_str(", ");
            }
            values.push(Value::from(uuid::Uuid::now_v7().to_string()));
            let id = placeholder(values.len());
            values.push(Value::from(report.clone()));
            let report = placeholder(values.len());
            sql.push_str(&format!(
                "({id}, {report}, '{lead}', 'duty_officers', 'case_assigned', NULL, {sequence}, 0, NULL, {now}, 'queued', NULL)"
            ));
        }
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// A sender over `outbox` with the real FCM client on the fake, on the system clock.
fn sender<S: gridwhistle_dispatcher::push::OutboxStore>(
    outbox: S,
    fcm: &FakeFcm,
    args: &Args,
) -> anyhow::Result<Sender<S>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let client = FcmClient::new(
        FcmSettings {
            account: ServiceAccount::from_json(&fcm.service_account_json())?,
            base_url: fcm.base_url(),
            token_url: None,
            concurrency: args.concurrency,
            timeout: Duration::from_secs(10),
        },
        clock.clone(),
    )?;
    Ok(Sender::new(
        outbox,
        vec![Arc::new(client)],
        clock,
        SenderConfig {
            concurrency: args.concurrency,
            ..SenderConfig::default()
        },
        Arc::new(tokio::sync::Notify::new()),
    ))
}

/// A seeded outbox database with a sender over it.
struct Target {
    name: &'static str,
    lead: String,
    db: DatabaseConnection,
    sender: Sender<OutboxDb>,
    _dir: tempfile::TempDir,
}

impl Target {
    /// Seeds `url` through the API and builds the sender: the real FCM client on the fake, the system clock.
    async fn new(
        name: &'static str,
        fcm: &FakeFcm,
        url: &str,
        args: &Args,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let lead = seed_through_the_api(url, dir.path(), args).await?;
        let db = Database::connect(url).await?;
        let store = Store::connect(url, PoolSettings::default()).await?;
        let sender = sender(OutboxDb::new(store, "push-bench".to_owned()), fcm, args)?;
        Ok(Self {
            name,
            lead,
            db,
            sender,
            _dir: dir,
        })
    }

    async fn sent_rows(&self) -> anyhow::Result<i64> {
        Ok(self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM push_deliveries WHERE state = 'sent'",
            ))
            .await?
            .context("a count")?
            .try_get::<i64>("", "n")?)
    }

    /// Queues `args.messages` pushes and times the sender draining them, bookkeeping included: messages a second.
    async fn round(&self, fcm: &FakeFcm, args: &Args) -> anyhow::Result<f64> {
        let notifications = args.messages / args.phones;
        widen(&self.db, &self.lead, notifications).await?;
        let messages = notifications * args.phones;
        let recorded_before = self.sent_rows().await?;
        let before = fcm.sent();
        let started = Instant::now();
        let drained = self.sender.run_due().await?;
        let elapsed = started.elapsed();
        let sent = fcm.sent() - before;
        let recorded = self.sent_rows().await? - recorded_before;
        if drained.sent != messages as u64 || sent != messages as u64 || recorded != messages as i64
        {
            bail!("sent {sent}, drained {drained:?}, recorded {recorded}; expected {messages}");
        }
        Ok(messages as f64 / elapsed.as_secs_f64())
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.phones == 0 || args.concurrency == 0 || args.messages < args.phones || args.rounds == 0
    {
        bail!(
            "--phones, --concurrency and --rounds must be positive, --messages at least --phones"
        );
    }
    // FCM is a remote service: the fake runs on a thread of its own, so the client side (floor or sender) has the rest of the machine in both measurements.
    let fcm = FakeFcm::start_apart(Options {
        record_bodies: false,
        ..Options::default()
    })?;
    println!(
        "messages={} phones={} concurrency={} rounds={} cores={}",
        args.messages,
        args.phones,
        args.concurrency,
        args.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let sqlite_dir = tempfile::tempdir()?;
    let sqlite = gridwhistle_server::config::sqlite_url(&sqlite_dir.path().join("push-bench.db"));
    let mut targets = vec![Target::new("SQLite", &fcm, &sqlite, &args).await?];
    let mut postgres = None;
    if let Some(admin) = &args.postgres_url {
        let name = format!("gw_push_bench_{}", uuid::Uuid::new_v4().simple());
        let db = Database::connect(admin).await?;
        db.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        let (base, _) = admin
            .rsplit_once('/')
            .context("a database URL has a path")?;
        targets.push(Target::new("PostgreSQL", &fcm, &format!("{base}/{name}"), &args).await?);
        postgres = Some((db, name));
    }
    // Warm the fake, the connections and both databases once before measuring.
    let warm = Args {
        messages: 2_000.max(args.phones),
        postgres_url: None,
        ..args
    };
    floor(&fcm, &warm).await?;
    for target in &targets {
        target.round(&fcm, &warm).await?;
    }

    // Rounds interleave the floor and each target, so each ratio compares neighbours in time on this noisy machine.
    let mut floors = Vec::new();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut last_floor = floor(&fcm, &args).await?;
    floors.push(last_floor);
    for round in 1..=args.rounds {
        let memory = memory_round(&fcm, &args).await?;
        println!("round {round}: sender without a database {memory:>7.0} msg/s");
        for (t, target) in targets.iter().enumerate() {
            let rate = target.round(&fcm, &args).await?;
            let next_floor = floor(&fcm, &args).await?;
            floors.push(next_floor);
            let ratio = rate / ((last_floor + next_floor) / 2.0);
            println!(
                "round {round}: sender on {:<10} {rate:>7.0} msg/s, floor around it {last_floor:>7.0} / {next_floor:>7.0} msg/s: {:>5.1}%",
                target.name,
                100.0 * ratio
            );
            rates[t].push(rate);
            ratios[t].push(ratio);
            last_floor = next_floor;
        }
    }
    println!(
        "floor (plain reqwest loop)   median {:>7.0} msg/s over {} runs",
        median(floors.clone()),
        floors.len()
    );
    for (t, target) in targets.iter().enumerate() {
        println!(
            "sender on {:<10}         median {:>7.0} msg/s, median {:>5.1}% of the floor around it",
            target.name,
            median(rates[t].clone()),
            100.0 * median(ratios[t].clone())
        );
    }
    drop(targets);
    if let Some((db, name)) = postgres {
        db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    Ok(())
}

/// Deliveries from memory and outcomes to nowhere: what the sender and FCM client cost without the database, for comparison.
#[derive(Debug)]
struct MemoryOutbox {
    queue: std::sync::Mutex<Vec<gridwhistle_dispatcher::push::Delivery>>,
}

impl gridwhistle_dispatcher::push::OutboxStore for MemoryOutbox {
    type Error = std::io::Error;

    async fn release_claims(&self) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn take(
        &self,
        _now: gridwhistle_domain::Timestamp,
        _lease_until: gridwhistle_domain::Timestamp,
        _stale_before: gridwhistle_domain::Timestamp,
        _channels: &[gridwhistle_dispatcher::push::Channel],
        limit: usize,
    ) -> Result<Vec<gridwhistle_dispatcher::push::Delivery>, Self::Error> {
        let mut queue = self
            .queue
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        let at = queue.len().saturating_sub(limit * 5);
        Ok(queue.split_off(at))
    }

    async fn settle(
        &self,
        _settled: Vec<(
            gridwhistle_dispatcher::push::Delivery,
            gridwhistle_dispatcher::push::Settlement,
        )>,
        _finished: Vec<String>,
        _now: gridwhistle_domain::Timestamp,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn next_retry(&self) -> Result<Option<gridwhistle_domain::Timestamp>, Self::Error> {
        Ok(None)
    }
}

async fn memory_round(fcm: &FakeFcm, args: &Args) -> anyhow::Result<f64> {
    use gridwhistle_dispatcher::notify::NoticeKind;
    use gridwhistle_dispatcher::push::{Channel as PushChannel, Delivery, PushMessage};
    let queue = (0..args.messages)
        .map(|n| Delivery {
            id: format!("{n}"),
            device: format!("d{}", n % 5),
            channel: PushChannel::Fcm,
            attempts: 0,
            message: PushMessage {
                token: format!("tok-{}", n % 5),
                notification: format!("00000000-0000-7000-8000-{:012}", n / 5),
                kind: NoticeKind::CaseAssigned,
                subject: "cases/00000000-0000-7000-8000-000000000000".into(),
                collapse_key: "c/case_assigned".into(),
                urgent: false,
                title: "t",
                body: "b",
            },
        })
        .collect();
    let sender = sender(
        MemoryOutbox {
            queue: std::sync::Mutex::new(queue),
        },
        fcm,
        args,
    )?;
    let started = Instant::now();
    let drained = sender.run_due().await?;
    let elapsed = started.elapsed();
    if drained.sent != args.messages as u64 {
        bail!("memory round sent {drained:?}");
    }
    Ok(args.messages as f64 / elapsed.as_secs_f64())
}
