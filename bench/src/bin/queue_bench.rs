//! Measures the case queue and the figures (KPIs) on a seeded district, on SQLite and, given `--postgres-url`, PostgreSQL, over one connection.
//!
//! The queue: three typical filters' first pages (a supervisor's "overdue, grade A, by due time", a department's open cases by due time, a street and a month by whistle time) beside a primary-key read of one case, with each filter's query plan.
//! The figures: one month's ranking of every department with every figure, a department's 12-month trend, and the ranking exported as XLSX; then every case's facts are rebuilt from the event log and must equal the facts kept step by step.
//!
//! Seeding runs the real loop in this process on a manual clock that walks through twelve months: grid workers across the demo district file and whistle reports of several categories and grades; of every ten cases the lead reports in on seven at once, completes five, and the author accepts four with a score from 1 to 5 and rejects one once before accepting it (rework).
//! The other five are finished a month late, at the start of the next month: reported in (late for three of them), completed past the finish due time and accepted; one case in a hundred is never reported in (the long-standing tail). So what stays open at the end is the last month's unfinished half and the tail, as in a district at work, not half of every case ever filed.

#![allow(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use gridwhistle_bench::{
    ScratchDatabase, actor, analyze_while_seeding, measure, measuring_store, open_loop,
};
use gridwhistle_dispatcher::routing::rules::Position;
use gridwhistle_dispatcher::{Clock, ManualClock};
use gridwhistle_domain::{
    Actor, CaseId, CaseState, CategoryId, CoordinateSystem, DepartmentId, GeoPoint, ReportId,
    RiskGrade, Timestamp, WhistleKind,
};
use gridwhistle_server::closed_loop::{CaseAction, Guard, LoopService, Verdict};
use gridwhistle_server::model::{
    AreaGroup, CaseOrder, CaseQuery, NewReport, ReportKey, ReportRecord, TimeRange,
};
use gridwhistle_server::stats::{Month, PeriodSpec, StatsService, export};
use gridwhistle_server::storage::Store;
use gridwhistle_server::time_limits::TimeLimits;
use sea_orm::{ConnectionTrait, Database, Statement};

const DEMO_GRIDS: &str = include_str!("../../../server/demo/grids.geojson");
const CATEGORIES: [&str; 4] = [
    "neighbour-dispute",
    "city-appearance",
    "safety-hazard",
    "noise-nuisance",
];
/// Monday 2025-12-01 09:00 in Beijing: the first whistle; the months run on from there.
const START: Timestamp = Timestamp::from_unix_millis(1_764_550_800_000);
const MONTH_MS: i64 = 30 * 24 * 3600 * 1000;
const PAGE: u64 = 50;

#[derive(Debug, Parser)]
#[command(about = "Case queue and figures latency on a seeded district, beside a primary-key read")]
struct Args {
    /// Cases to seed on each database.
    #[arg(long, default_value_t = 1_000_000)]
    cases: u64,
    /// Samples of each query.
    #[arg(long, default_value_t = 500)]
    samples: u64,
    /// Callers seeding at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Also measure on PostgreSQL (a fresh database is made on this server and dropped after).
    #[arg(long)]
    postgres_url: Option<String>,
    /// Measure PostgreSQL only.
    #[arg(long)]
    skip_sqlite: bool,
    /// Seed the SQLite database at this path (a new file) and keep it, to read its plans afterwards; a temporary file by default.
    #[arg(long)]
    sqlite_file: Option<std::path::PathBuf>,
    /// Keep the PostgreSQL database seeded (its name is printed) instead of dropping it.
    #[arg(long)]
    keep: bool,
    /// Measure databases seeded before (with `--sqlite-file`, and `--keep` with `--postgres-url` naming the kept database) without seeding.
    #[arg(long)]
    measure_only: bool,
    /// Reports filed and whistled on a fresh database of each kind to measure what keeping the daily rollups costs a step (0: not measured).
    #[arg(long, default_value_t = 2000)]
    step_cases: u64,
}

