//! The group-commit writer: one task per process takes the writes queued while its previous commit ran, applies them in one transaction and commits (fsyncs) once.
//!
//! On SQLite every write goes through it, each under its own savepoint, since SQLite has one writer anyway.
//! Writes that are cheaper together ([`Batched`]: new reports, filed with one multi-row insert for the reports and one for their events) go through it on both databases; on PostgreSQL other writes run in their own transactions beside it.
//! Group commit is what lets the server acknowledge thousands of durable writes a second: the fsync of one commit is shared by every write that queued while the previous batch was committing.
//! A caller is answered only after the commit that holds its write succeeded, so nothing acknowledged can be lost.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::warn;

use super::StorageError;

pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Writes that are cheaper together: the writer hands every item queued for one commit to [`Batched::write`] at once.
pub(super) trait Batched: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Output: Send + 'static;

    /// Writes `items` in `txn`, answering each in order; an error fails them all, and the writer then writes them one by one so only the culprit fails.
    fn write<'c>(
        txn: &'c DatabaseTransaction,
        items: &'c [Self::Item],
    ) -> BoxFuture<'c, Result<Vec<Self::Output>, StorageError>>;
}

/// Delivers a job's answer once its batch's commit is known: `None` when it committed.
type Finish = Box<dyn FnOnce(Option<&DbErr>) + Send>;
type Run = Box<dyn for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Finish> + Send>;

/// An item of a [`Batched`] write, with its caller's answer.
struct Item<B: Batched> {
    item: B::Item,
    reply: oneshot::Sender<Result<B::Output, StorageError>>,
}

enum Job<B: Batched> {
    /// Any write, under its own savepoint.
    Run(Run),
    /// An item written together with the batch's other items.
    Batch(Box<Item<B>>),
}

/// Most writes one commit carries; bounds the latency a batch adds to its first write.
const MAX_BATCH: usize = 512;

fn erase<F>(f: F) -> Run
where
    F: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Finish> + Send + 'static,
{
    Box::new(f)
}

/// The process's group-commit writer, batching the items of `B` together.
pub(super) struct Writer<B: Batched> {
    jobs: mpsc::Sender<Job<B>>,
}

impl<B: Batched> Clone for Writer<B> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

impl<B: Batched> std::fmt::Debug for Writer<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl<B: Batched> Writer<B> {
    /// Starts the writer task on `db`; it stops when the last handle is dropped.
    pub(super) fn spawn(db: DatabaseConnection, committed: Arc<watch::Sender<u64>>) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run::<B>(db, rx, committed));
        Self { jobs }
    }

    /// Queues `f` for the next batch and waits until its batch committed.
    pub(super) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, E>>();
        let job = erase(move |txn| {
            Box::pin(async move {
                let savepoint = match txn.begin().await {
                    Ok(savepoint) => savepoint,
                    Err(err) => {
                        let err = E::from(StorageError::Database(err));
                        return Box::new(move |_: Option<&DbErr>| {
                            let _ = reply.send(Err(err));
                        }) as Finish;
                    }
                };
                let result = f(&savepoint).await;
                let result = match result {
                    Ok(value) => match savepoint.commit().await {
                        Ok(()) => Ok(value),
                        Err(err) => Err(E::from(StorageError::Database(err))),
                    },
                    Err(err) => {
                        // The savepoint rolls back alone; the rest of the batch goes on.
                        if let Err(rollback) = savepoint.rollback().await {
                            warn!(error = %rollback, "savepoint rollback failed");
                        }
                        Err(err)
                    }
                };
                Box::new(move |commit: Option<&DbErr>| {
                    let answer = match (result, commit) {
                        (Ok(_), Some(err)) => {
                            Err(E::from(StorageError::CommitFailed(err.to_string())))
                        }
                        (result, _) => result,
                    };
                    let _ = reply.send(answer);
                }) as Finish
            })
        });
        self.jobs
            .send(Job::Run(job))
            .await
            .map_err(|_| E::from(StorageError::WriterStopped))?;
        answer
            .await
            .map_err(|_| E::from(StorageError::WriterStopped))?
    }

    /// Queues `item` for the next batch, written with the batch's other items, and waits until its batch committed.
    pub(super) async fn batch(&self, item: B::Item) -> Result<B::Output, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Batch(Box::new(Item { item, reply })))
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        answer.await.map_err(|_| StorageError::WriterStopped)?
    }
}

async fn run<B: Batched>(
    db: DatabaseConnection,
    mut jobs: mpsc::Receiver<Job<B>>,
    committed: Arc<watch::Sender<u64>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut filings = Vec::new();
        let mut runs = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            match job {
                Job::Batch(item) => filings.push(*item),
                Job::Run(run) => runs.push(run),
            }
        }
        let txn = match begin(&db).await {
            Ok(txn) => txn,
            Err(err) => {
                // Dropping the jobs drops their reply channels: each caller hears the write failed.
                warn!(error = %err, writes = runs.len() + filings.len(), "cannot begin a write batch");
                continue;
            }
        };
        let mut finishes = Vec::with_capacity(runs.len() + 1);
        if !filings.is_empty() {
            finishes.push(write_all::<B>(&txn, filings).await);
        }
        for run in runs {
            finishes.push(run(&txn).await);
        }
        let commit = txn.commit().await.err();
        match &commit {
            None => committed.send_modify(|n| *n = n.wrapping_add(1)),
            Some(err) => warn!(error = %err, writes = finishes.len(), "batch commit failed"),
        }
        for finish in finishes {
            finish(commit.as_ref());
        }
    }
}

/// Begins a batch's transaction; on SQLite it holds the write lock from its first statement, so no write of the batch can meet a busy database half-way.
async fn begin(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        txn.execute_unprepared("UPDATE import_locks SET imports = imports WHERE 1 = 0")
            .await?;
    }
    Ok(txn)
}

/// Writes the batch's items together; when that fails, writes them one by one so only the culprit fails.
async fn write_all<B: Batched>(txn: &DatabaseTransaction, queued: Vec<Item<B>>) -> Finish {
    let (items, replies): (Vec<_>, Vec<_>) = queued.into_iter().map(|q| (q.item, q.reply)).unzip();
    let results: Vec<Result<B::Output, StorageError>> = match in_savepoint::<B>(txn, &items).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(err) if items.len() > 1 => {
            warn!(error = %err, items = items.len(), "a batched write failed; writing one by one");
            let mut results = Vec::with_capacity(items.len());
            for item in items.chunks(1) {
                results.push(
                    in_savepoint::<B>(txn, item)
                        .await
                        .and_then(|mut outcome| outcome.pop().ok_or(StorageError::WriterStopped)),
                );
            }
            results
        }
        Err(err) => vec![Err(err)],
    };
    Box::new(move |commit: Option<&DbErr>| {
        for (reply, result) in replies.into_iter().zip(results) {
            let answer = match (result, commit) {
                (Ok(_), Some(err)) => Err(StorageError::CommitFailed(err.to_string())),
                (result, _) => result,
            };
            let _ = reply.send(answer);
        }
    })
}

async fn in_savepoint<B: Batched>(
    txn: &DatabaseTransaction,
    items: &[B::Item],
) -> Result<Vec<B::Output>, StorageError> {
    let savepoint = txn.begin().await?;
    match B::write(&savepoint, items).await {
        Ok(outcomes) => {
            savepoint.commit().await?;
            Ok(outcomes)
        }
        Err(err) => {
            if let Err(rollback) = savepoint.rollback().await {
                warn!(error = %rollback, "savepoint rollback failed");
            }
            Err(err)
        }
    }
}
