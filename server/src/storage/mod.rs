//! Durable storage on SQLite (the embedded default) or PostgreSQL through one set of sea-orm entities and migrations.
//!
//! The [`Store`] is the connection; each aggregate has a repository borrowed from it (`store.reports()`, `store.deadlines()`, …), a `Copy` handle with the aggregate's queries and nothing else.
//! Entities stay private here; callers see the records of `crate::model` or of their repository and [`StorageError`], never a table shape or a `DbErr`.

mod batch;
mod blobs;
mod boundaries;
mod codec;
mod deadlines;
mod devices;
mod directory;
mod entity;
mod error;
mod gauges;
mod interviews;
mod lease;
mod ledger;
mod letters;
mod logins;
mod meetings;
mod migration;
mod multirow;
mod outbox;
mod records;
mod reports;
mod requests;
mod reveals;
mod rollups;
mod schedule;
mod sql;
mod stats;
mod time_limits;
mod timeline;
mod uploads;
mod writer;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tracing::instrument;

pub use boundaries::{
    BoundaryGeneration, BoundaryKind, BoundarySet, NewBoundaryImport, RoutingVersions,
};
pub use deadlines::FiringTarget;
pub use devices::{DeviceRecord, InboxEntry, InboxPosition, InboxScope, NewDevice};
pub use error::{StorageError, UpdateError};
pub use gauges::{GaugeReading, ShareCount};
pub use lease::Lease;
pub use ledger::{StepFiring, StepFiringTarget};
pub use outbox::DeadLetterRecord;
pub use records::{
    Department, DepartmentPatch, Grid, NewDepartment, NewGrid, NewRefreshToken, NewUser,
    RefreshTokenRecord, User, UserCredentials, UserPatch,
};
pub use reports::FactsDiffer;
pub use stats::RollupRebuild;
pub use time_limits::YearWrite;
pub use uploads::{AttachmentRecord, UploadRecord};
use writer::BoxFuture;

/// Which database engine a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Tuning of the connection pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub busy_timeout: Duration,
    /// A statement that takes longer is logged (WARN, target `sqlx::query`) with its duration and its SQL text, which holds placeholders, never values; `None` logs none.
    pub slow_statement: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            slow_statement: Some(Duration::from_millis(500)),
        }
    }
}

// An arbitrary constant that names Gridwhistle's migration lock among PostgreSQL advisory locks.
const MIGRATION_LOCK_KEY: i64 = 0x6772_6964_7768_6973;

/// The handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    backend: Backend,
    /// The group-commit writer: every write on SQLite, new reports on both databases.
    writer: writer::Writer<reports::Filing>,
    /// Ticks after each committed write, to wake this process's streams.
    committed: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// Whether changes keep the figures' daily rollups; always, but for [`Store::without_rollups`].
    keep_rollups: bool,
}