/// Every demo grid with the point to report from.
fn grids() -> anyhow::Result<Vec<(String, Position)>> {
    let collection: serde_json::Value = serde_json::from_str(DEMO_GRIDS)?;
    let features = collection["features"].as_array().context("features")?;
    features
        .iter()
        .map(|f| {
            let grid = f["properties"]["grid_id"]
                .as_str()
                .context("grid_id")?
                .to_owned();
            let (lat, lng) = gridwhistle_sample::point_in_grid(DEMO_GRIDS, &grid)
                .context("a point in the grid")?;
            let position = Position {
                point: GeoPoint::new(lat, lng)?,
                system: CoordinateSystem::Wgs84,
                accuracy_m: 5.0,
            };
            Ok((grid, position))
        })
        .collect()
}

/// Files and whistles case `n`: its grid, category and grade cycle, so every filter finds its share.
async fn whistle_one(
    service: &LoopService,
    workers: &[(Actor, Position)],
    n: u64,
) -> anyhow::Result<(Actor, ReportRecord)> {
    let (worker, location) = &workers[usize::try_from(n)? % workers.len()];
    let id = ReportId::generate();
    let category = CATEGORIES[usize::try_from(n / 7)? % CATEGORIES.len()];
    let grade = [RiskGrade::A, RiskGrade::B, RiskGrade::C][usize::try_from(n / 3)? % 3];
    let draft = NewReport {
        id,
        category: CategoryId::parse(category)?,
        description: "楼道堆放杂物".to_owned(),
        location: *location,
        observed_at: Timestamp::from_unix_millis(service.now().as_unix_millis() - 600_000),
        risk_grade: None,
        parties: Vec::new(),
        attachments: Vec::new(),
        request_hash: id.to_string(),
    };
    service.create_report(worker, draft).await?;
    let (record, _) = service
        .whistle(
            worker,
            id,
            WhistleKind::Routine,
            Some(grade),
            String::new(),
            Guard::default(),
        )
        .await?;
    Ok((worker.clone(), record))
}

/// The demo district's duty officers, by department.
async fn officers(store: &Store) -> anyhow::Result<HashMap<DepartmentId, Actor>> {
    let mut officers = HashMap::new();
    for department in store.directory().list_departments(None, 1000).await? {
        if let Ok(officer) = actor(store, &format!("duty.{}", department.id)).await {
            officers.insert(department.id, officer);
        }
    }
    Ok(officers)
}

/// A case left to finish a month late: its number, its author, report and case, and its lead's duty officer.
type Waiting = (u64, Actor, ReportId, CaseId, Actor);

/// Takes case `n` on through the loop as the tenth it is (see the module's doc): report in, complete, verify; answers the case when it is to be finished next month.
async fn progress(
    service: &LoopService,
    officers: &HashMap<DepartmentId, Actor>,
    worker: &Actor,
    record: &ReportRecord,
    n: u64,
) -> anyhow::Result<Option<Waiting>> {
    let step = n % 10;
    let Some((case, lead)) = record.case.as_ref().zip(record.assignments.first()) else {
        return Ok(None);
    };
    let Some(officer) = officers.get(&lead.department) else {
        return Ok(None);
    };
    let waiting = (n, worker.clone(), record.id, case.id, officer.clone());
    if step >= 7 {
        return Ok(Some(waiting));
    }
    let act = |action| service.act(officer, case.id, action, Guard::default());
    act(CaseAction::ReportIn { on_scene: None }).await?;
    if step >= 5 {
        return Ok(Some(waiting));
    }
    act(complete()).await?;
    if step == 4 {
        let reject = Verdict::Reject {
            reason: "未处理完".to_owned(),
        };
        service
            .verify(worker, record.id, reject, Guard::default())
            .await?;
        act(complete()).await?;
    }
    accept(service, worker, record.id, n).await
}

fn complete() -> CaseAction {
    CaseAction::Complete {
        result: "已处理".to_owned(),
        attachments: Vec::new(),
    }
}

