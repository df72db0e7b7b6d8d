//! Instants as whole milliseconds since the Unix epoch, the one time type every crate shares.

use std::time::Duration;

/// An instant in UTC with millisecond precision.
///
/// Milliseconds are what storage keeps on every backend, so a value survives a round trip unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds, rounded towards the past.
    pub const fn as_unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The instant `duration` later, saturating at the end of representable time.
    pub fn saturating_add(self, duration: Duration) -> Self {
        match i64::try_from(duration.as_millis()) {
            Ok(millis) => Self(self.0.saturating_add(millis)),
            // A duration past every representable instant ends at the last one: the saturation this method is named for.
            Err(_) => Self(i64::MAX),
        }
    }

    /// The instant `duration` earlier, saturating at the start of representable time.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        match i64::try_from(duration.as_millis()) {
            Ok(millis) => Self(self.0.saturating_sub(millis)),
            // A duration before every representable instant starts at the first one.
            Err(_) => Self(i64::MIN),
        }
    }

    /// How long after `earlier` this instant is, or zero when it is not later.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        let millis = self.0.saturating_sub(earlier.0).max(0);
        Duration::from_millis(millis.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_a_duration_moves_forward_by_whole_milliseconds() {
        let t = Timestamp::from_unix_millis(1_000);
        assert_eq!(
            t.saturating_add(Duration::from_micros(2_500)),
            Timestamp::from_unix_millis(1_002)
        );
        assert_eq!(
            Timestamp::from_unix_millis(i64::MAX - 1).saturating_add(Duration::from_secs(1)),
            Timestamp::from_unix_millis(i64::MAX)
        );
    }

    #[test]
    fn duration_since_a_later_instant_is_zero() {
        let early = Timestamp::from_unix_millis(5_000);
        let late = Timestamp::from_unix_millis(7_500);
        assert_eq!(late.duration_since(early), Duration::from_millis(2_500));
        assert_eq!(early.duration_since(late), Duration::ZERO);
    }

    #[test]
    fn seconds_round_towards_the_past() {
        assert_eq!(Timestamp::from_unix_millis(1_999).as_unix_seconds(), 1);
        assert_eq!(Timestamp::from_unix_millis(-1).as_unix_seconds(), -1);
    }
}
