//! Background work repeated on a period: the refreshers that take up other replicas' changes, and reminders in the log.

use std::future::Future;
use std::time::Duration;

/// Runs `step` every `period`, forever, the first time a period from now (what it would do was just done at start-up); a step that overruns delays the next instead of bunching ticks up.
pub async fn every<F, Fut>(period: Duration, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        step().await;
    }
}