async fn accept(
    service: &LoopService,
    worker: &Actor,
    report: ReportId,
    n: u64,
) -> anyhow::Result<Option<Waiting>> {
    let accept = Verdict::Accept {
        satisfaction: u8::try_from(1 + n % 5)?,
    };
    service
        .verify(worker, report, accept, Guard::default())
        .await?;
    Ok(None)
}

/// Finishes a case a month late (see the module's doc), unless it is of the long-standing tail.
async fn finish_late(service: &LoopService, waiting: &Waiting) -> anyhow::Result<()> {
    let (n, worker, report, case, officer) = waiting;
    if n % 100 == 97 {
        return Ok(());
    }
    let act = |action| service.act(officer, *case, action, Guard::default());
    if n % 10 >= 7 {
        act(CaseAction::ReportIn { on_scene: None }).await?;
    }
    act(complete()).await?;
    accept(service, worker, *report, *n).await?;
    Ok(())
}

/// Seeds `count` cases over twelve months of the clock, `concurrency` callers at once.
/// The demo district's grid workers with the point each reports from; the district has a worker in some grids only, and those file every report.
async fn workers(store: &Store) -> anyhow::Result<Vec<(Actor, Position)>> {
    let mut workers = Vec::new();
    for (grid, position) in grids()? {
        if let Ok(worker) = actor(store, &format!("worker.{grid}")).await {
            workers.push((worker, position));
        }
    }
    if workers.is_empty() {
        bail!("the demo district has no grid workers");
    }
    Ok(workers)
}

/// What keeping the figures' daily rollups costs a loop step: a report filed and whistled, one at a time, by a store that keeps them and by one that does not, taking turns on one fresh database.
///
/// PostgreSQL is analyzed after every round, as autovacuum does each time a table grows by a tenth (the benchmark machines run without it): otherwise the plans cached while the tables were empty keep scanning them whole, and a step costs more the more steps came before it.
async fn step_cost(url: &str, cases: u64) -> anyhow::Result<()> {
    let clock = Arc::new(ManualClock::new(START));
    let (store, kept, _) = open_loop(url, clock.clone()).await?;
    let (_, left, _) = gridwhistle_bench::loop_on(store.without_rollups(), clock).await?;
    let analyzer = if url.starts_with("postgres") {
        Some(Database::connect(url).await?)
    } else {
        None
    };
    let workers = workers(&store).await?;
    let mut totals = [std::time::Duration::ZERO; 2];
    let mut histograms = [
        hdrhistogram::Histogram::<u64>::new(3)?,
        hdrhistogram::Histogram::<u64>::new(3)?,
    ];
    let rounds = 10;
    let mut n: u64 = 0;
    for _ in 0..rounds {
        for _ in 0..cases / rounds {
            // The stores take turns step by step, each going first in every other pair (0, 1, 1, 0, 0, 1…), so the machine's moods and the plans made anew after an analysis fall on both alike.
            let i = usize::from((n ^ (n >> 1)) & 1 == 1);
            let service = [&kept, &left][i];
            let started = Instant::now();
            whistle_one(service, &workers, n).await?;
            let took = started.elapsed();
            totals[i] += took;
            histograms[i].record(u64::try_from(took.as_micros())?)?;
            n += 1;
        }
        if let Some(db) = &analyzer {
            db.execute_unprepared("ANALYZE").await?;
        }
    }
    for (i, name) in ["with the rollups", "without the rollups"]
        .iter()
        .enumerate()
    {
        println!(
            "a report filed and whistled {name:<22} p50 {:>7} µs  p99 {:>7} µs  mean {:>7} µs",
            histograms[i].value_at_quantile(0.5),
            histograms[i].value_at_quantile(0.99),
            histograms[i].mean().round()
        );
    }
    println!(
        "keeping the rollups adds {:+.1}% to the step (means, {} steps each)",
        (totals[0].as_secs_f64() / totals[1].as_secs_f64() - 1.0) * 100.0,
        histograms[0].len()
    );
    store.close().await?;
    Ok(())
}

