//! Stored time-limit policy versions (each import whole, as its JSON file) and the working calendar's years.

use gridwhistle_domain::Timestamp;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tracing::instrument;

use super::entity::{calendar_year, time_limit_version};
use super::{StorageError, Store};

impl Store {
    /// Stores a new version of the policies; returns its number.
    #[instrument(skip_all)]
    pub async fn import_time_limits(
        &self,
        body: String,
        now: Timestamp,
    ) -> Result<i64, StorageError> {
        let inserted = time_limit_version::Entity::insert(time_limit_version::ActiveModel {
            body: Set(body),
            created_at_ms: Set(now.as_unix_millis()),
            ..Default::default()
        })
        .exec(&self.db)
        .await?;
        Ok(inserted.last_insert_id)
    }

    /// The newest version and its file, if any was imported.
    pub async fn current_time_limits(&self) -> Result<Option<(i64, String)>, StorageError> {
        Ok(time_limit_version::Entity::find()
            .order_by_desc(time_limit_version::Column::Version)
            .one(&self.db)
            .await?
            .map(|m| (m.version, m.body)))
    }

    /// Every version and its file, oldest first.
    pub async fn all_time_limits(&self) -> Result<Vec<(i64, String)>, StorageError> {
        self.time_limits_after(0).await
    }

    /// The versions newer than `version`, oldest first.
    pub async fn time_limits_after(
        &self,
        version: i64,
    ) -> Result<Vec<(i64, String)>, StorageError> {
        Ok(time_limit_version::Entity::find()
            .filter(time_limit_version::Column::Version.gt(version))
            .order_by_asc(time_limit_version::Column::Version)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (m.version, m.body))
            .collect())
    }

    /// One version's file.
    pub async fn time_limits(&self, version: i64) -> Result<Option<String>, StorageError> {
        Ok(time_limit_version::Entity::find_by_id(version)
            .one(&self.db)
            .await?
            .map(|m| m.body))
    }

    /// Every stored calendar year as its JSON file, in order.
    pub async fn calendar_years(&self) -> Result<Vec<(i32, String)>, StorageError> {
        Ok(calendar_year::Entity::find()
            .order_by_asc(calendar_year::Column::Year)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (m.year, m.body))
            .collect())
    }

    /// Stores `year`, replacing what was stored for it when `replace`, else only when it is missing.
    #[instrument(skip_all, fields(year))]
    pub async fn put_calendar_year(
        &self,
        year: i32,
        body: String,
        replace: bool,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        let mut on_conflict = OnConflict::column(calendar_year::Column::Year);
        if replace {
            on_conflict.update_columns([
                calendar_year::Column::Body,
                calendar_year::Column::UpdatedAtMs,
            ]);
        } else {
            on_conflict.do_nothing();
        }
        calendar_year::Entity::insert(calendar_year::ActiveModel {
            year: Set(year),
            body: Set(body),
            updated_at_ms: Set(now.as_unix_millis()),
        })
        .on_conflict(on_conflict)
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }
}
