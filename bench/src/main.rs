//! `gridwhistle-bench`: drives one RPC at a fixed concurrency or rate and prints throughput and latency percentiles from an HDR histogram.
//!
//! Without `--target` it starts a Gridwhistle server in this process on a temporary SQLite database, so one command gives comparable figures; the floor scenarios (`health`, `whoami`) are what every later benchmark is compared with.
#![allow(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use gridwhistle_bench::login_with;
use gridwhistle_dispatcher::{Clock, SystemClock};
use gridwhistle_domain::{Binding, DisplayName, Password, Username};
use gridwhistle_proto::v1;
use gridwhistle_proto::v1::auth_service_client::AuthServiceClient;
use gridwhistle_proto::v1::case_service_client::CaseServiceClient;
use gridwhistle_proto::v1::report_service_client::ReportServiceClient;
use gridwhistle_server::ServerConfig;
use gridwhistle_server::directory::{self, UserDraft};
use hdrhistogram::Histogram;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// grpc.health.v1 Check: the transport, layers and routing, no authentication.
    Health,
    /// AuthService.WhoAmI: an authenticated no-op (JWT verification, no storage); the floor.
    Whoami,
    /// ReportService.CreateReport as a grid worker of the demo district: validation, routing, a durable commit and the timeline event.
    CreateReport,
    /// ReportService.CreateReport then ReportService.Whistle of that report, as the grid worker: filing, then a whistle's routing, case, shares, deadlines and outbox rows (two calls; compare with create-report for the whistle's part).
    FileAndWhistle,
    /// CaseService.PostProgress by the lead's duty officer, each caller on a case of its own: a loop step (authorisation against the stored case, the state machine, a version-checked write with its timeline event).
    PostProgress,
    /// PostProgress under a new client request id each call: the same step, plus its answer rendered and stored in the step's transaction.
    PostProgressOnce,
    /// CaseService.GetCase by the lead's duty officer, who sees the parties unmasked: the case and its timeline read, and the audit's row of the parties shown written before the answer leaves.
    GetCase,
    /// CaseService.GetCase of the same cases by the supervisor (the benchmark's user), who sees the parties masked and leaves no audit row: compare with get-case for what the audit costs a read.
    GetCaseMasked,
}

impl Scenario {
    /// Whether the scenario works on cases whistled before it starts.
    fn needs_cases(self) -> bool {
        matches!(
            self,
            Scenario::PostProgress
                | Scenario::PostProgressOnce
                | Scenario::GetCase
                | Scenario::GetCaseMasked
        )
    }
}

#[derive(Debug, Parser)]
#[command(name = "gridwhistle-bench", about)]
struct Args {
    /// Scenarios to run, in order, each on a fresh measurement.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["health", "whoami", "create-report"])]
    scenario: Vec<Scenario>,
    /// A running server (http://host:port); without it a server starts in this process on a temporary SQLite database.
    #[arg(long)]
    target: Option<String>,
    /// Concurrent callers.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections the callers share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Total calls per second across all callers (open loop); without it each caller calls back to back.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds before each scenario.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Username for authenticated scenarios against --target.
    #[arg(long, env = "GRIDWHISTLE_BENCH_USERNAME", default_value = "bench")]
    username: String,
    /// Password for authenticated scenarios against --target.
    #[arg(
        long,
        env = "GRIDWHISTLE_BENCH_PASSWORD",
        hide_env_values = true,
        default_value = "bench-password"
    )]
    password: String,
    /// The grid worker who files reports in the create-report scenario (the demo district's).
    #[arg(long, default_value = "worker.g-jianwai-1-01")]
    worker_username: String,
    #[arg(long, default_value = gridwhistle_server::demo::DEMO_PASSWORD, hide_default_value = true)]
    worker_password: String,
    /// The grid the worker's reports lie in.
    #[arg(long, default_value = "g-jianwai-1-01")]
    worker_grid: String,
}

const DEMO_GRIDS: &str = include_str!("../../server/demo/grids.geojson");

/// What one caller measured.
struct Tally {
    latencies_us: Histogram<u64>,
    errors: u64,
}

