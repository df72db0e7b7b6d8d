//! A burst of logins against a real server process: `--clients` logins at once (500 by default), each over a connection of its own, against `gridwhistle serve --demo` on a fresh SQLite database, run as a child process (this program's `serve`) so its memory is the server's alone.
//!
//! Prints how many logins were served and how many were shed (`UNAVAILABLE`, reason `OVERLOADED`: their password check could not start within 5 seconds), their latencies, and the server's resident memory before the burst and at its peak (`VmHWM`), against the 1 GiB the operations issue allows. `--hash-concurrency` sets the server's password checks at once (one per core by default), to see what the bound saves.

#![allow(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gridwhistle_proto::v1;
use gridwhistle_proto::v1::auth_service_client::AuthServiceClient;

#[derive(Debug, Parser)]
#[command(about = "Server memory and latency under a burst of concurrent logins")]
struct Args {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Logins at once, each over its own connection.
    #[arg(long, default_value_t = 500)]
    clients: usize,
    /// The server's password checks at once; one per core when not given.
    #[arg(long)]
    hash_concurrency: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Runs the measured server (the parent starts it).
    Serve {
        #[arg(long)]
        data_dir: std::path::PathBuf,
        #[arg(long)]
        hash_concurrency: Option<usize>,
    },
}

/// The measured server: `serve --demo` on a SQLite file in `data_dir`, printing its address on its first line.
async fn serve(
    data_dir: std::path::PathBuf,
    hash_concurrency: Option<usize>,
) -> anyhow::Result<()> {
    let url = gridwhistle_server::config::sqlite_url(&data_dir.join("gridwhistle.db"));
    let mut config = gridwhistle_server::ServerConfig::with_defaults(url);
    config.demo = true;
    config.attachment_dir = data_dir.join("attachments");
    config.replica_id_file = data_dir.join("replica-id");
    config.metrics_listen = None;
    config.password_hash_concurrency = hash_concurrency;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    let clock = Arc::new(gridwhistle_dispatcher::SystemClock);
    gridwhistle_server::run(config, clock, listener, std::future::pending()).await?;
    Ok(())
}

/// A field of the child's `/proc/{pid}/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    let kib = line.split_whitespace().nth(1).context("a value")?.parse()?;
    Ok(kib)
}

/// The server child, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One login over a connection of its own: its outcome (`Ok`, or the refusal's reason) and duration.
async fn one_login(addr: String) -> anyhow::Result<(Result<(), String>, Duration)> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let started = Instant::now();
    let answer = AuthServiceClient::new(channel)
        .login(v1::LoginRequest {
            username: "duty.police-01".to_owned(),
            password: gridwhistle_server::demo::DEMO_PASSWORD.to_owned(),
        })
        .await;
    let outcome = match answer {
        Ok(_) => Ok(()),
        Err(status) => {
            use tonic_types::StatusExt as _;
            Err(status
                .get_details_error_info()
                .map_or_else(|| format!("{:?}", status.code()), |i| i.reason))
        }
    };
    Ok((outcome, started.elapsed()))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn burst(args: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["serve", "--data-dir"]).arg(dir.path());
    if let Some(n) = args.hash_concurrency {
        command.args(["--hash-concurrency", &n.to_string()]);
    }
    let mut child = command
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    let server = Server(child);
    let pid = server.0.id();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first)?;
    let addr = first.trim().to_owned();
    // One login first: the demo district is loaded and the server warm.
    let (warm, _) = one_login(addr.clone()).await?;
    warm.map_err(|reason| anyhow::anyhow!("the first login was refused: {reason}"))?;
    let before = status_kib(pid, "VmRSS")?;
    let started = Instant::now();
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        logins.spawn(one_login(addr.clone()));
    }
    let mut served = Vec::new();
    let mut shed = std::collections::BTreeMap::<String, usize>::new();
    for done in logins.join_all().await {
        let (outcome, took) = done?;
        match outcome {
            Ok(()) => served.push(took),
            Err(reason) => *shed.entry(reason).or_default() += 1,
        }
    }
    let wall = started.elapsed();
    let peak = status_kib(pid, "VmHWM")?;
    served.sort_unstable();
    let at = |q: f64| {
        served
            .get(((served.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let threads = status_kib(pid, "Threads").unwrap_or_default();
    println!(
        "{} logins at once (password checks at once: {}), in {:.1} s",
        args.clients,
        args.hash_concurrency
            .map_or_else(|| "one per core".to_owned(), |n| n.to_string()),
        wall.as_secs_f64()
    );
    println!(
        "served {}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; refused {:?}",
        served.len(),
        millis(at(0.5)),
        millis(at(0.99)),
        millis(served.last().copied().unwrap_or_default()),
        shed
    );
    println!(
        "server resident memory: {:.0} MiB before, {:.0} MiB at peak (limit 1024 MiB); {threads} threads after",
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    drop(server);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match args.mode {
        Some(Mode::Serve {
            data_dir,
            hash_concurrency,
        }) => runtime.block_on(serve(data_dir, hash_concurrency)),
        None => runtime.block_on(burst(&args)),
    }
}
