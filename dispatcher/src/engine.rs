//! The deadline engine: fires each deadline's reminders and escalations at their time, never before, reading time from the injected clock.
//!
//! It keeps only the due-soon window in memory: an ordered map of the firings due within `window`, loaded from storage, in the style of mini-redis's expiry task.
//! A deadline started in this process wakes it (`Engine::wake`); other replicas' deadlines are picked up when the window is reloaded, at the latest every half window.
//! Each firing is one storage transaction that checks the deadline still stands where the engine saw it, so a firing takes effect once however many engines try it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gridwhistle_domain::{DeadlineStage, DepartmentId, ReportId, Timestamp};
use tokio::sync::Notify;

use crate::Clock;
use crate::calendar::{CalendarError, WorkingCalendar};
use crate::policy::{Firing, FiringKind, TimeLimitPolicy};

/// A deadline whose next firing falls inside the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: i64,
    pub report: ReportId,
    pub department: DepartmentId,
    pub stage: DeadlineStage,
    pub policy_version: i64,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
    /// Index of the firing due in the stage's schedule.
    pub next_step: u32,
    pub fire_at: Timestamp,
}

/// What one firing does, decided from the policy: the firing, where the schedule goes next, and the escalation level after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub firing: Firing,
    pub next_fire_at: Option<Timestamp>,
    pub escalation_level: u32,
}

/// The firing at `due.next_step` of its stage's schedule; `None` when the policy has no such step (nothing is left to fire).
pub fn plan(
    due: &Due,
    policy: Option<&TimeLimitPolicy>,
    calendar: &WorkingCalendar,
) -> Result<Option<Plan>, CalendarError> {
    let Some(stage) = policy.and_then(|p| p.stage(due.stage)) else {
        return Ok(None);
    };
    let firings = stage.firings(calendar, due.started_at, due.due_at)?;
    let step = due.next_step as usize;
    let Some(firing) = firings.get(step).copied() else {
        return Ok(None);
    };
    let escalation_level = firings[..=step]
        .iter()
        .filter(|f| matches!(f.kind, FiringKind::Escalation { .. }))
        .count() as u32;
    Ok(Some(Plan {
        firing,
        next_fire_at: firings.get(step + 1).map(|f| f.at),
        escalation_level,
    }))
}

/// Storage as the engine needs it.
pub trait DeadlineStore: Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Pending deadlines whose next firing is at or before `until`, earliest first, at most `limit`, read at `now`.
    ///
    /// With several engines on one database, an implementation may claim the rows it returns for a lease, so the others skip them until the lease runs out.
    fn due_until(
        &self,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Due>, Self::Error>> + Send;

    /// Fires each of `batch` whose deadline is still pending at the same step and time, in one transaction; answers one [`Fired`] per firing, in order.
    ///
    /// The batch holds at most one firing per deadline.
    fn fire(
        &self,
        batch: &[Due],
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Fired>, Self::Error>> + Send;
}

/// How a firing attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// Fired; the deadline's next firing, if any.
    Fired { next: Option<Timestamp> },
    /// The deadline was satisfied, cancelled or already fired (by another engine): nothing was written.
    Stale,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    pub fired: u64,
    pub stale: u64,
    /// How late each firing was, against its scheduled time.
    pub lateness: Vec<Duration>,
}

/// Most firings one transaction carries: large enough that a burst due at one instant costs few commits, small enough that one transaction stays short.
pub const FIRE_BATCH: usize = 1024;
/// The first transaction of a pass carries at most this many firings.
const FIRST_BATCH: usize = 32;

/// The engine; share it with `Arc` and run [`Engine::run`] on a task.
#[derive(Debug)]
pub struct Engine<S> {
    store: S,
    clock: Arc<dyn Clock>,
    window: Duration,
    batch: usize,
    wake: Arc<Notify>,
    state: tokio::sync::Mutex<Window>,
}

/// Takes up to `size` firings due at `now` from the window, earliest first.
fn take_due(window: &mut Window, now: Timestamp, size: usize) -> Vec<Due> {
    let mut batch = Vec::new();
    while batch.len() < size {
        match window.entries.first_entry() {
            Some(entry) if entry.key().0 <= now => batch.push(entry.remove()),
            _ => break,
        }
    }
    batch
}

