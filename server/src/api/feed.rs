//! Resumable event streams: a task per stream reads the event log after its cursor, in commit order, and sleeps until this process commits or a short poll finds another replica's events.

use std::future::Future;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::warn;

use super::closed_loop::STREAM_POLL;
use super::error::ApiError;
use super::stream::BoxStream;
use crate::feed::EventFeed;
use crate::model::{EventFilter, EventPosition, EventRecord};

const BATCH: u64 = 200;

/// Where a watch begins: after the client's cursor, or at the log's horizon when it sent none.
pub(crate) async fn start_at(feed: &EventFeed, cursor: &str) -> Result<EventPosition, ApiError> {
    if cursor.is_empty() {
        return Ok(feed.horizon().await?);
    }
    super::convert::only_field("cursor", super::closed_loop::decode_cursor(cursor))
}

/// Streams every event matching `filter` after `start`, converted by `map` (which may skip one by answering `None`), until the client leaves or the server stops.
pub(crate) fn follow<T, F, Fut>(
    feed: EventFeed,
    filter: EventFilter,
    start: EventPosition,
    stop: watch::Receiver<bool>,
    map: F,
) -> BoxStream<T>
where
    T: Send + 'static,
    F: Fn(EventRecord) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<T>, ApiError>> + Send,
{
    let map = std::sync::Arc::new(map);
    let reader = feed.clone();
    let filter = std::sync::Arc::new(filter);
    follow_log(&feed, start, stop, move |position| {
        let (reader, filter, map) = (reader.clone(), filter.clone(), map.clone());
        async move {
            let batch = reader.events_after(&filter, position, BATCH).await?;
            let full = batch.len() as u64 == BATCH;
            let mut items = Vec::with_capacity(batch.len());
            for event in batch {
                let at = event.position;
                items.push((at, map(event).await?));
            }
            Ok(Page { items, full })
        }
    })
}

/// One read of a log after a position: each entry with its position (`None` to skip it on the stream), and whether the read was cut short.
pub(crate) struct Page<P, T> {
    pub(crate) items: Vec<(P, Option<T>)>,
    pub(crate) full: bool,
}

/// Streams a log after `start`, reading pages with `read`, until the client leaves or the server stops: it reads again after each commit of this process, and polls for other replicas' writes.
pub(crate) fn follow_log<P, T, F, Fut>(
    feed: &EventFeed,
    start: P,
    mut stop: watch::Receiver<bool>,
    read: F,
) -> BoxStream<T>
where
    P: Clone + Send + 'static,
    T: Send + 'static,
    F: Fn(P) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<P, T>, ApiError>> + Send,
{
    let (tx, rx) = mpsc::channel::<Result<T, Status>>(64);
    let mut commits = feed.subscribe_commits();
    tokio::spawn(async move {
        let mut position = start;
        loop {
            if *stop.borrow() {
                return;
            }
            let page = match read(position.clone()).await {
                Ok(page) => page,
                Err(err) => {
                    warn!(error = %err, "stream read failed");
                    let _ = tx.send(Err(err.into())).await;
                    return;
                }
            };
            for (at, item) in page.items {
                position = at;
                if let Some(item) = item
                    && tx.send(Ok(item)).await.is_err()
                {
                    return;
                }
            }
            if page.full {
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
