//! The deadline engine: fires each deadline's reminders and escalations at their time, never before, reading time from the injected clock.
//!
//! It keeps only the due-soon window in memory: an ordered map of the firings due within `window`, loaded from storage, in the style of mini-redis's expiry task.
//! A deadline started in this process wakes it (`Engine::wake`); other replicas' deadlines are picked up when the window is reloaded, at the latest every half window.
//! Each firing is one storage transaction that checks the deadline still stands where the engine saw it, so a firing takes effect once however many engines try it.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use gridwhistle_domain::{DeadlineStage, DeadlineSubject, DepartmentId, Timestamp};
use tokio::sync::Notify;

use crate::Clock;
use crate::calendar::{CalendarError, WorkingCalendar};
use crate::policy::{Firing, FiringKind, StagePolicy};

/// A deadline whose next firing falls inside the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: i64,
    /// The case, or the ledger entry's step, the deadline is about.
    pub subject: DeadlineSubject,
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

/// The firing at `due.next_step` of its stage's schedule under `stage` (the policy's stage for the deadline); `None` when there is no such stage or step (nothing is left to fire).
pub fn plan(
    due: &Due,
    stage: Option<&StagePolicy>,
    calendar: &WorkingCalendar,
) -> Result<Option<Plan>, CalendarError> {
    let Some(stage) = stage else {
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

    /// Pending deadlines whose next firing is at or before `until`, earliest first, at most `limit`, read at `now`; with `after`, only those after that (firing time, id) in that order, to read on past a window cut short.
    ///
    /// With several engines on one database, an implementation may claim the rows it returns for a lease, so the others skip them until the lease runs out.
    fn due_until(
        &self,
        now: Timestamp,
        until: Timestamp,
        after: Option<(Timestamp, i64)>,
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
/// Most transactions of firings one engine has in flight: one is prepared and checked while others commit.
pub const FIRES_IN_FLIGHT: usize = 3;
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
    /// The window between passes; a pass takes it out and puts it back, so no lock is held while storage is awaited.
    state: std::sync::Mutex<Window>,
}

/// The window taken out of its engine for one pass, put back when the pass ends however it ends.
///
/// A pass run beside another on the same engine (the engine's own loop runs one at a time) finds an empty window and reloads: storage checks every firing, so the cost is a read, never a second firing.
struct Held<'a> {
    slot: &'a std::sync::Mutex<Window>,
    window: Window,
}

impl<'a> Held<'a> {
    fn take(slot: &'a std::sync::Mutex<Window>) -> Self {
        let window = std::mem::take(&mut *lock(slot));
        Self { slot, window }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *lock(self.slot) = std::mem::take(&mut self.window);
    }
}

/// The window's lock; a panic elsewhere leaves a window that is still whole, so poisoning is ignored.
fn lock(slot: &std::sync::Mutex<Window>) -> std::sync::MutexGuard<'_, Window> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    /// Where the last load stopped when it reached its row limit: more may be due by `loaded_until` than it read.
    read_to: Option<(Timestamp, i64)>,
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
            state: std::sync::Mutex::new(Window::default()),
        }
    }

    /// Tells the engine a deadline was started or moved in this process, so it reloads before sleeping on.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Fires everything due at the clock's current time, up to [`FIRE_BATCH`] firings to a transaction and [`FIRES_IN_FLIGHT`] transactions at once; returns what it did. Never fires before a firing's time.
    ///
    /// While a burst drains a window that was cut short at the load's row limit, the next rows are loaded beside the firings, so loading never stalls them.
    pub async fn run_due(&self) -> Result<Pass, S::Error> {
        let mut held = Held::take(&self.state);
        let window = &mut held.window;
        let mut pass = Pass::default();
        // The first firings of a pass go out in a small transaction, so a lone or first-due firing is never kept waiting behind a large one; batches grow while more is due.
        let mut size = FIRST_BATCH;
        let mut firing: Vec<InFlight<'_, S::Error>> = Vec::new();
        let mut loading: Option<Loading<'_, S::Error>> = None;
        // Firings in flight, and those settled while a load was out: a load's snapshot may still show them where they were.
        let mut busy: HashSet<(i64, u32)> = HashSet::new();
        let mut failed = None;
        loop {
            let now = self.clock.now();
            if failed.is_none()
                && loading.is_none()
                && let Some(read) = self.needs_load(window, now)
            {
                busy.clear();
                busy.extend(firing.iter().flat_map(|f| f.keys.iter().copied()));
                let horizon = now.saturating_add(self.window);
                let after = match read {
                    Read::Whole => None,
                    Read::After(key) => Some(key),
                };
                let rows = self.store.due_until(now, horizon, after, self.batch);
                if firing.is_empty() {
                    // Nothing is in flight: what the load finds decides whether this pass goes on.
                    self.install(window, now, read, rows.await?, &busy);
                    continue;
                }
                loading = Some(Box::pin(async move { Done::Loaded(now, read, rows.await) }));
            }
            while failed.is_none() && firing.len() < FIRES_IN_FLIGHT {
                let batch = take_due(window, now, size);
                if batch.is_empty() {
                    break;
                }
                size = (size * 2).min(FIRE_BATCH);
                busy.extend(batch.iter().map(|d| (d.id, d.next_step)));
                firing.push(InFlight::start(&self.store, batch, now));
            }
            if firing.is_empty() && loading.is_none() {
                return failed.map_or(Ok(pass), Err);
            }
            match next_done(&mut firing, &mut loading).await {
                Done::Fired(batch, outcome) => {
                    if loading.is_none() {
                        for due in &batch {
                            busy.remove(&(due.id, due.next_step));
                        }
                    }
                    match outcome {
                        // Lateness counts until the firing took effect: its transaction committed.
                        Ok(outcomes) => {
                            settle(window, &mut pass, batch, outcomes, self.clock.now());
                        }
                        // What this batch held is read again at the next load.
                        Err(err) => {
                            failed.get_or_insert(err);
                        }
                    }
                }
                Done::Loaded(at, read, Ok(rows)) => {
                    if failed.is_none() {
                        self.install(window, at, read, rows, &busy);
                    }
                }
                Done::Loaded(_, _, Err(err)) => {
                    failed.get_or_insert(err);
                }
            }
        }
    }

    /// What to load now, if anything: the whole window when nothing in it is due and it is stale; the rows after it when it was cut short at the load's row limit and is running low.
    fn needs_load(&self, window: &Window, now: Timestamp) -> Option<Read> {
        let due_now = window
            .entries
            .first_key_value()
            .is_some_and(|(&(at, _), _)| at <= now);
        if !due_now {
            return self.stale(window, now).then_some(Read::Whole);
        }
        match window.read_to {
            Some(key) if window.entries.len() <= self.batch / 2 => Some(Read::After(key)),
            _ => None,
        }
    }

    /// Takes in what a load read at `at`: the rows it found but none of `busy`, beside what the window still holds up to where the load reached.
    fn install(
        &self,
        window: &mut Window,
        at: Timestamp,
        read: Read,
        rows: Vec<Due>,
        busy: &HashSet<(i64, u32)>,
    ) {
        let horizon = at.saturating_add(self.window);
        // A full load may have left rows unread: the window then ends at the last row read, and the rows after it are read before it runs dry.
        let read_to = if rows.len() == self.batch {
            rows.last().map(|d| (d.fire_at, d.id))
        } else {
            None
        };
        let until = read_to.map_or(horizon, |(at, _)| at);
        window.entries.retain(|&(fire_at, _), _| fire_at <= until);
        for due in rows {
            if !busy.contains(&(due.id, due.next_step)) {
                window.entries.insert((due.fire_at, due.id), due);
            }
        }
        window.loaded_until = Some(until);
        window.read_to = read_to;
        // Reading on does not look again at what is due before the window's end: only a whole load counts as one.
        if read == Read::Whole {
            window.loaded_at = Some(at);
        }
    }

    /// The next instant something in the window is due, or when the window must be reloaded.
    pub async fn next_wake(&self) -> Option<Timestamp> {
        let window = lock(&self.state);
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
        self.run_observed(stop, |_| ()).await;
    }

    /// [`Engine::run`], telling `observe` what each pass did and how many firings the window then holds (`None` for a pass that failed).
    pub async fn run_observed(
        &self,
        stop: impl Future<Output = ()>,
        observe: impl Fn(Option<(&Pass, usize)>),
    ) {
        tokio::pin!(stop);
        loop {
            let pass = self.run_due().await;
            observe(
                pass.as_ref()
                    .ok()
                    .map(|pass| (pass, lock(&self.state).entries.len())),
            );
            if let Err(err) = pass {
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
        let mut window = lock(&self.state);
        window.loaded_until = None;
        window.entries.clear();
    }

    fn stale(&self, window: &Window, now: Timestamp) -> bool {
        let reloaded_lately = window
            .loaded_at
            .is_some_and(|at| now < at.saturating_add(self.window / 2));
        !(reloaded_lately && window.loaded_until.is_some_and(|until| now < until))
    }
}

/// A future boxed to sit in a list beside others of its kind.
type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A batch's transaction in flight.
struct InFlight<'a, E> {
    keys: Vec<(i64, u32)>,
    /// Answers [`Done::Fired`].
    done: Boxed<'a, Done<E>>,
}

