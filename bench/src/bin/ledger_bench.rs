//! Measures the ledger of long-standing cases (积案台账) at district scale: the list filtered by colour and responsible unit, by colour alone and by unit alone (first page of 50, most urgent first), and the dashboard's counts by colour, on SQLite and, given `--postgres-url`, PostgreSQL, over one connection.
//!
//! Seeding writes the entries through the ledger's repository on the demo district: every department is responsible for its share; a tenth of the entries are red, three tenths yellow, the rest blue; each has three steps a week apart, some already past; half have a leader; one in five is closed.

#![allow(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use gridwhistle_bench::{ScratchDatabase, actor, measure, measuring_store, open_loop};
use gridwhistle_dispatcher::ManualClock;
use gridwhistle_domain::ledger::{LedgerEventKind, LedgerState, Level, Nature, StepState};
use gridwhistle_domain::{DepartmentId, LedgerEntryId, RiskGrade, Timestamp, UserId};
use gridwhistle_server::model::{
    LedgerEntryRecord, LedgerFilter, LedgerReader, LedgerStepRecord, NewLedgerEvent,
};

/// Monday 2026-06-01 09:00 in Beijing: the time the ledger is read at.
const NOW: Timestamp = Timestamp::from_unix_millis(1_780_275_600_000);
const DAY_MS: i64 = 24 * 3600 * 1000;
const PAGE: u64 = 50;

#[derive(Debug, Parser)]
#[command(about = "Ledger list and counts latency over a seeded ledger")]
struct Args {
    /// Entries to seed on each database.
    #[arg(long, default_value_t = 100_000)]
    entries: u64,
    /// Samples of each query.
    #[arg(long, default_value_t = 500)]
    samples: u64,
    /// Writers seeding at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Also measure on PostgreSQL (a fresh database is made on this server and dropped after).
    #[arg(long)]
    postgres_url: Option<String>,
    /// Measure PostgreSQL only.
    #[arg(long)]
    skip_sqlite: bool,
}

/// Entry `n` of the seed (see the module's doc).
fn entry(n: u64, departments: &[DepartmentId], leaders: &[UserId]) -> LedgerEntryRecord {
    let at = |days: i64| Timestamp::from_unix_millis(NOW.as_unix_millis() + days * DAY_MS);
    let grade = match n % 10 {
        0 => RiskGrade::A,
        1..=3 => RiskGrade::B,
        _ => RiskGrade::C,
    };
    let unit = departments[(n as usize / 10) % departments.len()].clone();
    let offset = i64::try_from(n % 60).unwrap_or(0) - 30;
    let closed = n % 5 == 4;
    let steps = (1..=3)
        .map(|number: u32| LedgerStepRecord {
            number,
            department: if number == 2 {
                departments[(n as usize + 7) % departments.len()].clone()
            } else {
                unit.clone()
            },
            description: "化解步骤".to_owned(),
            due_at: at(offset + 7 * i64::from(number)),
            state: if closed {
                StepState::Done
            } else {
                StepState::Open
            },
            revision: 1,
            done_at: closed.then(|| at(-1)),
            done_by: None,
            result: closed.then(|| "已办结".to_owned()),
            attachments: Vec::new(),
        })
        .collect();
    LedgerEntryRecord {
        id: LedgerEntryId::generate(),
        case: None,
        title: format!("积案 {n}"),
        summary: "重复信访，多年未结".to_owned(),
        nature: Nature::ALL[n as usize % Nature::ALL.len()],
        since: at(-400),
        complexity: Level::Medium,
        social_impact: Level::Low,
        grade,
        unit,
        responsible_person: "负责人".to_owned(),
        leader: n
            .is_multiple_of(2)
            .then(|| leaders[(n as usize / 2) % leaders.len()]),
        parties: Vec::new(),
        state: if closed {
            LedgerState::Closed
        } else {
            LedgerState::Open
        },
        close_result: None,
        parties_stance: None,
        steps,
        version: 1,
        request_hash: n.to_string(),
        created_at: at(-100),
        updated_at: at(-100),
        closed_at: closed.then(|| at(-1)),
    }
}

