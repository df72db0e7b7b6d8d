//! Stored time-limit policy versions (each import whole, as its JSON file) and the working calendar's years.

use gridwhistle_domain::{ReportId, Timestamp};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tracing::instrument;

use super::UpdateError;
use super::batch::decide_and_write;
use super::codec::corrupt;
use super::entity::{calendar_year, deadline, time_limit_version};
use super::reports::lock_reports;
use super::{StorageError, TimeLimitRepo};
use crate::model::{DeadlineState, Effects, ReportRecord};

impl TimeLimitRepo<'_> {
    /// Stores a new version of the policies; returns its number.
    #[instrument(skip_all)]
    pub async fn import_time_limits(
        self,
        body: String,
        now: Timestamp,
    ) -> Result<i64, StorageError> {
        let inserted = time_limit_version::Entity::insert(time_limit_version::ActiveModel {
            body: Set(body),
            created_at_ms: Set(now.as_unix_millis()),
            ..Default::default()
        })
        .exec(&self.store.db)
        .await?;
        Ok(inserted.last_insert_id)
    }

    /// The newest version and its file, if any was imported.
    pub async fn current_time_limits(self) -> Result<Option<(i64, String)>, StorageError> {
        Ok(time_limit_version::Entity::find()
            .order_by_desc(time_limit_version::Column::Version)
            .one(&self.store.db)
            .await?
            .map(|m| (m.version, m.body)))
    }

    /// Every version and its file, oldest first.
    pub async fn all_time_limits(self) -> Result<Vec<(i64, String)>, StorageError> {
        self.time_limits_after(0).await
    }

    /// The versions newer than `version`, oldest first.
    pub async fn time_limits_after(self, version: i64) -> Result<Vec<(i64, String)>, StorageError> {
        Ok(time_limit_version::Entity::find()
            .filter(time_limit_version::Column::Version.gt(version))
            .order_by_asc(time_limit_version::Column::Version)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|m| (m.version, m.body))
            .collect())
    }

    /// One version's file.
    pub async fn version(self, version: i64) -> Result<Option<String>, StorageError> {
        Ok(time_limit_version::Entity::find_by_id(version)
            .one(&self.store.db)
            .await?
            .map(|m| m.body))
    }

    /// Every stored calendar year as its JSON file, in order.
    pub async fn calendar_years(self) -> Result<Vec<(i32, String)>, StorageError> {
        Ok(calendar_year::Entity::find()
            .order_by_asc(calendar_year::Column::Year)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|m| (m.year, m.body))
            .collect())
    }

    /// Stores `year` as `write` says and, when it was written, counts again every pending deadline marked provisional, in the same transaction.
    ///
    /// `recount` sees each case with such a deadline, locked, and decides its changes (moved deadlines and their timeline events); returns how many cases it changed.
    #[instrument(skip_all, fields(year))]
    pub async fn put_calendar_year_recounting<E, F>(
        self,
        year: i32,
        body: String,
        write: YearWrite,
        now: Timestamp,
        recount: F,
    ) -> Result<usize, UpdateError<E>>
    where
        F: FnOnce(&[ReportRecord]) -> Result<Vec<(ReportId, Effects)>, E> + Send + 'static,
        E: Send + 'static,
    {
        let backend = self.store.backend;
        let rollups = self.store.rollups();
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    if upsert_year(txn, year, body, write, now).await? == 0 {
                        return Ok(0);
                    }
                    let ids: Vec<ReportId> = deadline::Entity::find()
                        .select_only()
                        .column(deadline::Column::ReportId)
                        .distinct()
                        .filter(deadline::Column::Provisional.eq(true))
                        .filter(deadline::Column::State.eq(DeadlineState::Pending.as_str()))
                        // A ledger step's due time is the plan's, never counted on the calendar.
                        .filter(deadline::Column::ReportId.is_not_null())
                        .into_tuple::<String>()
                        .all(txn)
                        .await
                        .map_err(StorageError::from)?
                        .iter()
                        .map(|id| ReportId::parse(id).map_err(|e| corrupt("deadline", e)))
                        .collect::<Result<_, _>>()?;
                    if ids.is_empty() {
                        return Ok(0);
                    }
                    let records = lock_reports(txn, backend, &ids).await?;
                    decide_and_write(txn, rollups, &records, recount, now).await
                })
            })
            .await
    }
}

/// How a calendar year is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YearWrite {
    /// An admin's year: it replaces what was stored.
    Replace,
    /// A year shipped with Gridwhistle: stored only where the year is missing, so an admin's own version is kept.
    IfMissing,
}

/// Writes one year; returns how many rows it wrote (0 when `IfMissing` found the year stored).
async fn upsert_year(
    db: &impl ConnectionTrait,
    year: i32,
    body: String,
    write: YearWrite,
    now: Timestamp,
) -> Result<u64, StorageError> {
    let mut on_conflict = OnConflict::column(calendar_year::Column::Year);
    match write {
        YearWrite::Replace => {
            on_conflict.update_columns([
                calendar_year::Column::Body,
                calendar_year::Column::UpdatedAtMs,
            ]);
        }
        YearWrite::IfMissing => {
            on_conflict.do_nothing();
        }
    }
    calendar_year::Entity::insert(calendar_year::ActiveModel {
        year: Set(year),
        body: Set(body),
        updated_at_ms: Set(now.as_unix_millis()),
    })
    .on_conflict(on_conflict)
    .exec_without_returning(db)
    .await
    .map_err(StorageError::from)
}
