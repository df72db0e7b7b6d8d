//! The injected clock: the only source of "now" for deadline, token and routing logic, so tests move time by hand.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gridwhistle_domain::Timestamp;

/// A source of the current instant.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the wall clock"
    )]
    fn now(&self) -> Timestamp {
        // A system clock set before 1970 is a broken host; report the epoch rather than panic.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(Timestamp::from_unix_millis(0), |since| {
                Timestamp::from_unix_millis(0).saturating_add(since)
            })
    }
}

/// The system clock moved by a fixed offset: it runs at real speed from another instant, for drills and benchmarks that must live through a given moment (a Monday 09:00) now.
#[derive(Debug, Clone, Copy)]
pub struct ShiftedClock {
    offset_millis: i64,
}

impl ShiftedClock {
    /// A clock that reads `then` at the real instant `at`.
    pub fn mapping(at: Timestamp, then: Timestamp) -> Self {
        Self {
            offset_millis: then.as_unix_millis().saturating_sub(at.as_unix_millis()),
        }
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(
            SystemClock
                .now()
                .as_unix_millis()
                .saturating_add(self.offset_millis),
        )
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    now_millis: AtomicI64,
    // Serialises advances so two concurrent advances never lose one another's step.
    advance_lock: Mutex<()>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now_millis: AtomicI64::new(start.as_unix_millis()),
            advance_lock: Mutex::new(()),
        }
    }

    /// Moves the clock forward by `step`.
    pub fn advance(&self, step: Duration) {
        let _guard = self
            .advance_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = self.now().saturating_add(step);
        self.now_millis
            .store(next.as_unix_millis(), Ordering::SeqCst);
    }

    /// Sets the clock to `instant`, which may be earlier than now (to test clock skew).
    pub fn set(&self, instant: Timestamp) {
        self.now_millis
            .store(instant.as_unix_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.now_millis.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_000));
        assert_eq!(clock.now(), Timestamp::from_unix_millis(1_000));
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), Timestamp::from_unix_millis(91_000));
        clock.set(Timestamp::from_unix_millis(5));
        assert_eq!(clock.now(), Timestamp::from_unix_millis(5));
    }

    #[test]
    fn a_shifted_clock_reads_the_mapped_instant_and_runs_at_real_speed() {
        let real = SystemClock.now();
        let then = Timestamp::from_unix_millis(1_000_000);
        let clock = ShiftedClock::mapping(real, then);
        let read = clock.now();
        // The real clock moved on a little between the two readings, never back.
        assert!(read >= then);
        assert!(read.duration_since(then) < Duration::from_secs(60));
    }

    #[test]
    fn the_system_clock_is_after_this_code_was_written() {
        // 2026-01-01T00:00:00Z: a clock reading earlier than this is not the real wall clock.
        assert!(SystemClock.now() > Timestamp::from_unix_millis(1_767_225_600_000));
    }
}