async fn seed(url: &str, count: u64, concurrency: usize) -> anyhow::Result<DepartmentId> {
    let clock = Arc::new(ManualClock::new(NOW));
    let (store, _, _) = open_loop(url, clock).await?;
    let departments: Vec<DepartmentId> = store
        .directory()
        .all_departments()
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    let mut leaders = Vec::new();
    for name in ["leader.politics", "leader.deputy"] {
        leaders.push(actor(&store, name).await?.user_id);
    }
    let (departments, leaders) = (Arc::new(departments), Arc::new(leaders));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (store, next) = (store.clone(), next.clone());
        let (departments, leaders) = (departments.clone(), leaders.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(());
                }
                let event = NewLedgerEvent {
                    kind: LedgerEventKind::Opened,
                    actor: None,
                    text: "opened".to_owned(),
                };
                // The lists read the entries' rows alone; the steps' deadline rows are the engine's (`deadline-bench`).
                store
                    .ledger()
                    .open(entry(n, &departments, &leaders), event, Vec::new())
                    .await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let busiest = departments.first().context("a department")?.clone();
    store.close().await?;
    Ok(busiest)
}

async fn run(label: &str, url: &str, args: &Args) -> anyhow::Result<()> {
    println!("== {label}: seeding {} entries", args.entries);
    let started = Instant::now();
    let unit = seed(url, args.entries, args.concurrency).await?;
    println!("seeded in {:.0?}", started.elapsed());
    let store = measuring_store(url).await?;
    let filter = |grade: Option<RiskGrade>, unit: Option<&DepartmentId>| LedgerFilter {
        grade,
        unit: unit.cloned(),
        ..LedgerFilter::new(LedgerReader::All)
    };
    let views = [
        (
            "red entries of one unit",
            filter(Some(RiskGrade::A), Some(&unit)),
        ),
        (
            "yellow entries of every unit",
            filter(Some(RiskGrade::B), None),
        ),
        ("every entry of one unit", filter(None, Some(&unit))),
        (
            "a department's readable entries, overdue",
            LedgerFilter {
                overdue_at: Some(NOW),
                ..LedgerFilter::new(LedgerReader::Department(unit.clone()))
            },
        ),
    ];
    for (name, filter) in &views {
        let (p50, p99) = measure(args.samples, || {
            let (store, filter) = (store.clone(), filter.clone());
            async move { Ok(store.ledger().list(&filter, None, PAGE).await?.len()) }
        })
        .await?;
        println!("{name:<45} p50 {p50:>7} µs  p99 {p99:>7} µs  (first page of {PAGE})");
    }
    let (p50, p99) = measure(args.samples, || {
        let store = store.clone();
        async move {
            let c = store.ledger().counts(&LedgerReader::All, None, NOW).await?;
            Ok(usize::try_from(c.red + c.yellow + c.blue)?)
        }
    })
    .await?;
    println!(
        "{:<45} p50 {p50:>7} µs  p99 {p99:>7} µs",
        "counts by colour, every entry"
    );
    store.close().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.entries == 0 || args.samples == 0 || args.concurrency == 0 {
        bail!("--entries, --samples and --concurrency must be positive");
    }
    if !args.skip_sqlite {
        let dir = tempfile::tempdir()?;
        let url = gridwhistle_server::config::sqlite_url(&dir.path().join("ledger.db"));
        run("SQLite", &url, &args).await?;
    }
    if let Some(base) = &args.postgres_url {
        let scratch = ScratchDatabase::create(base, "gw_ledger_bench").await?;
        let outcome = run("PostgreSQL", &scratch.url, &args).await;
        scratch.drop().await?;
        outcome?;
    }
    Ok(())
}
