//! Push delivery without IO of its own: what a push carries, the [`PushGateway`] each channel (FCM, Huawei Push Kit…) implements, the retry policy, and the [`Sender`] that drains the outbox through an [`OutboxStore`].
//!
//! A push is a hint; the inbox is the record. So the sender trades nothing for durability: a delivery is claimed for a lease before it is sent and settled after, and one whose outcome was never recorded (a crash) is sent again when its lease runs out.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use gridwhistle_domain::Timestamp;
use tokio::sync::{Notify, Semaphore, mpsc};

use crate::Clock;
use crate::notify::NoticeKind;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The vendor channel a device's token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Fcm,
    Huawei,
    Xiaomi,
    Oppo,
    Vivo,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Fcm,
        Channel::Huawei,
        Channel::Xiaomi,
        Channel::Oppo,
        Channel::Vivo,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Fcm => "fcm",
            Channel::Huawei => "huawei",
            Channel::Xiaomi => "xiaomi",
            Channel::Oppo => "oppo",
            Channel::Vivo => "vivo",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// One push to one device. It carries no personal data: an opaque notification id, the subject's name and kind, and a generic title and body.
#[derive(Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// The device's token with its channel.
    pub token: String,
    /// The notification's id, as the inbox names it.
    pub notification: String,
    pub kind: NoticeKind,
    /// "cases/{case}" or "reports/{report}".
    pub subject: String,
    /// A repeat with the same key replaces the earlier push on the device instead of stacking (one per subject and stage).
    pub collapse_key: String,
    /// Wake the phone: grade A cases and escalations.
    pub urgent: bool,
    pub title: &'static str,
    pub body: &'static str,
}

impl fmt::Debug for PushMessage {
    // Tokens are credentials to a user's phone: never in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushMessage")
            .field("token", &"<redacted>")
            .field("notification", &self.notification)
            .field("kind", &self.kind)
            .field("subject", &self.subject)
            .field("collapse_key", &self.collapse_key)
            .field("urgent", &self.urgent)
            .finish_non_exhaustive()
    }
}

/// How one send went, as the channel answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Delivered,
    /// The token is no longer valid (FCM `UNREGISTERED` or 404): deactivate the device.
    Unregistered,
    /// The channel refused the message itself (FCM `INVALID_ARGUMENT`): retrying cannot help.
    Rejected {
        reason: String,
    },
    /// A transient failure (quota, 429, 5xx, timeout): try again, not before `after` when the channel said so.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
}

/// A push channel. Sending is the only IO the sender does, and it is done here.
pub trait PushGateway: Send + Sync + fmt::Debug {
    fn channel(&self) -> Channel;

    /// Sends one message; the gateway holds its own concurrency cap.
    fn send<'a>(&'a self, message: &'a PushMessage) -> BoxFuture<'a, SendOutcome>;
}

/// Exponential backoff with jitter, a cap, and a number of attempts after which a delivery is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub cap: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 2 s, 4 s, 8 s… capped at 5 min, 8 attempts: about 15 minutes of trying before the inbox alone must do.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(2),
            cap: Duration::from_secs(300),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// How long to wait after failed attempt number `attempts` (1 is the first), or `None` when the delivery is out of attempts.
    ///
    /// The wait is drawn in [base/2, base] from `seed` (so replicas retrying a burst do not stampede together) and is never shorter than the channel's `Retry-After`.
    pub fn backoff(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        seed: u64,
    ) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doublings = attempts.saturating_sub(1).min(30);
        let base = self.first.saturating_mul(1 << doublings).min(self.cap);
        let half = base / 2;
        // A draw in [0, spread] milliseconds; every u64 draw lies within a spread wider than u64.
        let draw = splitmix64(seed);
        let jitter = match u64::try_from(half.as_millis()) {
            Ok(spread) => spread.checked_add(1).map_or(draw, |range| draw % range),
            Err(_) => draw,
        };
        let wait = half + Duration::from_millis(jitter);
        Some(retry_after.map_or(wait, |after| wait.max(after)))
    }
}