async fn seed(url: &str, count: u64, concurrency: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let clock = Arc::new(ManualClock::new(START));
    let (store, service, _) = open_loop(url, clock.clone()).await?;
    let analyzer = analyze_while_seeding(url).await?;
    let workers = Arc::new(workers(&store).await?);
    let officers = Arc::new(officers(&store).await?);
    let per_month = count.div_ceil(12);
    let mut waiting: Arc<Vec<Waiting>> = Arc::new(Vec::new());
    for month in 0..12 {
        clock.set(Timestamp::from_unix_millis(
            START.as_unix_millis() + month * MONTH_MS,
        ));
        let first = u64::try_from(month)? * per_month;
        let end = (first + per_month).min(count);
        let next = Arc::new(AtomicU64::new(first));
        let late = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (service, workers, next) = (service.clone(), workers.clone(), next.clone());
            let (officers, late, last_month) = (officers.clone(), late.clone(), waiting.clone());
            tasks.spawn(async move {
                let mut left = Vec::new();
                loop {
                    let i = usize::try_from(late.fetch_add(1, Ordering::Relaxed))?;
                    let Some(case) = last_month.get(i) else { break };
                    finish_late(&service, case).await?;
                }
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= end {
                        return anyhow::Ok(left);
                    }
                    let (worker, record) = whistle_one(&service, &workers, n).await?;
                    left.extend(progress(&service, &officers, &worker, &record, n).await?);
                }
            });
        }
        let mut left = Vec::new();
        while let Some(done) = tasks.join_next().await {
            left.extend(done??);
        }
        waiting = Arc::new(left);
        eprintln!(
            "  month {}: {end} cases in {:.0?}",
            month + 1,
            started.elapsed()
        );
    }
    if let Some(analyzer) = analyzer {
        analyzer.abort();
    }
    store.close().await?;
    Ok(())
}

async fn plan(store: &Store, url: &str, query: &CaseQuery) -> anyhow::Result<Vec<String>> {
    let sql = store.reports().queue_sql(query, None, PAGE);
    let db = Database::connect(url).await?;
    let backend = db.get_database_backend();
    let explain = if url.starts_with("sqlite:") {
        format!("EXPLAIN QUERY PLAN {sql}")
    } else {
        format!("EXPLAIN {sql}")
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, explain))
        .await?;
    let lines = rows
        .iter()
        .map(|row| {
            row.try_get::<String>("", "detail")
                .or_else(|_| row.try_get::<String>("", "QUERY PLAN"))
                .unwrap_or_default()
        })
        .collect();
    db.close().await?;
    Ok(lines)
}

/// Measures the three filters and the primary-key read on `url`.
async fn run(label: &str, url: &str, args: &Args) -> anyhow::Result<()> {
    if args.measure_only {
        println!("== {label}: measuring a database seeded before");
    } else {
        println!("== {label}: seeding {} cases", args.cases);
        let started = Instant::now();
        seed(url, args.cases, args.concurrency).await?;
        println!("seeded in {:.0?}", started.elapsed());
    }
    let store = measuring_store(url).await?;
    let one = store
        .reports()
        .queue(&CaseQuery::default(), None, 1)
        .await?
        .pop()
        .context("a case")?
        .1;
    let case = one.case.as_ref().context("a case")?.id;
    let department: DepartmentId = one
        .assignments
        .first()
        .context("a lead")?
        .department
        .clone();
    // Eleven months after the first whistle: everything whistled before is past its limits.
    let now = Timestamp::from_unix_millis(START.as_unix_millis() + 11 * MONTH_MS);
    let month = TimeRange {
        from: Some(Timestamp::from_unix_millis(
            START.as_unix_millis() + 5 * MONTH_MS,
        )),
        until: Some(Timestamp::from_unix_millis(
            START.as_unix_millis() + 6 * MONTH_MS,
        )),
    };
    let filters = [
        (
            "supervisor: open, grade A, overdue, by due time",
            CaseQuery {
                states: vec![CaseState::Open],
                risk_grade: Some(RiskGrade::A),
                due: TimeRange {
                    from: None,
                    until: Some(now),
                },
                ..CaseQuery::default()
            },
        ),
        (
            "department: its open cases by due time",
            CaseQuery {
                states: vec![CaseState::Open],
                department: Some(department.clone()),
                ..CaseQuery::default()
            },
        ),
        (
            "street and month, by whistle time",
            CaseQuery {
                street: Some("建外街道".to_owned()),
                whistled: month,
                order: CaseOrder::Whistled,
                ..CaseQuery::default()
            },
        ),
    ];
    let (p50, p99) = measure(args.samples, || {
        let store = store.clone();
        async move {
            store.reports().get(ReportKey::Case(case)).await?;
            Ok(1)
        }
    })
    .await?;
    println!(
        "{:<50} p50 {:>7} µs  p99 {:>7} µs",
        "primary key: one case with its shares", p50, p99
    );
    for (name, query) in &filters {
        let (p50, p99) = measure(args.samples, || {
            let (store, query) = (store.clone(), query.clone());
            async move { Ok(store.reports().queue(&query, None, PAGE).await?.len()) }
        })
        .await?;
        println!("{name:<50} p50 {p50:>7} µs  p99 {p99:>7} µs  (first page of {PAGE})");
    }
    for (name, query) in &filters {
        println!("plan of {name}:");
        for line in plan(&store, url, query).await? {
            println!("    {line}");
        }
    }
    figures(&store, &department, now, args.samples).await?;
    store.close().await?;
    Ok(())
}

