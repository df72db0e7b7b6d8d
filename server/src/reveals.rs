//! The audit of parties' personal data shown unmasked (names, phones, ID numbers): who saw whose, when, for which case, through which call.
//!
//! Each gRPC call runs inside a collection scope ([`RevealAuditLayer`]); the conversions that unmask parties note each subject there ([`note`]), and the layer writes the call's notes to `party_reveals` once the handler has answered and before the answer leaves, together with those of the calls answering at the same time (one transaction and one commit for them all).
//! Should the write fail, the caller gets UNAVAILABLE instead of the data: nothing is shown that the audit does not hold.
//! A conversion outside any scope (a stream's later messages, a background task) is refused its note and keeps the parties masked.
//! Rows are kept for [`KEEP_FOR`], pruned hourly ([`RevealAudit::keep_pruned`]), and listed to admins (`AuditService`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use gridwhistle_dispatcher::Clock;
use gridwhistle_domain::{AccessError, Action, Actor, UserId};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, warn};

use crate::model::{NewReveal, RevealFilter, RevealRecord};
use crate::storage::{StorageError, Store};

/// How long a reveal is kept: the six months the issue asks as a floor, stretched to thirteen, so a year's audit and its review month are always at hand.
pub const KEEP_FOR: Duration = Duration::from_secs(400 * 24 * 3600);

/// How often the reveals past [`KEEP_FOR`] are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// One subject whose parties a call's answer shows unmasked to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Noted {
    user: UserId,
    subject: String,
}

type Notes = Arc<Mutex<Vec<Noted>>>;

tokio::task_local! {
    /// The notes of the call being handled.
    static NOTES: Notes;
}

/// Notes that this call's answer shows `subject`'s parties to `actor`; answers false outside a call whose notes are written, and the caller must then keep them masked.
pub(crate) fn note(actor: &Actor, subject: String) -> bool {
    NOTES
        .try_with(|notes| {
            notes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Noted {
                    user: actor.user_id,
                    subject,
                });
        })
        .is_ok()
}

/// Reads and prunes the reveal audit.
#[derive(Debug, Clone)]
pub struct RevealAudit {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl RevealAudit {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Up to `limit` reveals `filter` lets through, newest first, after the one with id `after`: admins only.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &RevealFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<RevealRecord>, RevealError> {
        actor.authorize(Action::ReadRevealAudit)?;
        Ok(self.store.reveals().list(filter, after, limit).await?)
    }

    /// Deletes, every hour, the reveals older than [`KEEP_FOR`]; runs until dropped.
    pub async fn keep_pruned(self) {
        crate::periodic::every(PRUNE_EVERY, || async {
            let before = self.clock.now().saturating_sub(KEEP_FOR);
            match self.store.reveals().prune(before).await {
                Ok(0) => {}
                Ok(deleted) => debug!(deleted, "reveals past their keeping time deleted"),
                Err(err) => warn!(error = %err, "reveals past their keeping time were not deleted"),
            }
        })
        .await;
    }
}

/// Why the audit could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum RevealError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The most calls whose rows one write takes.
const CALLS_PER_WRITE: usize = 512;

/// One call's rows, and where to say whether they were written.
struct Pending {
    reveals: Vec<NewReveal>,
    written: oneshot::Sender<bool>,
}

/// Writes the rows of calls that answer at once together, as the store's group-commit writer does for new reports: the rows queued while one write runs go in the next, in one transaction and one commit.
#[derive(Debug, Clone)]
struct RevealWriter {
    queue: mpsc::Sender<Pending>,
}

impl RevealWriter {
    /// Starts the task that writes; it ends when the last handle is dropped.
    fn spawn(store: Store) -> Self {
        let (queue, mut pending) = mpsc::channel::<Pending>(CALLS_PER_WRITE * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(CALLS_PER_WRITE);
            while pending.recv_many(&mut batch, CALLS_PER_WRITE).await > 0 {
                let rows: Vec<NewReveal> = batch
                    .iter()
                    .flat_map(|p: &Pending| p.reveals.iter().cloned())
                    .collect();
                let written = match store.reveals().record(&rows).await {
                    Ok(()) => true,
                    Err(err) => {
                        error!(error = %err, calls = batch.len(), "the parties shown could not be audited");
                        false
                    }
                };
                for call in batch.drain(..) {
                    let _ = call.written.send(written);
                }
            }
        });
        Self { queue }
    }

    /// Writes `reveals` with whatever other calls' rows are queued; answers whether they were written.
    async fn write(&self, reveals: Vec<NewReveal>) -> bool {
        let (written, answer) = oneshot::channel();
        if self.queue.send(Pending { reveals, written }).await.is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }
}

/// Wraps the gRPC routes so each call collects the parties its answer unmasks, and writes them before the answer leaves.
#[derive(Debug, Clone)]
pub struct RevealAuditLayer {
    writer: RevealWriter,
    clock: Arc<dyn Clock>,
}

impl RevealAuditLayer {
    /// Starts the layer's writer: call inside the runtime that serves.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            writer: RevealWriter::spawn(store),
            clock,
        }
    }
}

impl<S> tower::Layer<S> for RevealAuditLayer {
    type Service = RevealAuditService<S>;

    fn layer(&self, inner: S) -> RevealAuditService<S> {
        RevealAuditService {
            inner,
            writer: self.writer.clone(),
            clock: self.clock.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RevealAuditService<S> {
    inner: S,
    writer: RevealWriter,
    clock: Arc<dyn Clock>,
}

impl<S, B> tower::Service<http::Request<B>> for RevealAuditService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let request_id = request
            .headers()
            .get(&crate::access::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let notes = Notes::default();
        // A unary handler runs to its answer inside this scope; a stream's later messages are made outside it, and so stay masked.
        let future = NOTES.scope(notes.clone(), self.inner.call(request));
        let writer = self.writer.clone();
        let clock = self.clock.clone();
        Box::pin(async move {
            let response = future.await?;
            let noted = std::mem::take(&mut *notes.lock().unwrap_or_else(PoisonError::into_inner));
            if noted.is_empty() {
                return Ok(response);
            }
            let at = clock.now();
            let reveals: Vec<NewReveal> = noted
                .into_iter()
                .map(|n| NewReveal {
                    user: n.user,
                    subject: n.subject,
                    method: method.clone(),
                    request_id: request_id.clone(),
                    at,
                })
                .collect();
            if writer.write(reveals).await {
                return Ok(response);
            }
            warn!(%method, "the answer is withheld: the parties it shows could not be audited");
            Ok(tonic::Status::unavailable(
                "the audit of personal data could not be written; try again",
            )
            .into_http())
        })
    }
}
