//! Resumable event streams: a task per stream reads the event log after its cursor, in commit order, and sleeps until this process commits or a short poll finds another replica's events.

use std::future::Future;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::warn;

use super::closed_loop::STREAM_POLL;
use super::error::ApiError;
use super::pending::BoxStream;
use crate::storage::{EventFilter, EventPosition, EventRecord, Store};

const BATCH: u64 = 200;

/// Where a watch begins: after the client's cursor, or at the log's horizon when it sent none.
pub(crate) async fn start_at(store: &Store, cursor: &str) -> Result<EventPosition, ApiError> {
    if cursor.is_empty() {
        return Ok(store.event_horizon().await?);
    }
    super::convert::only_field("cursor", super::closed_loop::decode_cursor(cursor))
}

/// Streams every event matching `filter` after `start`, converted by `map` (which may skip one by answering `None`), until the client leaves or the server stops.
pub(crate) fn follow<T, F, Fut>(
    store: Store,
    filter: EventFilter,
    start: EventPosition,
    mut stop: watch::Receiver<bool>,
    map: F,
) -> BoxStream<T>
where
    T: Send + 'static,
    F: Fn(EventRecord) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Option<T>, ApiError>> + Send,
{
    let (tx, rx) = mpsc::channel::<Result<T, Status>>(64);
    let mut commits = store.subscribe_commits();
    tokio::spawn(async move {
        let mut position = start;
        loop {
            if *stop.borrow() {
                return;
            }
            let batch = match store.events_after(&filter, position, BATCH).await {
                Ok(batch) => batch,
                Err(err) => {
                    warn!(error = %err, "event stream read failed");
                    let _ = tx.send(Err(ApiError::from(err).into())).await;
                    return;
                }
            };
            let full = batch.len() as u64 == BATCH;
            for event in batch {
                position = event.position;
                match map(event).await {
                    Ok(Some(item)) => {
                        if tx.send(Ok(item)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(err) => {
                        let _ = tx.send(Err(err.into())).await;
                        return;
                    }
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = commits.changed() => {}
                () = tokio::time::sleep(STREAM_POLL) => {}
                _ = stop.changed() => {}
                () = tx.closed() => return,
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}
