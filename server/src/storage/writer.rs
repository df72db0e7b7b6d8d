//! Write transactions: on SQLite one writer task runs them in batches, each under its own savepoint, and commits (fsyncs) a batch once; on PostgreSQL each runs in its own transaction.
//!
//! Group commit is what lets SQLite acknowledge thousands of durable writes a second: the fsync of one commit is shared by every write that queued while the previous batch was committing.
//! A caller is answered only after the commit that holds its write succeeded, so nothing acknowledged can be lost.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::warn;

use super::StorageError;

pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Delivers a job's answer once its batch's commit is known: `None` when it committed.
type Finish = Box<dyn FnOnce(Option<&DbErr>) + Send>;
type Job = Box<dyn for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Finish> + Send>;

/// Most writes one commit carries; bounds the latency a batch adds to its first write.
const MAX_BATCH: usize = 512;

fn erase<F>(f: F) -> Job
where
    F: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Finish> + Send + 'static,
{
    Box::new(f)
}

/// The single SQLite writer.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on `db`; it stops when the last handle is dropped.
    pub(super) fn spawn(db: DatabaseConnection, committed: Arc<watch::Sender<u64>>) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(db, rx, committed));
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
            .send(job)
            .await
            .map_err(|_| E::from(StorageError::WriterStopped))?;
        answer
            .await
            .map_err(|_| E::from(StorageError::WriterStopped))?
    }
}

async fn run(
    db: DatabaseConnection,
    mut jobs: mpsc::Receiver<Job>,
    committed: Arc<watch::Sender<u64>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let txn = match begin_immediate(&db).await {
            Ok(txn) => txn,
            Err(err) => {
                // Dropping the jobs drops their reply channels: each caller hears the write failed.
                warn!(error = %err, writes = batch.len(), "cannot begin a write batch");
                batch.clear();
                continue;
            }
        };
        let mut finishes = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            finishes.push(job(&txn).await);
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

/// Begins a transaction that holds SQLite's write lock from its first statement, so no write of the batch can meet a busy database half-way.
async fn begin_immediate(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    txn.execute_unprepared("UPDATE import_locks SET imports = imports WHERE 1 = 0")
        .await?;
    Ok(txn)
}
