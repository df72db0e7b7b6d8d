//! Every benchmark program explains itself: `--help` prints its usage and exits 0, and an unknown flag is a usage error, not a panic.

use std::process::Command;

const PROGRAMS: [&str; 6] = [
    env!("CARGO_BIN_EXE_gridwhistle-bench"),
    env!("CARGO_BIN_EXE_routing-bench"),
    env!("CARGO_BIN_EXE_deadline-bench"),
    env!("CARGO_BIN_EXE_push-bench"),
    env!("CARGO_BIN_EXE_download-bench"),
    env!("CARGO_BIN_EXE_queue-bench"),
];

#[test]
fn every_benchmark_has_a_help_and_refuses_unknown_flags_plainly() {
    for program in PROGRAMS {
        let help = Command::new(program).arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(help.status.success(), "{program}: {help:?}");
        assert!(text.contains("Usage:"), "{program}: {text}");
        let unknown = Command::new(program)
            .arg("--no-such-flag")
            .output()
            .unwrap();
        let error = String::from_utf8_lossy(&unknown.stderr);
        assert_eq!(unknown.status.code(), Some(2), "{program}: {error}");
        assert!(
            !error.contains("panicked") && !error.contains("backtrace"),
            "{program}: {error}"
        );
    }
}
