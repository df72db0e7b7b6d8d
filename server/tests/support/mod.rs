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
        .args(["serve", "--listen", "127.0.0.1:0"])
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
