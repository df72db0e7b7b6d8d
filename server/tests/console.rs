//! The web console in real Chromium: `console/tests/browser` drives this build's binary (`serve --demo` on a fresh database) in Debian's headless Chromium through playwright-core, and saves a screenshot of each main page in `console/test-results/`.
//!
//! It needs the console's Node packages (`npm ci` in `console/`) and Chromium at `/usr/bin/chromium` (or `CHROMIUM`); `.ci/run` installs both.
//! Without them the test is skipped with a note, unless `TEST_INTEGRATION=1` makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../console")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Whether Node's packages and Chromium are here; fails under `TEST_INTEGRATION=1` when they are not.
fn browser_ready() -> bool {
    let packages = console_dir().join("node_modules/playwright-core").is_dir();
    let browser = chromium().is_file();
    let required = std::env::var("TEST_INTEGRATION").is_ok_and(|v| v == "1");
    assert!(
        (packages && browser) || !required,
        "TEST_INTEGRATION=1 but the console's browser tests cannot run: packages {packages}, chromium {browser} (npm ci in console/; apt-get install chromium)"
    );
    if !(packages && browser) {
        eprintln!("note: console packages or chromium missing; the browser tests are skipped");
    }
    packages && browser
}

#[test]
fn the_console_works_in_chromium_against_the_real_binary() {
    if !browser_ready() {
        return;
    }
    let status = Command::new("npm")
        .args(["run", "--silent", "browser"])
        .current_dir(console_dir())
        .env("GRIDWHISTLE_BIN", env!("CARGO_BIN_EXE_gridwhistle"))
        .env("CHROMIUM", chromium())
        .status()
        .expect("npm runs");
    assert!(status.success(), "the browser tests failed: {status}");
}