impl<'a, E> InFlight<'a, E> {
    fn start<S: DeadlineStore<Error = E>>(store: &'a S, batch: Vec<Due>, now: Timestamp) -> Self {
        Self {
            keys: batch.iter().map(|d| (d.id, d.next_step)).collect(),
            done: Box::pin(async move {
                let outcome = store.fire(&batch, now).await;
                Done::Fired(batch, outcome)
            }),
        }
    }
}

/// Which rows a load reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Everything due within the window.
    Whole,
    /// What is due after this (time, id), where a load cut short stopped.
    After((Timestamp, i64)),
}

/// A window load in flight; answers [`Done::Loaded`].
type Loading<'a, E> = Boxed<'a, Done<E>>;

/// A firing's transaction or a load, finished.
enum Done<E> {
    /// The batch, and how its firings went.
    Fired(Vec<Due>, Result<Vec<Fired>, E>),
    /// When a load read, which rows, and what it found.
    Loaded(Timestamp, Read, Result<Vec<Due>, E>),
}

/// Waits for the first of the firings or the load to finish.
async fn next_done<E>(
    firing: &mut Vec<InFlight<'_, E>>,
    loading: &mut Option<Loading<'_, E>>,
) -> Done<E> {
    std::future::poll_fn(|cx| {
        for i in 0..firing.len() {
            if let Poll::Ready(done) = firing[i].done.as_mut().poll(cx) {
                firing.remove(i);
                return Poll::Ready(done);
            }
        }
        if let Some(load) = loading.as_mut()
            && let Poll::Ready(done) = load.as_mut().poll(cx)
        {
            *loading = None;
            return Poll::Ready(done);
        }
        Poll::Pending
    })
    .await
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
        /// Per load, how many firings were in flight beside it.
        loads: Mutex<Vec<usize>>,
        in_flight: Mutex<usize>,
        /// Moved on by this much as each firing's transaction starts.
        clock: Mutex<Option<(Arc<ManualClock>, Duration)>>,
    }

    impl DeadlineStore for Arc<Memory> {
        type Error = std::convert::Infallible;

        async fn due_until(
            &self,
            _now: Timestamp,
            until: Timestamp,
            after: Option<(Timestamp, i64)>,
            limit: usize,
        ) -> Result<Vec<Due>, Self::Error> {
            let beside = *self.in_flight.lock().unwrap();
            self.loads.lock().unwrap().push(beside);
            let mut due: Vec<Due> = self
                .pending
                .lock()
                .unwrap()
                .iter()
                .filter(|d| d.fire_at <= until && after.is_none_or(|key| (d.fire_at, d.id) > key))
                .cloned()
                .collect();
            due.sort_by_key(|d| (d.fire_at, d.id));
            due.truncate(limit);
            Ok(due)
        }

        async fn fire(&self, batch: &[Due], now: Timestamp) -> Result<Vec<Fired>, Self::Error> {
            // In flight across one yield, as a transaction is while it commits.
            *self.in_flight.lock().unwrap() += batch.len();
            if let Some((clock, step)) = self.clock.lock().unwrap().as_ref() {
                clock.advance(*step);
            }
            tokio::task::yield_now().await;
            *self.in_flight.lock().unwrap() -= batch.len();
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
            subject: DeadlineSubject::Case(ReportId::generate()),
            department: DepartmentId::parse("street-a").unwrap(),
            stage: DeadlineStage::ReportIn,
            policy_version: 1,
            started_at: fire_at,
            due_at: fire_at,
            next_step: 0,
            fire_at,
        }
    }

    /// An engine over `memory` with a one-minute window, loading at most `batch` rows.
    fn engine_on(
        memory: &Arc<Memory>,
        clock: &Arc<ManualClock>,
        batch: usize,
    ) -> Engine<Arc<Memory>> {
        Engine::new(
            memory.clone(),
            clock.clone(),
            Duration::from_secs(60),
            batch,
            Arc::new(Notify::new()),
        )
    }

    #[tokio::test]
    async fn a_burst_fires_once_never_early_in_batches_that_grow_from_small_to_full() {
        let at = Timestamp::from_unix_millis(1_796_000_400_000);
        let memory = Arc::new(Memory::default());
        *memory.pending.lock().unwrap() = (0..5_000).map(|id| due(id, at)).collect();
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
            at.as_unix_millis() - 1,
        )));
        let engine = engine_on(&memory, &clock, 10_000);
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
        // 32 + 64 + … + 512 = 992, then full batches of 1,024 and the last 936, up to three transactions in flight at once.
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

    #[tokio::test]
    async fn a_burst_larger_than_a_load_is_read_on_beside_the_firings_and_fires_each_deadline_once()
    {
        let at = Timestamp::from_unix_millis(1_796_000_400_000);
        let memory = Arc::new(Memory::default());
        *memory.pending.lock().unwrap() = (0..20_000).map(|id| due(id, at)).collect();
        let clock = Arc::new(ManualClock::new(at));
        // A load reads at most 8,000 rows: the burst needs several.
        let engine = engine_on(&memory, &clock, 8_000);
        let pass = engine.run_due().await.unwrap();
        assert_eq!(
            (pass.fired, pass.stale),
            (20_000, 0),
            "no firing was handed over twice, though loads read rows still in flight"
        );
        assert!(memory.pending.lock().unwrap().is_empty());
        let loads = memory.loads.lock().unwrap().clone();
        assert!(loads.len() >= 3, "{loads:?}");
        assert!(
            loads.iter().any(|&beside| beside > 0),
            "a load went out beside firings: {loads:?}"
        );
        assert_eq!(engine.run_due().await.unwrap().fired, 0, "nothing is left");
    }

    #[tokio::test]
    async fn a_whole_load_beside_firings_in_flight_leaves_them_out() {
        let at = Timestamp::from_unix_millis(1_796_000_400_000);
        let memory = Arc::new(Memory::default());
        *memory.pending.lock().unwrap() = (0..3_000).map(|id| due(id, at)).collect();
        let clock = Arc::new(ManualClock::new(at));
        // Each transaction takes 31 s of the clock, so the window goes stale while the last ones are in flight, and is loaded whole beside them.
        *memory.clock.lock().unwrap() = Some((clock.clone(), Duration::from_secs(31)));
        let engine = engine_on(&memory, &clock, 10_000);
        let pass = engine.run_due().await.unwrap();
        assert_eq!(
            (pass.fired, pass.stale),
            (3_000, 0),
            "the rows in flight that the load read were not handed over again"
        );
        let loads = memory.loads.lock().unwrap().clone();
        assert!(
            loads.iter().any(|&beside| beside > 0),
            "a load went out beside firings: {loads:?}"
        );
    }
}