/// Measures the figures over the seed as a supervisor reads them, then rebuilds every case's facts and checks them.
async fn figures(
    store: &Store,
    department: &DepartmentId,
    now: Timestamp,
    samples: u64,
) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now));
    let time_limits = Arc::new(TimeLimits::load(store.clone(), clock.clone(), None).await?);
    let stats = Arc::new(StatsService::new(store.clone(), time_limits, clock));
    let supervisor = actor(store, "supervisor").await?;
    let zone = stats.zone();
    // A database seeded before the daily rollups existed has none yet: a replica builds them when it starts.
    let started = Instant::now();
    if let Some(built) = store.stats().ensure_rollups(zone.offset_ms()).await? {
        println!(
            "built the daily rollups from the facts in {:.1?}: {} counts",
            started.elapsed(),
            built.counts
        );
    }
    // The sixth month of the seed, as a calendar month.
    let middle = Month::of(
        &zone,
        Timestamp::from_unix_millis(START.as_unix_millis() + 5 * MONTH_MS + MONTH_MS / 2),
    );
    let period = PeriodSpec::Month(middle.to_string());
    let end = Month::of(&zone, now).to_string();
    let ranking = stats
        .ranking(&supervisor, &period, "response_rate desc")
        .await?;
    let assignments: i64 = ranking.iter().map(|f| f.assignments).sum();
    println!(
        "figures of {middle}: {} departments ranked over {assignments} assignments",
        ranking.len()
    );
    let views: [(&str, u64); 4] = [
        ("month's ranking of every department", samples),
        ("a department's 12-month trend", samples),
        ("the ranking as XLSX", samples.min(50)),
        (
            "the month's streets (from the reports filed)",
            samples.min(50),
        ),
    ];
    for (i, (name, samples)) in views.into_iter().enumerate() {
        let (p50, p99) = measure(samples, || {
            let (stats, supervisor, period, end) = (
                stats.clone(),
                supervisor.clone(),
                period.clone(),
                end.clone(),
            );
            async move {
                Ok(match i {
                    0 => stats
                        .ranking(&supervisor, &period, "response_rate desc")
                        .await?
                        .len(),
                    1 => stats
                        .trend(&supervisor, department, Some(&end), 12)
                        .await?
                        .len(),
                    2 => {
                        let ranking = stats
                            .ranking(&supervisor, &period, "response_rate desc")
                            .await?;
                        export::to_xlsx(&export::departments_table("部门排名", None, &ranking))?
                            .len()
                    }
                    _ => stats
                        .areas(&supervisor, &period, AreaGroup::Street, "whistle_rate desc")
                        .await?
                        .len(),
                })
            }
        })
        .await?;
        println!("{name:<50} p50 {p50:>7} µs  p99 {p99:>7} µs");
    }
    compare_with_facts(store, middle.period(&zone), now, samples).await?;
    let started = Instant::now();
    let rebuilt = stats.rebuild_all().await?;
    println!(
        "rebuilt the facts of {} cases ({} assignments) from the event log in {:.1?}: {} differed; {} rollup counts differed",
        rebuilt.cases,
        rebuilt.assignments,
        started.elapsed(),
        rebuilt.changed,
        rebuilt.rollups_changed
    );
    if rebuilt.changed > 0 || rebuilt.rollups_changed > 0 {
        bail!("facts or rollups kept step by step differ from those rebuilt from the event log");
    }
    Ok(())
}