#[derive(Clone)]
struct Callers {
    channels: Vec<Channel>,
    bearer: MetadataValue<Ascii>,
    /// The grid worker's token and a point in their grid, for filing reports.
    worker: Option<(MetadataValue<Ascii>, f64, f64)>,
    /// The lead's duty officer's token and one case per caller, for progress posts.
    cases: Option<(MetadataValue<Ascii>, Arc<Vec<String>>)>,
}

/// A realistic report: a description, a located point with its accuracy, one party.
fn sample_report(lat: f64, lng: f64) -> v1::Report {
    let now = SystemClock.now().as_unix_millis();
    v1::Report {
        category: "categories/neighbour-dispute".to_owned(),
        description: "楼道堆放杂物，邻里因此争执，需要协调清理".to_owned(),
        location: Some(v1::Location {
            latitude: lat,
            longitude: lng,
            coordinate_system: v1::CoordinateSystem::Wgs84.into(),
            accuracy_meters: 8.0,
        }),
        observe_time: Some(prost_types::Timestamp {
            seconds: now / 1000 - 60,
            nanos: 0,
        }),
        parties: vec![v1::Party {
            name: "张三丰".to_owned(),
            phone: "13800138000".to_owned(),
            relation: "住户".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

impl Callers {
    async fn call(&self, scenario: Scenario, caller: usize) -> Result<(), tonic::Status> {
        let channel = self.channels[caller % self.channels.len()].clone();
        match scenario {
            Scenario::Health => {
                HealthClient::new(channel)
                    .check(HealthCheckRequest::default())
                    .await?;
            }
            Scenario::Whoami => {
                AuthServiceClient::new(channel)
                    .who_am_i(authed(&self.bearer, v1::WhoAmIRequest {}))
                    .await?;
            }
            Scenario::CreateReport | Scenario::FileAndWhistle => {
                let Some((bearer, lat, lng)) = &self.worker else {
                    return Err(tonic::Status::failed_precondition(
                        "no grid worker logged in",
                    ));
                };
                let request = authed(
                    bearer,
                    v1::CreateReportRequest {
                        report_id: uuid::Uuid::now_v7().to_string(),
                        report: Some(sample_report(*lat, *lng)),
                    },
                );
                let mut reports = ReportServiceClient::new(channel);
                let filed = reports.create_report(request).await?.into_inner();
                if scenario == Scenario::FileAndWhistle {
                    let name = filed.report.map(|r| r.name).unwrap_or_default();
                    reports
                        .whistle(authed(
                            bearer,
                            v1::WhistleRequest {
                                name,
                                kind: v1::WhistleKind::Routine.into(),
                                ..Default::default()
                            },
                        ))
                        .await?;
                }
            }
            Scenario::PostProgress | Scenario::PostProgressOnce => {
                let Some((bearer, cases)) = &self.cases else {
                    return Err(tonic::Status::failed_precondition("no cases whistled"));
                };
                let request_id = if scenario == Scenario::PostProgressOnce {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    String::new()
                };
                let request = authed(
                    bearer,
                    v1::PostProgressRequest {
                        name: cases[caller % cases.len()].clone(),
                        text: "已到场，正在协调双方".to_owned(),
                        request_id,
                        ..Default::default()
                    },
                );
                CaseServiceClient::new(channel)
                    .post_progress(request)
                    .await?;
            }
            Scenario::GetCase | Scenario::GetCaseMasked => {
                let Some((officer, cases)) = &self.cases else {
                    return Err(tonic::Status::failed_precondition("no cases whistled"));
                };
                let bearer = if scenario == Scenario::GetCase {
                    officer
                } else {
                    &self.bearer
                };
                let request = authed(
                    bearer,
                    v1::GetCaseRequest {
                        name: cases[caller % cases.len()].clone(),
                    },
                );
                CaseServiceClient::new(channel).get_case(request).await?;
            }
        }
        Ok(())
    }
}

/// Whistles one report per caller as the grid worker and reports in as the lead's duty officer; answers the officer's token and the cases.
async fn whistled_cases(
    channel: &Channel,
    args: &Args,
    worker: &(MetadataValue<Ascii>, f64, f64),
) -> anyhow::Result<(MetadataValue<Ascii>, Arc<Vec<String>>)> {
    let (bearer, lat, lng) = worker;
    let mut cases = Vec::with_capacity(args.concurrency);
    let mut officer = None;
    for _ in 0..args.concurrency {
        let mut reports = ReportServiceClient::new(channel.clone());
        let report = reports
            .create_report(authed(
                bearer,
                v1::CreateReportRequest {
                    report_id: uuid::Uuid::now_v7().to_string(),
                    report: Some(sample_report(*lat, *lng)),
                },
            ))
            .await?
            .into_inner()
            .report
            .context("a report")?;
        let case = reports
            .whistle(authed(
                bearer,
                v1::WhistleRequest {
                    name: report.name,
                    kind: v1::WhistleKind::Routine.into(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .case
            .context("a case")?;
        let lead = case
            .assignments
            .first()
            .context("a summoned department")?
            .department
            .trim_start_matches("departments/")
            .to_owned();
        let token = match &officer {
            Some(token) => token,
            None => {
                let username = format!("duty.{lead}");
                let token = login_with(channel.clone(), &username, &args.worker_password).await?;
                officer.insert(format!("Bearer {token}").parse()?)
            }
        };
        CaseServiceClient::new(channel.clone())
            .report_in(authed(
                token,
                v1::ReportInRequest {
                    name: case.name.clone(),
                    ..Default::default()
                },
            ))
            .await?;
        cases.push(case.name);
    }
    Ok((officer.context("no case was whistled")?, Arc::new(cases)))
}

/// Checks that the duty officer sees `case`'s parties unmasked and the benchmark's supervisor masked, as the get-case scenarios claim.
async fn check_views(
    channel: &Channel,
    officer: &MetadataValue<Ascii>,
    supervisor: &MetadataValue<Ascii>,
    case: &str,
) -> anyhow::Result<()> {
    for (bearer, masked) in [(officer, false), (supervisor, true)] {
        let seen = CaseServiceClient::new(channel.clone())
            .get_case(authed(
                bearer,
                v1::GetCaseRequest {
                    name: case.to_owned(),
                },
            ))
            .await?
            .into_inner()
            .case
            .context("a case")?;
        if seen.parties.first().map(|p| p.masked) != Some(masked) {
            bail!("expected the parties of {case} masked={masked}");
        }
    }
    Ok(())
}

/// `message` with `bearer` as its authorization.
fn authed<T>(bearer: &MetadataValue<Ascii>, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

async fn run_caller(
    callers: Callers,
    scenario: Scenario,
    caller: usize,
    interval: Option<Duration>,
    measure_from: Instant,
    until: Instant,
) -> anyhow::Result<Tally> {
    let mut tally = Tally {
        latencies_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        errors: 0,
    };
    // Open-loop callers start staggered and measure from the scheduled start, so queueing shows in the latency.
    let mut scheduled =
        Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64(caller as f64 / 64.0));
    loop {
        if let Some(interval) = interval {
            tokio::time::sleep_until(scheduled.into()).await;
            scheduled += interval;
        } else {
            scheduled = Instant::now();
        }
        let start = scheduled.min(Instant::now());
        if start >= until {
            return Ok(tally);
        }
        let outcome = callers.call(scenario, caller).await;
        let end = Instant::now();
        if start >= measure_from {
            match outcome {
                Ok(()) => {
                    let micros =
                        u64::try_from(end.duration_since(start).as_micros()).unwrap_or(u64::MAX);
                    tally.latencies_us.saturating_record(micros.max(1));
                }
                Err(_) => tally.errors += 1,
            }
        }
    }
}

struct Outcome {
    calls: u64,
    errors: u64,
    seconds: f64,
    histogram: Histogram<u64>,
}

impl Outcome {
    fn throughput(&self) -> f64 {
        self.calls as f64 / self.seconds
    }
}

async fn measure(args: &Args, callers: &Callers, scenario: Scenario) -> anyhow::Result<Outcome> {
    let interval = args
        .rate
        .map(|rate| Duration::from_secs_f64(args.concurrency as f64 / rate));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let until = measure_from + Duration::from_secs_f64(args.duration);
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|caller| {
            tokio::spawn(run_caller(
                callers.clone(),
                scenario,
                caller,
                interval,
                measure_from,
                until,
            ))
        })
        .collect();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    for task in tasks {
        let tally = task.await??;
        histogram.add(&tally.latencies_us)?;
        errors += tally.errors;
    }
    Ok(Outcome {
        calls: histogram.len(),
        errors,
        seconds: args.duration,
        histogram,
    })
}

fn report(args: &Args, scenario: Scenario, outcome: &Outcome, floor: Option<f64>) {
    let h = &outcome.histogram;
    let mode = args
        .rate
        .map_or_else(|| "closed".to_owned(), |rate| format!("rate={rate}"));
    let ratio = floor.map_or_else(String::new, |floor| {
        format!(" vs_floor={:.1}%", 100.0 * outcome.throughput() / floor)
    });
    println!(
        "scenario={:<8} concurrency={} {mode} calls={} errors={} throughput={:.0}/s p50={}us p99={}us p999={}us max={}us{ratio}",
        format!("{scenario:?}").to_lowercase(),
        args.concurrency,
        outcome.calls,
        outcome.errors,
        outcome.throughput(),
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
    );
}

/// A server in this process on a temporary SQLite database, with the benchmark's user.
async fn local_server(args: &Args) -> anyhow::Result<(SocketAddr, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let url = gridwhistle_server::config::sqlite_url(&dir.path().join("bench.db"));
    let mut config = ServerConfig::with_defaults(url);
    // The metrics are kept, as in production, on a port of their own.
    config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.attachment_dir = dir.path().join("attachments");
    // The sample district: its catalogue, grids and grid workers for the create-report scenario.
    config.demo = true;
    let store = gridwhistle_server::app::open_store(&config).await?;
    let draft = UserDraft {
        username: Username::parse(&args.username)?,
        display_name: DisplayName::parse("benchmark")?,
        binding: Binding::Supervisor,
        password: Password::parse(&args.password)?,
    };
    directory::add_user(&store, draft, SystemClock.now()).await?;
    store.close().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let served = gridwhistle_server::run(
            config,
            Arc::new(SystemClock),
            listener,
            std::future::pending(),
        )
        .await;
        if let Err(err) = served {
            eprintln!("bench server failed: {err:#}");
        }
    });
    Ok((addr, dir))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 || args.connections == 0 {
        bail!("--concurrency and --connections must be positive");
    }
    let (target, _data) = match &args.target {
        Some(target) => (target.clone(), None),
        None => {
            let (addr, dir) = local_server(&args).await?;
            (format!("http://{addr}"), Some(dir))
        }
    };
    let endpoint = Endpoint::from_shared(target.clone())?;
    let mut channels = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        channels.push(connect(&endpoint).await?);
    }
    let access = login_with(channels[0].clone(), &args.username, &args.password)
        .await
        .context("login for authenticated scenarios")?;
    let needs_worker = args
        .scenario
        .iter()
        .any(|s| matches!(s, Scenario::CreateReport | Scenario::FileAndWhistle) || s.needs_cases());
    let worker = if needs_worker {
        let token = login_with(
            channels[0].clone(),
            &args.worker_username,
            &args.worker_password,
        )
        .await
        .context("start the target with --demo")?;
        let (lat, lng) = gridwhistle_sample::point_in_grid(DEMO_GRIDS, &args.worker_grid)
            .context("the worker's grid is not in the demo district")?;
        Some((format!("Bearer {token}").parse()?, lat, lng))
    } else {
        None
    };
    let cases = match &worker {
        Some(worker) if args.scenario.iter().any(|s| s.needs_cases()) => {
            Some(whistled_cases(&channels[0], &args, worker).await?)
        }
        _ => None,
    };
    let callers = Callers {
        channels,
        bearer: format!("Bearer {access}").parse()?,
        worker,
        cases,
    };
    if let Some((officer, cases)) = &callers.cases {
        check_views(&callers.channels[0], officer, &callers.bearer, &cases[0]).await?;
    }
    println!(
        "target={target} connections={} warmup={}s duration={}s cores={}",
        args.connections,
        args.warmup,
        args.duration,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut floor = None;
    for scenario in &args.scenario {
        let outcome = measure(&args, &callers, *scenario).await?;
        report(
            &args,
            *scenario,
            &outcome,
            floor.filter(|_| *scenario != Scenario::Whoami),
        );
        if *scenario == Scenario::Whoami {
            floor = Some(outcome.throughput());
        }
    }
    Ok(())
}

/// Connects, retrying while a just-started server comes up.
async fn connect(endpoint: &Endpoint) -> anyhow::Result<Channel> {
    let mut last = None;
    for _ in 0..100 {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last.map_or_else(|| anyhow::anyhow!("no connection"), anyhow::Error::from))
}
