//! The deadline engine's benchmark: seeds 1,000,000 pending deadlines through the closed loop, then starts a server on them and measures its memory, the time to its first firing, and a burst of 100,000 firings due at one instant (Monday 09:00).
//!
//! Seeding runs the real loop in this process on a test clock: grid workers file and whistle `city-appearance` reports (a lead department and no assists, so three deadlines a case), the lead reports in on some, and the engine fires the reminders that fall before the burst.
//! Seeded databases are kept as templates (a file for SQLite, a database for PostgreSQL), so later runs start from a copy.
//! Each measured server is a child process (this program with `serve`) whose clock is the system clock moved to read 08:59:57, so its memory is its own and the burst falls due three seconds after it starts.
//! Its progress is read from the database: every firing appends one event, so the newest event id counts firings as they commit.

#![allow(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use gridwhistle_bench::{actor, analyze_while_seeding, open_loop};
use gridwhistle_dispatcher::engine::Engine;
use gridwhistle_dispatcher::routing::rules::Position;
use gridwhistle_dispatcher::{Clock, ManualClock, ShiftedClock, SystemClock};
use gridwhistle_domain::{
    Actor, CaseId, CategoryId, CoordinateSystem, GeoPoint, ReportId, Timestamp, WhistleKind,
};
use gridwhistle_server::ServerConfig;
use gridwhistle_server::closed_loop::{CaseAction, Guard, LoopService};
use gridwhistle_server::deadline_engine::EngineStore;
use gridwhistle_server::model::NewReport;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

const DEMO_GRIDS: &str = include_str!("../../../server/demo/grids.geojson");
/// The demo grid whose worker files every report.
const GRID: &str = "g-jianwai-1-01";
/// Led by urban management with no assisting department: report in, contact and finish for the lead alone.
const CATEGORY: &str = "city-appearance";
/// Monday 2026-11-30 09:00 in Beijing, a working day.
const BURST_AT: Timestamp = Timestamp::from_unix_millis(1_796_000_400_000);
/// Bumped whenever what a seeded database holds changes, so stale templates are not reused.
const SEED_FORMAT: u32 = 1;
const MINUTE: Duration = Duration::from_secs(60);
/// The replica id of the seeding engine and of every measured server, so a server resumes the seeding engine's claims at once, as a restarted replica does.
const REPLICA: &str = "deadline-bench";
/// How long after it starts a measured server's clock reaches the burst.
const LEAD_IN: Duration = Duration::from_secs(3);

#[derive(Debug, Parser)]
#[command(
    about = "Deadline engine benchmark: memory, first firing after a restart, and a burst due at one instant"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Also run on PostgreSQL: a server where the benchmark may create and drop databases.
    #[arg(long)]
    postgres_url: Option<String>,
    /// Skip SQLite (with --postgres-url, run on PostgreSQL alone).
    #[arg(long)]
    skip_sqlite: bool,
    /// Pending deadlines to seed.
    #[arg(long, default_value_t = 1_000_000)]
    deadlines: u64,
    /// Of those, cases whose report-in escalation falls due at Monday 09:00.
    #[arg(long, default_value_t = 100_000)]
    burst: u64,
    /// Cases whose escalation fell due a minute before the server started: the backlog a restart must fire at once.
    #[arg(long, default_value_t = 1_000)]
    backlog: u64,
    /// Where seeded SQLite templates and run databases are kept.
    #[arg(long, default_value = "target/deadline-bench")]
    work_dir: PathBuf,
    /// Seed again even when a template exists.
    #[arg(long)]
    reseed: bool,
    /// Concurrent callers while seeding.
    #[arg(long, default_value_t = 64)]
    seed_concurrency: usize,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Runs a server whose clock reads `clock_ms` at the real instant `real_ms` (used by the benchmark itself).
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        real_ms: i64,
        #[arg(long)]
        clock_ms: i64,
    },
}