/// Counts a batch's outcomes and puts each fired deadline's next firing back into the window when it falls inside it.
fn settle(
    window: &mut Window,
    pass: &mut Pass,
    batch: Vec<Due>,
    outcomes: Vec<Fired>,
    done: Timestamp,
) {
    for (due, outcome) in batch.into_iter().zip(outcomes) {
        match outcome {
            Fired::Fired { next } => {
                pass.fired += 1;
                pass.lateness.push(done.duration_since(due.fire_at));
                if let Some(next) = next
                    && window.loaded_until.is_some_and(|until| next <= until)
                {
                    let mut again = due;
                    again.next_step += 1;
                    again.fire_at = next;
                    window.entries.insert((next, again.id), again);
                }
            }
            Fired::Stale => pass.stale += 1,
        }
    }
}

#[derive(Debug, Default)]
struct Window {
    /// Firings due by `loaded_until`, by time then id.
    entries: BTreeMap<(Timestamp, i64), Due>,
    /// Everything due up to this instant is in `entries`; `None` before the first load or after a wake.
    loaded_until: Option<Timestamp>,
    /// When the window was last loaded, to reload at least every half window.
    loaded_at: Option<Timestamp>,
}

impl<S: DeadlineStore> Engine<S> {
    /// `window` is how far ahead firings are held in memory; `batch` how many rows one load reads at most; `wake` is notified by whoever starts or moves a deadline.
    pub fn new(
        store: S,
        clock: Arc<dyn Clock>,
        window: Duration,
        batch: usize,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            clock,
            window,
            batch: batch.max(1),
            wake,
            state: tokio::sync::Mutex::new(Window::default()),
        }
    }

    /// Tells the engine a deadline was started or moved in this process, so it reloads before sleeping on.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Fires everything due at the clock's current time, up to [`FIRE_BATCH`] firings to a transaction; returns what it did. Never fires before a firing's time.
    pub async fn run_due(&self) -> Result<Pass, S::Error> {
        let mut window = self.state.lock().await;
        let mut pass = Pass::default();
        // The first firings of a pass go out in a small transaction, so a lone or first-due firing is never kept waiting behind a large one; batches grow while more is due.
        let mut size = FIRST_BATCH;
        loop {
            let now = self.clock.now();
            let due_now = window
                .entries
                .first_key_value()
                .is_some_and(|(&(at, _), _)| at <= now);
            // What is due in memory fires first; the window is reloaded only when nothing in it is due.
            if !due_now && self.stale(&window, now) {
                self.load(&mut window, now).await?;
            }
            let batch = take_due(&mut window, now, size);
            if batch.is_empty() {
                return Ok(pass);
            }
            // At full size a second batch goes out beside the first: one is prepared and checked while the other commits.
            let beside = if size == FIRE_BATCH {
                take_due(&mut window, now, size)
            } else {
                Vec::new()
            };
            size = (size * 2).min(FIRE_BATCH);
            let (outcomes, beside_outcomes) = tokio::join!(self.store.fire(&batch, now), async {
                if beside.is_empty() {
                    Ok(Vec::new())
                } else {
                    self.store.fire(&beside, now).await
                }
            });
            // Lateness counts until the firing took effect: its transaction committed.
            let done = self.clock.now();
            settle(&mut window, &mut pass, batch, outcomes?, done);
            settle(&mut window, &mut pass, beside, beside_outcomes?, done);
        }
    }

    /// The next instant something in the window is due, or when the window must be reloaded.
    pub async fn next_wake(&self) -> Option<Timestamp> {
        let window = self.state.lock().await;
        let reload = window
            .loaded_at
            .map(|at| at.saturating_add(self.window / 2));
        let first = window.entries.first_key_value().map(|(&(at, _), _)| at);
        match (first, reload) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires on time until `stop` completes, sleeping between firings; a wake-up reloads the window.
    pub async fn run(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(err) = self.run_due().await {
                tracing::warn!(error = %err, "deadline engine pass failed; retrying shortly");
                self.forget().await;
                tokio::select! {
                    () = &mut stop => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
            let now = self.clock.now();
            let sleep = self
                .next_wake()
                .await
                .map_or(self.window / 2, |at| at.duration_since(now));
            tokio::select! {
                () = &mut stop => return,
                () = self.wake.notified() => self.forget().await,
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Drops the window so the next pass reloads it.
    pub async fn forget(&self) {
        let mut window = self.state.lock().await;
        window.loaded_until = None;
    }

    fn stale(&self, window: &Window, now: Timestamp) -> bool {
        let reloaded_lately = window
            .loaded_at
            .is_some_and(|at| now < at.saturating_add(self.window / 2));
        !(reloaded_lately && window.loaded_until.is_some_and(|until| now < until))
    }

    async fn load(&self, window: &mut Window, now: Timestamp) -> Result<(), S::Error> {
        let horizon = now.saturating_add(self.window);
        let rows = self.store.due_until(now, horizon, self.batch).await?;
        // A full batch may have left rows unread: the window then ends at the last row read, and is reloaded when that instant comes.
        window.loaded_until = Some(if rows.len() == self.batch {
            rows.last().map_or(horizon, |d| d.fire_at)
        } else {
            horizon
        });
        window.entries = rows.into_iter().map(|d| ((d.fire_at, d.id), d)).collect();
        window.loaded_at = Some(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use gridwhistle_domain::{DeadlineStage, DepartmentId, ReportId};

    use super::*;
    use crate::ManualClock;

    /// Deadlines in memory, each with one firing; records every batch it is handed.
    #[derive(Debug, Default)]
    struct Memory {
        pending: Mutex<Vec<Due>>,
        batches: Mutex<Vec<Vec<Due>>>,
    }

    impl DeadlineStore for Arc<Memory> {
        type Error = std::convert::Infallible;

        async fn due_until(
            &self,
            _now: Timestamp,
            until: Timestamp,
            limit: usize,
        ) -> Result<Vec<Due>, Self::Error> {
            let mut due: Vec<Due> = self
                .pending
                .lock()
                .unwrap()
                .iter()
                .filter(|d| d.fire_at <= until)
                .cloned()
                .collect();
            due.sort_by_key(|d| (d.fire_at, d.id));
            due.truncate(limit);
            Ok(due)
        }

        async fn fire(&self, batch: &[Due], now: Timestamp) -> Result<Vec<Fired>, Self::Error> {
            let mut pending = self.pending.lock().unwrap();
            let outcomes = batch
                .iter()
                .map(|due| {
                    assert!(due.fire_at <= now, "fired early: {due:?} at {now:?}");
                    match pending.iter().position(|p| p.id == due.id) {
                        Some(at) => {
                            pending.remove(at);
                            Fired::Fired { next: None }
                        }
                        None => Fired::Stale,
                    }
                })
                .collect();
            self.batches.lock().unwrap().push(batch.to_vec());
            Ok(outcomes)
        }
    }

    fn due(id: i64, fire_at: Timestamp) -> Due {
        Due {
            id,
            report: ReportId::generate(),
            department: DepartmentId::parse("street-a").unwrap(),
            stage: DeadlineStage::ReportIn,
            policy_version: 1,
            started_at: fire_at,
            due_at: fire_at,
            next_step: 0,
            fire_at,
        }
    }

    #[tokio::test]
    async fn a_burst_fires_once_never_early_in_batches_that_grow_from_small_to_two_side_by_side() {
        let at = Timestamp::from_unix_millis(1_796_000_400_000);
        let memory = Arc::new(Memory::default());
        *memory.pending.lock().unwrap() = (0..5_000).map(|id| due(id, at)).collect();
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
            at.as_unix_millis() - 1,
        )));
        let engine = Engine::new(
            memory.clone(),
            clock.clone(),
            Duration::from_secs(60),
            10_000,
            Arc::new(Notify::new()),
        );
        assert_eq!(
            engine.run_due().await.unwrap().fired,
            0,
            "one millisecond early"
        );
        clock.advance(Duration::from_millis(1));
        let pass = engine.run_due().await.unwrap();
        assert_eq!((pass.fired, pass.stale), (5_000, 0));
        assert!(memory.pending.lock().unwrap().is_empty());
        let sizes: Vec<usize> = memory
            .batches
            .lock()
            .unwrap()
            .iter()
            .map(Vec::len)
            .collect();
        // 32 + 64 + … + 512 = 992; then full batches go out in pairs, side by side: 1,024 and 1,024, then 1,024 and the last 936.
        assert_eq!(sizes, [32, 64, 128, 256, 512, 1024, 1024, 1024, 936]);
        let mut ids: Vec<i64> = memory
            .batches
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .map(|d| d.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 5_000, "each deadline was handed over once");
        assert_eq!(engine.run_due().await.unwrap().fired, 0, "nothing is left");
    }
}