/// A well-mixed 64-bit hash of `x` (splitmix64's finaliser).
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A stable seed from a delivery's id and attempt, so a retry's jitter needs no random source.
fn seed(id: &str, attempts: u32) -> u64 {
    id.bytes()
        .fold(u64::from(attempts), |h, b| splitmix64(h ^ u64::from(b)))
}

/// One claimed delivery: a notification to one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    /// The device's id.
    pub device: String,
    pub channel: Channel,
    /// Attempts before this one; 0 for a notification's first push to the device, which has no record yet.
    pub attempts: u32,
    pub message: PushMessage,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Sent,
    /// The device's token is invalid: the device is deactivated and the delivery dropped.
    TokenInvalid,
    /// The channel refused the message: dropped without retrying.
    Rejected {
        reason: String,
    },
    /// Queued again for `at`.
    Retry {
        at: Timestamp,
        reason: String,
    },
    /// Out of attempts: dead-lettered, for supervisors to see.
    Dead {
        reason: String,
    },
}

/// Storage as the sender needs it.
pub trait OutboxStore: Send + Sync + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Puts back this sender's claims from before a restart, so they are sent at once rather than after their lease.
    fn release_claims(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Claims deliveries due at `now` until `lease_until`, for devices on `channels`: retries, and up to `limit` notifications expanded into one delivery per active device of their recipients.
    ///
    /// A notification's first deliveries (`attempts == 0`) all come in one answer, and the notification stays claimed until [`settle`](Self::settle) names it finished. A notification created before `stale_before` is not pushed (the inbox has it), nor one whose deadline stage was met or cancelled since it was queued.
    fn take(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        stale_before: Timestamp,
        channels: &[Channel],
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Delivery>, Self::Error>> + Send;

    /// Records the outcome of attempts, in one transaction, and releases the `finished` notifications, whose first deliveries are now all recorded.
    fn settle(
        &self,
        settled: Vec<(Delivery, Settlement)>,
        finished: Vec<String>,
        now: Timestamp,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// When the earliest queued retry is due, if any.
    fn next_retry(&self) -> impl Future<Output = Result<Option<Timestamp>, Self::Error>> + Send;
}

/// How the sender works.
#[derive(Debug, Clone, Copy)]
pub struct SenderConfig {
    /// Deliveries claimed at once.
    pub batch: usize,
    /// Sends in flight at once, across channels.
    pub concurrency: usize,
    /// How long a claim lasts; a sender that died has its deliveries sent again after it.
    pub lease: Duration,
    /// Notifications older than this are left to the inbox.
    pub max_age: Duration,
    pub retry: RetryPolicy,
    /// How often an idle sender looks for work other replicas queued.
    pub poll: Duration,
    /// How long outcomes are gathered after the first before they are recorded: long enough to share a commit among hundreds at full speed, short against the lease.
    pub settle_wait: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            batch: 200,
            concurrency: 100,
            lease: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            retry: RetryPolicy::default(),
            poll: Duration::from_secs(2),
            settle_wait: Duration::from_millis(50),
        }
    }
}

/// What one drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    pub sent: u64,
    pub retried: u64,
    pub dropped: u64,
    pub dead: u64,
}

impl Drained {
    fn count(&mut self, settlement: &Settlement) {
        match settlement {
            Settlement::Sent => self.sent += 1,
            Settlement::Retry { .. } => self.retried += 1,
            Settlement::TokenInvalid | Settlement::Rejected { .. } => self.dropped += 1,
            Settlement::Dead { .. } => self.dead += 1,
        }
    }
}

/// Outcomes recorded in one transaction at most.
const SETTLE_BATCH: usize = 2_000;

/// Drains the outbox through the gateways.
#[derive(Debug)]
pub struct Sender<S> {
    store: S,
    gateways: HashMap<Channel, Arc<dyn PushGateway>>,
    clock: Arc<dyn Clock>,
    config: SenderConfig,
    wake: Arc<Notify>,
}

/// First deliveries claimed and not yet recorded, per notification: a notification is finished when its count reaches zero.
#[derive(Default)]
struct Outstanding(std::sync::Mutex<HashMap<String, usize>>);