/// How the pending deadlines are made up.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Whistled at 08:30; report in escalates at 09:00.
    burst: u64,
    /// Whistled at 08:29; report in escalated at 08:59, before the server started.
    backlog: u64,
    /// Whistled at 08:30 and reported in at 08:31: contact and finish pending.
    later: u64,
}

impl Plan {
    fn new(args: &Args) -> anyhow::Result<Self> {
        let lead = 3 * (args.burst + args.backlog);
        let rest = args
            .deadlines
            .checked_sub(lead)
            .context("--deadlines must cover three deadlines for each burst and backlog case")?;
        Ok(Self {
            burst: args.burst,
            backlog: args.backlog,
            later: rest / 2,
        })
    }

    fn deadlines(self) -> u64 {
        3 * (self.burst + self.backlog) + 2 * self.later
    }

    fn name(self) -> String {
        format!(
            "v{SEED_FORMAT}-{}-{}-{}",
            self.burst, self.backlog, self.later
        )
    }
}

fn at(offset_from_burst: i64) -> Timestamp {
    Timestamp::from_unix_millis(BURST_AT.as_unix_millis() + offset_from_burst)
}

/// A database of one kind, where templates and runs live.
#[derive(Debug, Clone)]
enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Target {
    fn label(&self) -> &'static str {
        match self {
            Target::Sqlite(_) => "sqlite",
            Target::Postgres(_) => "postgresql",
        }
    }

    fn url(&self, name: &str) -> String {
        match self {
            Target::Sqlite(dir) => {
                gridwhistle_server::config::sqlite_url(&dir.join(format!("{name}.db")))
            }
            Target::Postgres(admin) => {
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                format!("{base}/gw_dlbench_{}", name.replace('-', "_"))
            }
        }
    }

    async fn exists(&self, name: &str) -> anyhow::Result<bool> {
        match self {
            Target::Sqlite(dir) => Ok(dir.join(format!("{name}.db")).exists()),
            Target::Postgres(admin) => {
                let db = Database::connect(admin).await?;
                let row = db
                    .query_one_raw(Statement::from_string(
                        db.get_database_backend(),
                        format!(
                            "SELECT 1 AS one FROM pg_database WHERE datname = 'gw_dlbench_{}'",
                            name.replace('-', "_")
                        ),
                    ))
                    .await?;
                db.close().await?;
                Ok(row.is_some())
            }
        }
    }

    /// A new database `name`, empty or copied from `template`.
    async fn create(&self, name: &str, template: Option<&str>) -> anyhow::Result<()> {
        self.drop(name).await?;
        match self {
            Target::Sqlite(dir) => {
                std::fs::create_dir_all(dir)?;
                if let Some(template) = template {
                    let copy = dir.join(format!("{name}.db"));
                    std::fs::copy(dir.join(format!("{template}.db")), &copy)?;
                    // Written back now, or the server's first commits wait while the file system flushes the whole copy.
                    std::fs::File::open(&copy)?.sync_all()?;
                }
                Ok(())
            }
            Target::Postgres(admin) => {
                let db = Database::connect(admin).await?;
                let copy = template
                    .map(|t| format!(" TEMPLATE gw_dlbench_{}", t.replace('-', "_")))
                    .unwrap_or_default();
                db.execute_unprepared(&format!(
                    "CREATE DATABASE gw_dlbench_{}{copy}",
                    name.replace('-', "_")
                ))
                .await?;
                db.close().await?;
                Ok(())
            }
        }
    }

    async fn rename(&self, from: &str, to: &str) -> anyhow::Result<()> {
        self.drop(to).await?;
        match self {
            Target::Sqlite(dir) => {
                std::fs::rename(dir.join(format!("{from}.db")), dir.join(format!("{to}.db")))?;
                Ok(())
            }
            Target::Postgres(admin) => {
                let db = Database::connect(admin).await?;
                db.execute_unprepared(&format!(
                    "ALTER DATABASE gw_dlbench_{} RENAME TO gw_dlbench_{}",
                    from.replace('-', "_"),
                    to.replace('-', "_")
                ))
                .await?;
                db.close().await?;
                Ok(())
            }
        }
    }

    async fn drop(&self, name: &str) -> anyhow::Result<()> {
        match self {
            Target::Sqlite(dir) => {
                for suffix in ["db", "db-wal", "db-shm"] {
                    let path = dir.join(format!("{name}.{suffix}"));
                    if path.exists() {
                        std::fs::remove_file(path)?;
                    }
                }
                Ok(())
            }
            Target::Postgres(admin) => {
                let db = Database::connect(admin).await?;
                db.execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS gw_dlbench_{} WITH (FORCE)",
                    name.replace('-', "_")
                ))
                .await?;
                db.close().await?;
                Ok(())
            }
        }
    }
}