/// The month's department counts summed from the daily rollups beside the same counted from the facts, measured in turn in one run; they must be equal.
async fn compare_with_facts(
    store: &Store,
    period: gridwhistle_server::model::Period,
    now: Timestamp,
    samples: u64,
) -> anyhow::Result<()> {
    use gridwhistle_server::model::ShareGroup;
    let rolled = store
        .stats()
        .share_counts(ShareGroup::Department, None, period, now)
        .await?;
    let counted = store
        .stats()
        .share_counts_from_facts(ShareGroup::Department, None, period, now)
        .await?;
    if rolled != counted {
        bail!("the rollups' counts differ from the facts' counts");
    }
    let mut p99 = Vec::new();
    for from_facts in [false, true] {
        let (p50, high) = measure(samples.min(50), || {
            let store = store.clone();
            async move {
                let stats = store.stats();
                let counts = if from_facts {
                    stats
                        .share_counts_from_facts(ShareGroup::Department, None, period, now)
                        .await?
                } else {
                    stats
                        .share_counts(ShareGroup::Department, None, period, now)
                        .await?
                };
                Ok(counts.len())
            }
        })
        .await?;
        let name = if from_facts {
            "the month's counts from the facts"
        } else {
            "the month's counts from the rollups"
        };
        println!("{name:<50} p50 {p50:>7} µs  p99 {high:>7} µs");
        p99.push(high);
    }
    println!(
        "equal counts; p99 from the facts / p99 from the rollups: {:.1}",
        p99[1] as f64 / p99[0].max(1) as f64
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.cases == 0 || args.samples == 0 || args.concurrency == 0 {
        bail!("--cases, --samples and --concurrency must be positive");
    }
    if args.step_cases > 0 {
        if !args.skip_sqlite {
            let dir = tempfile::tempdir()?;
            println!("== SQLite: the step's cost");
            step_cost(
                &gridwhistle_server::config::sqlite_url(&dir.path().join("steps.db")),
                args.step_cases,
            )
            .await?;
        }
        if let Some(base) = &args.postgres_url {
            let scratch = ScratchDatabase::create(base, "gw_step_bench").await?;
            println!("== PostgreSQL: the step's cost");
            let outcome = step_cost(&scratch.url, args.step_cases).await;
            scratch.drop().await?;
            outcome?;
        }
    }
    if !args.skip_sqlite {
        let dir = tempfile::tempdir()?;
        let file = match (&args.sqlite_file, args.measure_only) {
            (Some(file), _) => file.clone(),
            (None, false) => dir.path().join("queue.db"),
            (None, true) => {
                bail!("--measure-only measures the SQLite file that --sqlite-file names")
            }
        };
        let url = gridwhistle_server::config::sqlite_url(&file);
        run("SQLite", &url, &args).await?;
    }
    if let Some(base) = &args.postgres_url {
        if args.measure_only {
            return run("PostgreSQL", base, &args).await;
        }
        let scratch = ScratchDatabase::create(base, "gw_queue_bench").await?;
        let outcome = run("PostgreSQL", &scratch.url, &args).await;
        if args.keep {
            println!("kept the seeded database: {}", scratch.keep());
        } else {
            scratch.drop().await?;
        }
        outcome?;
    }
    Ok(())
}
