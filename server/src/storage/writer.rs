//! The group-commit writer: one task per process takes the writes queued while its previous commit ran, applies them in one transaction and commits (fsyncs) once.
//!
//! On SQLite every write goes through it, each under its own savepoint, since SQLite has one writer anyway.
//! New reports go through it on both databases, and a batch of them is filed with one multi-row insert for the reports and one for their events; on PostgreSQL other writes run in their own transactions beside it.
//! Group commit is what lets the server acknowledge thousands of durable writes a second: the fsync of one commit is shared by every write that queued while the previous batch was committing.
//! A caller is answered only after the commit that holds its write succeeded, so nothing acknowledged can be lost.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use gridwhistle_domain::Timestamp;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::warn;

use super::StorageError;
use super::cases::{CreateOutcome, NewReport, file_reports};

pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Delivers a job's answer once its batch's commit is known: `None` when it committed.
type Finish = Box<dyn FnOnce(Option<&DbErr>) + Send>;
type Run = Box<dyn for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Finish> + Send>;

/// A report to file, with its filing time and its caller's answer.
struct Filing {
    new: NewReport,
    now: Timestamp,
    reply: oneshot::Sender<Result<CreateOutcome, StorageError>>,
}

enum Job {
    /// Any write, under its own savepoint.
    Run(Run),
    /// A new report, filed together with the batch's other new reports.
    File(Box<Filing>),
}

/// Most writes one commit carries; bounds the latency a batch adds to its first write.
const MAX_BATCH: usize = 512;

fn erase<F>(f: F) -> Run
where
    F: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Finish> + Send + 'static,
{
    Box::new(f)
}

/// The process's group-commit writer.
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
            .send(Job::Run(job))
            .await
            .map_err(|_| E::from(StorageError::WriterStopped))?;
        answer
            .await
            .map_err(|_| E::from(StorageError::WriterStopped))?
    }

    /// Queues a new report for the next batch and waits until its batch committed.
    pub(super) async fn file(
        &self,
        new: NewReport,
        now: Timestamp,
    ) -> Result<CreateOutcome, StorageError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::File(Box::new(Filing { new, now, reply })))
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        answer.await.map_err(|_| StorageError::WriterStopped)?
    }
}

async fn run(
    db: DatabaseConnection,
    mut jobs: mpsc::Receiver<Job>,
    committed: Arc<watch::Sender<u64>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut filings = Vec::new();
        let mut runs = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            match job {
                Job::File(filing) => filings.push(*filing),
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
            finishes.push(file_all(&txn, filings).await);
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

/// Files the batch's new reports together; when that fails, files them one by one so only the culprit fails.
async fn file_all(txn: &DatabaseTransaction, filings: Vec<Filing>) -> Finish {
    let (items, replies): (Vec<_>, Vec<_>) = filings
        .into_iter()
        .map(|f| ((f.new, f.now), f.reply))
        .unzip();
    let results: Vec<Result<CreateOutcome, StorageError>> = match file_in_savepoint(txn, &items)
        .await
    {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(err) if items.len() > 1 => {
            warn!(error = %err, reports = items.len(), "filing a batch failed; filing one by one");
            let mut results = Vec::with_capacity(items.len());
            for item in items.chunks(1) {
                results.push(
                    file_in_savepoint(txn, item)
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

async fn file_in_savepoint(
    txn: &DatabaseTransaction,
    items: &[(NewReport, Timestamp)],
) -> Result<Vec<CreateOutcome>, StorageError> {
    let savepoint = txn.begin().await?;
    match file_reports(&savepoint, items).await {
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