/// Files and whistles `count` reports at the clock's time, `concurrency` at once; answers their cases.
async fn whistle_many(
    service: &Arc<LoopService>,
    worker: &Actor,
    count: u64,
    concurrency: usize,
) -> anyhow::Result<Vec<CaseId>> {
    let (lat, lng) = gridwhistle_sample::point_in_grid(DEMO_GRIDS, GRID)
        .context("the worker's grid is not in the demo district")?;
    let location = Position {
        point: GeoPoint::new(lat, lng)?,
        system: CoordinateSystem::Wgs84,
        accuracy_m: 5.0,
    };
    let category = CategoryId::parse(CATEGORY)?;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (service, worker, next, category) = (
            service.clone(),
            worker.clone(),
            next.clone(),
            category.clone(),
        );
        tasks.spawn(async move {
            let mut cases = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let id = ReportId::generate();
                let draft = NewReport {
                    id,
                    category: category.clone(),
                    description: "占道堆放杂物".to_owned(),
                    location,
                    observed_at: Timestamp::from_unix_millis(
                        service.now().as_unix_millis() - 10 * 60_000,
                    ),
                    risk_grade: None,
                    parties: Vec::new(),
                    attachments: Vec::new(),
                    request_hash: id.to_string(),
                };
                service.create_report(&worker, draft).await?;
                let record = service
                    .whistle(
                        &worker,
                        id,
                        WhistleKind::Routine,
                        None,
                        String::new(),
                        Guard::default(),
                    )
                    .await?;
                cases.push(record.0.case.context("a whistled report has a case")?.id);
            }
            anyhow::Ok(cases)
        });
    }
    let mut cases = Vec::with_capacity(usize::try_from(count)?);
    while let Some(done) = tasks.join_next().await {
        cases.extend(done??);
    }
    Ok(cases)
}