impl Store {
    /// Opens `url`: `sqlite://path?mode=rwc` or `postgres://…`.
    ///
    /// SQLite runs in WAL mode with `synchronous=FULL`, so a committed transaction survives power loss, with foreign keys on and a busy timeout.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, StorageError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StorageError::UnsupportedUrl);
        };
        let mut options = ConnectOptions::new(url.to_owned());
        options.max_connections(settings.max_connections);
        match settings.slow_statement {
            Some(threshold) => options
                .sqlx_logging(true)
                .sqlx_logging_level(log::LevelFilter::Off)
                .sqlx_slow_statements_logging_settings(log::LevelFilter::Warn, threshold),
            None => options.sqlx_logging(false),
        };
        let busy_timeout = settings.busy_timeout;
        options.map_sqlx_sqlite_opts(move |sqlite| {
            sqlite
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(busy_timeout)
        });
        let db = Database::connect(options)
            .await
            .map_err(StorageError::Connect)?;
        let committed = std::sync::Arc::new(tokio::sync::watch::Sender::new(0));
        let writer = writer::Writer::spawn(db.clone(), committed.clone());
        Ok(Self {
            db,
            backend,
            writer,
            committed,
            keep_rollups: true,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// This store with changes that leave the figures' daily rollups alone, for the benchmark that measures what keeping them costs a step.
    ///
    /// The rollups then fall behind the facts, and the figures read from them go wrong until `StatsRepo::rebuild_rollups`: the server never does this.
    pub fn without_rollups(&self) -> Self {
        Self {
            keep_rollups: false,
            ..self.clone()
        }
    }

    fn rollups(&self) -> rollups::Rollups {
        rollups::Rollups {
            backend: self.backend,
            kept: self.keep_rollups,
        }
    }

    /// Applies pending migrations in one transaction; on PostgreSQL an advisory lock keeps replicas that start together from racing.
    #[instrument(skip_all)]
    pub async fn migrate(&self) -> Result<(), StorageError> {
        let txn = self.db.begin().await.map_err(StorageError::Migrate)?;
        if self.backend == Backend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK_KEY.into()],
            ))
            .await
            .map_err(StorageError::Migrate)?;
        }
        migration::Migrator::up(&txn, None)
            .await
            .map_err(StorageError::Migrate)?;
        txn.commit().await.map_err(StorageError::Migrate)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.db.ping().await.map_err(StorageError::Database)
    }

    pub async fn close(self) -> Result<(), StorageError> {
        self.db.close().await.map_err(StorageError::Database)
    }

    /// Runs `f` in a write transaction: through the group-commit writer on SQLite, in its own transaction on PostgreSQL; answers after the commit.
    pub(super) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        match self.backend {
            Backend::Sqlite => self.writer.write(f).await,
            Backend::Postgres => {
                use sea_orm::TransactionTrait;
                let txn = self.db.begin().await.map_err(StorageError::from)?;
                match f(&txn).await {
                    Ok(value) => {
                        txn.commit()
                            .await
                            .map_err(|e| StorageError::CommitFailed(e.to_string()))?;
                        self.committed.send_modify(|n| *n = n.wrapping_add(1));
                        Ok(value)
                    }
                    Err(err) => {
                        let _ = txn.rollback().await;
                        Err(err)
                    }
                }
            }
        }
    }
}

/// Declares each repository, a `Copy` handle borrowing the [`Store`], and its accessor.
macro_rules! repositories {
    ($($(#[$doc:meta])* $accessor:ident => $repo:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $repo<'a> {
                store: &'a Store,
            }
        )*

        impl Store {
            $(
                $(#[$doc])*
                pub fn $accessor(&self) -> $repo<'_> {
                    $repo { store: self }
                }
            )*
        }
    };
}

repositories! {
    /// Departments, grids, users, their sessions and the signing key.
    directory => DirectoryRepo;
    /// Boundary generations (grids, jurisdictions) and the category catalogue.
    boundaries => BoundaryRepo;
    /// Time-limit policy versions and working-calendar years.
    time_limits => TimeLimitRepo;
    /// Uploads in progress and sealed attachments.
    uploads => UploadRepo;
    /// Reports, the cases they became, assignments and extensions: filed once, changed under a version check.
    reports => ReportRepo;
    /// The case timeline and its commit-order feed.
    timeline => TimelineRepo;
    /// Deadline rows: claims of due ones, firings, overdue listings.
    deadlines => DeadlineRepo;
    /// Supervision letters.
    letters => LetterRepo;
    /// The ledger of long-standing cases: entries, their plans and timelines.
    ledger => LedgerRepo;
    /// Summoned interviews (约谈) of departments' responsible persons.
    interviews => InterviewRepo;
    /// Joint meetings (联席会议): agendas and decisions.
    meetings => MeetingRepo;
    /// Client request ids of the loop's steps, with their first answers.
    requests => RequestRepo;
    /// The notification outbox: claims, deliveries, dead letters.
    outbox => OutboxRepo;
    /// Devices and the in-app inbox.
    devices => DeviceRepo;
    /// The department, street, grid and category figures, counted over the shares' facts and the reports filed.
    stats => StatsRepo;
    /// What the operations gauges count: open and overdue shares, the outbox's backlog, the pool.
    gauges => GaugeRepo;
    /// Failed logins per login name and client address, and the locks they lead to.
    logins => LoginRepo;
    /// The attachment store's bytes, when they are kept in the database.
    blobs => BlobRepo;
    /// The audit of parties' personal data shown unmasked: who saw whose, when, through which call.
    reveals => RevealRepo;
}