impl Outstanding {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a claimed batch's first deliveries.
    fn claimed(&self, batch: &[Delivery]) {
        let mut counts = self.counts();
        for d in batch.iter().filter(|d| d.attempts == 0) {
            *counts.entry(d.message.notification.clone()).or_default() += 1;
        }
    }

    /// Counts off a batch's recorded first deliveries; answers the notifications now finished.
    fn recorded(&self, batch: &[(Delivery, SendOutcome)]) -> Vec<String> {
        let mut counts = self.counts();
        let mut finished = Vec::new();
        for (d, _) in batch.iter().filter(|(d, _)| d.attempts == 0) {
            if let Some(count) = counts.get_mut(&d.message.notification) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&d.message.notification);
                    finished.push(d.message.notification.clone());
                }
            }
        }
        finished
    }
}

impl<S: OutboxStore> Sender<S> {
    /// A sender over `gateways`; `wake` is notified when new notifications are committed.
    pub fn new(
        store: S,
        gateways: Vec<Arc<dyn PushGateway>>,
        clock: Arc<dyn Clock>,
        config: SenderConfig,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            gateways: gateways.into_iter().map(|g| (g.channel(), g)).collect(),
            clock,
            config,
            wake,
        }
    }

    fn channels(&self) -> Vec<Channel> {
        self.gateways.keys().copied().collect()
    }

    /// Sends everything due now, then returns: claims are taken while earlier sends are in flight and outcomes are recorded in batches as they arrive, so the channel is never idle waiting on the database.
    pub async fn run_due(&self) -> Result<Drained, S::Error> {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let (done, outcomes) = mpsc::unbounded_channel::<(Delivery, SendOutcome)>();
        // Claims run one batch ahead of the sends, so the channel never waits on the database: with 100 sends in flight, a batch in flight lasts a few milliseconds, a claim longer.
        let (claimed, ready) = mpsc::channel::<Vec<Delivery>>(1);
        // First deliveries not yet recorded, per notification: a notification is finished when its count reaches zero.
        let outstanding = Outstanding::default();
        let (claimed, (), drained) = tokio::join!(
            self.claim(claimed, &outstanding),
            self.dispatch(ready, done, permits),
            self.settle(outcomes, &outstanding),
        );
        claimed?;
        drained
    }

    /// Claims batches until none is left, handing each to the dispatcher.
    async fn claim(
        &self,
        claimed: mpsc::Sender<Vec<Delivery>>,
        outstanding: &Outstanding,
    ) -> Result<(), S::Error> {
        let channels = self.channels();
        loop {
            let now = self.clock.now();
            let batch = self
                .store
                .take(
                    now,
                    now.saturating_add(self.config.lease),
                    now.saturating_sub(self.config.max_age),
                    &channels,
                    self.config.batch,
                )
                .await?;
            outstanding.claimed(&batch);
            if batch.is_empty() || claimed.send(batch).await.is_err() {
                return Ok(());
            }
        }
    }

    /// Sends each claimed delivery under the concurrency cap. It owns the last sender of `done` besides the spawned sends, so the channel closes when the last send answers.
    async fn dispatch(
        &self,
        mut ready: mpsc::Receiver<Vec<Delivery>>,
        done: mpsc::UnboundedSender<(Delivery, SendOutcome)>,
        permits: Arc<Semaphore>,
    ) {
        while let Some(batch) = ready.recv().await {
            for delivery in batch {
                // Outcomes can no longer be recorded (the database failed): send nothing more, so the claims run out and are retried rather than sent twice.
                if done.is_closed() {
                    return;
                }
                let Some(gateway) = self.gateways.get(&delivery.channel).cloned() else {
                    continue;
                };
                // Closed only when dropped, which cannot happen while this future runs.
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let done = done.clone();
                tokio::spawn(async move {
                    let outcome = gateway.send(&delivery.message).await;
                    drop(permit);
                    let _ = done.send((delivery, outcome));
                });
            }
        }
    }

    /// Records outcomes in batches as they arrive. It owns the receiver: when recording fails, the dispatcher sees the channel closed and stops sending.
    async fn settle(
        &self,
        mut outcomes: mpsc::UnboundedReceiver<(Delivery, SendOutcome)>,
        outstanding: &Outstanding,
    ) -> Result<Drained, S::Error> {
        let mut drained = Drained::default();
        let mut batch = Vec::new();
        while let Some(first) = outcomes.recv().await {
            batch.push(first);
            self.gather(&mut outcomes, &mut batch).await;
            let now = self.clock.now();
            let finished = outstanding.recorded(&batch);
            let settled: Vec<_> = batch
                .drain(..)
                .map(|(delivery, outcome)| {
                    let settlement = self.settlement(&delivery, outcome, now);
                    drained.count(&settlement);
                    (delivery, settlement)
                })
                .collect();
            self.store.settle(settled, finished, now).await?;
        }
        Ok(drained)
    }

    /// Gathers what arrives shortly after the first outcome, so a commit records many outcomes, not one (one timer a batch).
    ///
    /// A zero wait records each outcome as it comes, with no timer at all: how many outcomes a timer that is already due lets in depends on when the runtime next turns its timer wheel.
    async fn gather(
        &self,
        outcomes: &mut mpsc::UnboundedReceiver<(Delivery, SendOutcome)>,
        batch: &mut Vec<(Delivery, SendOutcome)>,
    ) {
        if self.config.settle_wait.is_zero() {
            return;
        }
        let gathering = tokio::time::sleep(self.config.settle_wait);
        tokio::pin!(gathering);
        while batch.len() < SETTLE_BATCH {
            tokio::select! {
                biased;
                next = outcomes.recv() => match next {
                    Some(next) => batch.push(next),
                    None => break,
                },
                () = &mut gathering => break,
            }
        }
    }

    /// What an attempt's outcome makes of the delivery.
    fn settlement(&self, delivery: &Delivery, outcome: SendOutcome, now: Timestamp) -> Settlement {
        match outcome {
            SendOutcome::Delivered => Settlement::Sent,
            SendOutcome::Unregistered => Settlement::TokenInvalid,
            SendOutcome::Rejected { reason } => {
                tracing::warn!(delivery = %delivery.id, %reason, "push refused by the channel; not retried");
                Settlement::Rejected { reason }
            }
            SendOutcome::Retry { after, reason } => {
                let attempts = delivery.attempts + 1;
                match self
                    .config
                    .retry
                    .backoff(attempts, after, seed(&delivery.id, attempts))
                {
                    Some(wait) => Settlement::Retry {
                        at: now.saturating_add(wait),
                        reason,
                    },
                    None => {
                        tracing::warn!(delivery = %delivery.id, attempts, %reason, "push dead-lettered");
                        Settlement::Dead { reason }
                    }
                }
            }
        }
    }

    /// Drains the outbox until `stop` completes: after each drain it sleeps until the next retry is due, new notifications wake it, or the poll period passes (for other replicas' notifications).
    pub async fn run(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        if let Err(err) = self.store.release_claims().await {
            tracing::warn!(error = %err, "push sender could not release its earlier claims");
        }
        loop {
            let mut sleep = self.config.poll;
            match self.run_due().await {
                Ok(drained) if drained != Drained::default() => {
                    tracing::debug!(?drained, "push sender drained the outbox");
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "push sender pass failed; retrying shortly")
                }
            }
            match self.store.next_retry().await {
                Ok(Some(at)) => sleep = sleep.min(at.duration_since(self.clock.now())),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "push sender could not read its next retry")
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter_band_and_stops_at_the_cap() {
        let policy = RetryPolicy::default();
        for attempts in 1..policy.max_attempts {
            let base = policy
                .first
                .saturating_mul(1 << (attempts - 1))
                .min(policy.cap);
            for s in 0..50 {
                let wait = policy.backoff(attempts, None, s).unwrap();
                assert!(
                    wait >= base / 2 && wait <= base,
                    "{attempts}: {wait:?} vs {base:?}"
                );
            }
        }
        assert_eq!(policy.backoff(policy.max_attempts, None, 7), None);
    }

    #[test]
    fn backoff_never_comes_before_retry_after() {
        let policy = RetryPolicy::default();
        let wait = policy
            .backoff(1, Some(Duration::from_secs(120)), 3)
            .unwrap();
        assert_eq!(wait, Duration::from_secs(120));
    }

    #[test]
    fn jitter_spreads_a_burst_of_retries() {
        let policy = RetryPolicy::default();
        let waits: std::collections::HashSet<_> = (0..100)
            .map(|i| {
                policy
                    .backoff(3, None, seed(&format!("n{i}/d"), 3))
                    .unwrap()
            })
            .collect();
        assert!(waits.len() > 50, "{} distinct waits", waits.len());
    }

    /// Deliveries from memory; every attempt to record outcomes fails.
    #[derive(Debug)]
    struct BrokenRecords {
        queue: std::sync::Mutex<Vec<Delivery>>,
    }

    impl OutboxStore for BrokenRecords {
        type Error = std::io::Error;

        async fn release_claims(&self) -> Result<(), Self::Error> {
            Ok(())
        }

        async fn take(
            &self,
            _now: Timestamp,
            _lease_until: Timestamp,
            _stale_before: Timestamp,
            _channels: &[Channel],
            limit: usize,
        ) -> Result<Vec<Delivery>, Self::Error> {
            let mut queue = self.queue.lock().unwrap();
            let at = queue.len().saturating_sub(limit);
            Ok(queue.split_off(at))
        }

        async fn settle(
            &self,
            _settled: Vec<(Delivery, Settlement)>,
            _finished: Vec<String>,
            _now: Timestamp,
        ) -> Result<(), Self::Error> {
            Err(std::io::Error::other("the database is down"))
        }

        async fn next_retry(&self) -> Result<Option<Timestamp>, Self::Error> {
            Ok(None)
        }
    }

    /// Answers every push as delivered, after yielding, and counts them.
    #[derive(Debug, Default)]
    struct Counting(std::sync::atomic::AtomicUsize);

    impl PushGateway for Counting {
        fn channel(&self) -> Channel {
            Channel::Fcm
        }

        fn send<'a>(&'a self, _message: &'a PushMessage) -> BoxFuture<'a, SendOutcome> {
            Box::pin(async move {
                tokio::task::yield_now().await;
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                SendOutcome::Delivered
            })
        }
    }

    #[tokio::test]
    async fn a_sender_that_cannot_record_outcomes_stops_sending() {
        let queue = (0..1_000)
            .map(|n| Delivery {
                id: format!("n{n}/d"),
                device: "d".into(),
                channel: Channel::Fcm,
                attempts: 0,
                message: PushMessage {
                    token: "tok".into(),
                    notification: format!("n{n}"),
                    kind: NoticeKind::CaseAssigned,
                    subject: "cases/c".into(),
                    collapse_key: "c/case_assigned".into(),
                    urgent: false,
                    title: "t",
                    body: "b",
                },
            })
            .collect();
        let gateway = Arc::new(Counting::default());
        let sender = Sender::new(
            BrokenRecords {
                queue: std::sync::Mutex::new(queue),
            },
            vec![gateway.clone() as Arc<dyn PushGateway>],
            Arc::new(crate::ManualClock::new(Timestamp::from_unix_millis(0))),
            SenderConfig {
                batch: 10,
                concurrency: 2,
                // Record each outcome as it comes, so the first failure is met at once.
                settle_wait: Duration::ZERO,
                ..SenderConfig::default()
            },
            Arc::new(Notify::new()),
        );
        assert!(sender.run_due().await.is_err());
        let sent = gateway.0.load(std::sync::atomic::Ordering::SeqCst);
        // Only the sends already in flight (the concurrency) go out: with no gathering timer, nothing depends on when the runtime turns its timer wheel.
        assert!(
            sent <= 2,
            "{sent} of 1,000 pushes went out after the first record failed"
        );
    }

    #[test]
    fn a_message_never_prints_its_token() {
        let message = PushMessage {
            token: "secret-device-token".into(),
            notification: "n1".into(),
            kind: NoticeKind::Escalation,
            subject: "cases/c1".into(),
            collapse_key: "c1/report_in".into(),
            urgent: true,
            title: "t",
            body: "b",
        };
        assert!(!format!("{message:?}").contains("secret-device-token"));
    }

    #[test]
    fn every_channel_has_a_text_form_that_parses_back() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
    }
}