/// The lead's duty officer reports in on every case, `concurrency` at once.
async fn report_in_all(
    service: &Arc<LoopService>,
    duty: &Actor,
    cases: Vec<CaseId>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let cases = Arc::new(cases);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (service, duty, next, cases) =
            (service.clone(), duty.clone(), next.clone(), cases.clone());
        tasks.spawn(async move {
            loop {
                let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed))?;
                let Some(case) = cases.get(i) else {
                    return anyhow::Ok(());
                };
                service
                    .act(
                        &duty,
                        *case,
                        CaseAction::ReportIn { on_scene: None },
                        Guard::default(),
                    )
                    .await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Seeds `plan` into the database `name` as the loop would have built it by Monday 08:58:55.
async fn seed(target: &Target, name: &str, plan: Plan, concurrency: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let clock = Arc::new(ManualClock::new(at(-31 * 60_000)));
    let (store, service, time_limits) = open_loop(&target.url(name), clock.clone()).await?;
    let analyzer = analyze_while_seeding(&target.url(name)).await?;
    let worker = actor(&store, &format!("worker.{GRID}")).await?;
    whistle_many(&service, &worker, plan.backlog, concurrency).await?;
    clock.set(at(-30 * 60_000));
    whistle_many(&service, &worker, plan.burst, concurrency).await?;
    let later = whistle_many(&service, &worker, plan.later, concurrency).await?;
    eprintln!(
        "  whistled {} cases in {:.0?}",
        plan.burst + plan.backlog + plan.later,
        started.elapsed()
    );
    clock.set(at(-29 * 60_000));
    if let Some(first) = later.first() {
        let case = store
            .reports()
            .get(gridwhistle_server::model::ReportKey::Case(*first))
            .await?;
        let lead = case
            .assignments
            .first()
            .context("a whistled case has a lead")?
            .department
            .clone();
        let duty = actor(&store, &format!("duty.{lead}")).await?;
        report_in_all(&service, &duty, later, concurrency).await?;
    }
    // The reminders due before the backlog's escalation fire at their minute, as they would have.
    let engine = Engine::new(
        EngineStore::new(store.clone(), time_limits, REPLICA.to_owned()),
        clock.clone() as Arc<dyn Clock>,
        MINUTE,
        10_000,
        Arc::new(tokio::sync::Notify::new()),
    );
    let mut reminders = 0;
    for minute in (-29..=-2).rev().map(|m| -m) {
        clock.set(at(-minute * 60_000));
        reminders += engine.run_due().await?.fired;
    }
    clock.set(at(-65_000));
    reminders += engine.run_due().await?.fired;
    eprintln!(
        "  fired {reminders} reminders; seeded in {:.0?}",
        started.elapsed()
    );
    if let Some(analyzer) = analyzer {
        analyzer.abort();
    }
    store.close().await?;
    Ok(())
}

/// Makes sure the base (demo district, no cases) and seeded templates exist.
async fn templates(target: &Target, plan: Plan, args: &Args) -> anyhow::Result<(String, String)> {
    let base = format!("base-v{SEED_FORMAT}");
    let seeded = format!("seed-{}", plan.name());
    if args.reseed || !target.exists(&base).await? {
        eprintln!("{}: preparing the base template", target.label());
        target.create("base-tmp", None).await?;
        let clock = Arc::new(ManualClock::new(at(-31 * 60_000)));
        let (store, _, _) = open_loop(&target.url("base-tmp"), clock).await?;
        store.close().await?;
        target.rename("base-tmp", &base).await?;
    }
    if args.reseed || !target.exists(&seeded).await? {
        eprintln!(
            "{}: seeding {} pending deadlines (kept as a template for later runs)",
            target.label(),
            plan.deadlines()
        );
        target.create("seed-tmp", Some(&base)).await?;
        seed(target, "seed-tmp", plan, args.seed_concurrency).await?;
        target.rename("seed-tmp", &seeded).await?;
    }
    // Templates seeded under an older schema are brought up to date once here, so a measured start is a restart, not a migration.
    for name in [&base, &seeded] {
        let config = ServerConfig::with_defaults(target.url(name));
        gridwhistle_server::app::open_store(&config)
            .await?
            .close()
            .await?;
        // A database that grew to this size in service has planner statistics; a copy made from a template has only what the template had.
        let db = Database::connect(&target.url(name)).await?;
        db.execute_unprepared("ANALYZE").await?;
        db.close().await?;
    }
    Ok((base, seeded))
}

/// Resident and peak memory of a process, in bytes.
fn memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{name} missing from /proc/{pid}/status"))?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .context("no value")?
            .parse()?;
        Ok(kb * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<Option<i64>>(0)?.unwrap_or(0))
}

/// A measured server: this program's `serve`, killed when dropped.
struct Server(Child);

impl Server {
    fn start(url: &str, data_dir: &Path, real: Timestamp) -> anyhow::Result<Self> {
        let child = Command::new(std::env::current_exe()?)
            .args(["serve", "--database-url", url, "--data-dir"])
            .arg(data_dir)
            .args([
                "--real-ms",
                &real.as_unix_millis().to_string(),
                "--clock-ms",
                &(BURST_AT.as_unix_millis() - LEAD_IN.as_millis() as i64).to_string(),
            ])
            .env(
                "RUST_LOG",
                std::env::var("DEADLINE_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .spawn()?;
        Ok(Self(child))
    }

    fn stop(mut self) -> anyhow::Result<()> {
        let pid = i32::try_from(self.0.id())?;
        // SIGTERM: the server drains and closes its database.
        Command::new("kill").arg(pid.to_string()).status()?;
        self.0.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Default)]
struct Figures {
    rss_empty: u64,
    rss_pending: u64,
    peak: u64,
    first_firing: Duration,
    lateness: [Duration; 3],
    fired: i64,
    double: i64,
    early: i64,
}

/// Resident memory of a server on `url` just before the burst would fall due.
async fn idle_memory(url: &str, dir: &Path) -> anyhow::Result<u64> {
    let real = SystemClock.now();
    let server = Server::start(url, dir, real)?;
    tokio::time::sleep(LEAD_IN - Duration::from_millis(500)).await;
    let (rss, _) = memory(server.0.id())?;
    server.stop()?;
    Ok(rss)
}

/// Starts a server on the seeded copy `url` and follows its firings through the burst.
async fn burst(url: &str, dir: &Path, plan: Plan, figures: &mut Figures) -> anyhow::Result<()> {
    let db = Database::connect(url).await?;
    let before = scalar(&db, "SELECT max(id) FROM case_events").await?;
    let expected = i64::try_from(plan.burst + plan.backlog)?;
    let real = SystemClock.now();
    let started = Instant::now();
    let server = Server::start(url, dir, real)?;
    let burst_at = started + LEAD_IN;
    let mut first = None;
    let mut rss_read = false;
    let mut marks = [None; 3];
    let thresholds = [0.5, 0.99, 1.0].map(|q: f64| (q * plan.burst as f64).ceil() as i64);
    let deadline = started + Duration::from_secs(600);
    loop {
        let fired = scalar(&db, "SELECT max(id) FROM case_events").await? - before;
        let now = Instant::now();
        if fired > 0 && first.is_none() {
            first = Some(now - started);
        }
        if !rss_read && now + Duration::from_millis(500) >= burst_at {
            figures.rss_pending = memory(server.0.id())?.0;
            rss_read = true;
        }
        let in_burst = fired - i64::try_from(plan.backlog)?;
        for (mark, threshold) in marks.iter_mut().zip(thresholds) {
            if mark.is_none() && now >= burst_at && in_burst >= threshold {
                *mark = Some(now - burst_at);
            }
        }
        if fired >= expected {
            break;
        }
        if now > deadline {
            bail!("only {fired} of {expected} firings within ten minutes");
        }
        // Often enough for the lateness figures, rarely enough that the polling costs the database next to nothing.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    figures.peak = memory(server.0.id())?.1;
    server.stop()?;
    figures.first_firing = first.unwrap_or_default();
    figures.lateness = marks.map(Option::unwrap_or_default);
    // Exactly once, never early: one escalation per case, none stamped before the deadline's firing time.
    let new = format!("FROM case_events WHERE id > {before} AND kind = 'escalated'");
    figures.fired = scalar(&db, &format!("SELECT count(*) {new}")).await?;
    figures.double =
        figures.fired - scalar(&db, &format!("SELECT count(DISTINCT report_id) {new}")).await?;
    // The first rung of report in's ladder is at its due time: nothing may be stamped before it.
    figures.early = scalar(
        &db,
        &format!(
            "SELECT count(*) FROM case_events e JOIN deadlines d \
             ON d.report_id = e.report_id AND d.stage = 'report_in' \
             WHERE e.id > {before} AND e.kind = 'escalated' AND e.at_ms < d.due_at_ms"
        ),
    )
    .await?;
    db.close().await?;
    Ok(())
}

async fn run_target(target: Target, plan: Plan, args: &Args) -> anyhow::Result<Figures> {
    let (base, seeded) = templates(&target, plan, args).await?;
    let dir = tempfile::tempdir()?;
    let mut figures = Figures::default();

    // Named for this process, so two benchmarks on one machine never share a database.
    let run = format!("run-{}", std::process::id());
    target.create(&run, Some(&base)).await?;
    figures.rss_empty = idle_memory(&target.url(&run), dir.path()).await?;
    target.drop(&run).await?;

    target.create(&run, Some(&seeded)).await?;
    let url = target.url(&run);
    let db = Database::connect(&url).await?;
    let pending = scalar(
        &db,
        "SELECT count(*) FROM deadlines WHERE state = 'pending'",
    )
    .await?;
    db.close().await?;
    eprintln!(
        "{}: {pending} pending deadlines; starting the server",
        target.label()
    );
    burst(&url, dir.path(), plan, &mut figures).await?;
    target.drop(&run).await?;
    Ok(figures)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print(label: &str, plan: Plan, f: &Figures) {
    let max = f.lateness[2].as_secs_f64();
    println!(
        "{label:<10} {:>9} | rss empty {:>6.1} MiB, pending {:>6.1} MiB, growth {:>5.1} MiB, peak {:>6.1} MiB \
         | first firing {:>5} ms | burst {} in {:.2} s = {:>6.0}/s, lateness p50 {} ms p99 {} ms max {} ms \
         | fired {} double {} early {}",
        plan.deadlines(),
        mib(f.rss_empty),
        mib(f.rss_pending),
        mib(f.rss_pending.saturating_sub(f.rss_empty)),
        mib(f.peak),
        f.first_firing.as_millis(),
        plan.burst,
        max,
        plan.burst as f64 / max.max(1e-9),
        f.lateness[0].as_millis(),
        f.lateness[1].as_millis(),
        f.lateness[2].as_millis(),
        f.fired,
        f.double,
        f.early,
    );
}

/// The measured server: `gridwhistle serve` on the shifted clock, stopped by SIGTERM.
async fn serve(url: String, data_dir: PathBuf, real_ms: i64, clock_ms: i64) -> anyhow::Result<()> {
    gridwhistle_server::telemetry::init(gridwhistle_server::config::LogFormat::Human);
    let clock = ShiftedClock::mapping(
        Timestamp::from_unix_millis(real_ms),
        Timestamp::from_unix_millis(clock_ms),
    );
    let mut config = ServerConfig::with_defaults(url);
    // The metrics are kept, as in production, on a port of their own.
    config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.attachment_dir = data_dir.join("attachments");
    config.replica_id_file = data_dir.join("replica-id");
    std::fs::write(&config.replica_id_file, REPLICA)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    gridwhistle_server::run(config, Arc::new(clock), listener, async move {
        terminate.recv().await;
    })
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Sub::Serve {
        database_url,
        data_dir,
        real_ms,
        clock_ms,
    }) = args.command
    {
        return serve(database_url, data_dir, real_ms, clock_ms).await;
    }
    let plan = Plan::new(&args)?;
    let mut results = Vec::new();
    if !args.skip_sqlite {
        let target = Target::Sqlite(std::path::absolute(args.work_dir.join("sqlite"))?);
        results.push(("sqlite", run_target(target, plan, &args).await?));
    }
    if let Some(url) = &args.postgres_url {
        let target = Target::Postgres(url.clone());
        results.push(("postgresql", run_target(target, plan, &args).await?));
    }
    println!(
        "deadline engine: {} pending, {} due at Monday 09:00, {} overdue at start",
        plan.deadlines(),
        plan.burst,
        plan.backlog
    );
    for (label, figures) in &results {
        print(label, plan, figures);
    }
    Ok(())
}
