//! Uploads and attachments: the committed size of each upload (which only grows) and the complete files by digest.

use gridwhistle_domain::{AttachmentId, Timestamp, UploadId, UserId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::codec::{bigint, corrupt};
use super::entity::{attachment, upload};
use super::{StorageError, UploadRepo};

/// An upload as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: UploadId,
    pub owner: UserId,
    pub total_size: u64,
    pub sha256: AttachmentId,
    pub committed_size: u64,
    pub completed: bool,
    /// Why the upload was refused at its end; such an upload is finished and takes no more bytes.
    pub refused: Option<String>,
}

/// A complete file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub id: AttachmentId,
    pub content_type: String,
    pub size: u64,
    pub created_at: Timestamp,
}

fn size(value: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|e| corrupt("upload", e))
}

fn upload_from_model(m: upload::Model) -> Result<UploadRecord, StorageError> {
    Ok(UploadRecord {
        id: UploadId::parse(&m.id).map_err(|e| corrupt("upload", e))?,
        owner: UserId::parse(&m.owner_id).map_err(|e| corrupt("upload", e))?,
        total_size: size(m.total_size)?,
        sha256: AttachmentId::parse(&m.sha256).map_err(|e| corrupt("upload", e))?,
        committed_size: size(m.committed_size)?,
        completed: m.completed_at_ms.is_some(),
        refused: m.refused_reason,
    })
}

impl UploadRepo<'_> {
    pub async fn get_upload(self, id: UploadId) -> Result<Option<UploadRecord>, StorageError> {
        upload::Entity::find_by_id(id.to_string())
            .one(&self.store.db)
            .await?
            .map(upload_from_model)
            .transpose()
    }

    /// Records a new upload, or returns the one already recorded under its id.
    pub async fn start_upload(
        self,
        id: UploadId,
        owner: UserId,
        total_size: u64,
        sha256: AttachmentId,
        now: Timestamp,
    ) -> Result<UploadRecord, StorageError> {
        upload::Entity::insert(upload::ActiveModel {
            id: Set(id.to_string()),
            owner_id: Set(owner.to_string()),
            total_size: Set(bigint("total_size", total_size)?),
            sha256: Set(sha256.as_str().to_owned()),
            committed_size: Set(0),
            created_at_ms: Set(now.as_unix_millis()),
            completed_at_ms: Set(None),
            refused_reason: Set(None),
        })
        .on_conflict(
            OnConflict::column(upload::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.store.db)
        .await
        .map_err(|err| StorageError::classify(err, "upload", "user"))?;
        self.get_upload(id)
            .await?
            .ok_or(StorageError::NotFound { entity: "upload" })
    }

    /// Moves the committed size from `from` to `to`; false when another writer moved it first.
    pub async fn commit_upload(
        self,
        id: UploadId,
        from: u64,
        to: u64,
    ) -> Result<bool, StorageError> {
        let updated = upload::Entity::update_many()
            .col_expr(
                upload::Column::CommittedSize,
                Expr::value(bigint("committed_size", to)?),
            )
            .filter(upload::Column::Id.eq(id.to_string()))
            .filter(upload::Column::CommittedSize.eq(bigint("committed_size", from)?))
            .filter(upload::Column::CompletedAtMs.is_null())
            .filter(upload::Column::RefusedReason.is_null())
            .exec(&self.store.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Finishes an upload as refused, with the reason every later call will name; its committed size stays as it was.
    pub async fn refuse_upload(self, id: UploadId, reason: &str) -> Result<(), StorageError> {
        upload::Entity::update_many()
            .col_expr(upload::Column::RefusedReason, Expr::value(reason))
            .filter(upload::Column::Id.eq(id.to_string()))
            .filter(upload::Column::CompletedAtMs.is_null())
            .exec(&self.store.db)
            .await?;
        Ok(())
    }

    /// Records the complete file (once per digest) and marks the upload complete.
    pub async fn complete_upload(
        self,
        id: UploadId,
        attachment: &AttachmentRecord,
    ) -> Result<(), StorageError> {
        let attachment = attachment.clone();
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    attachment::Entity::insert(attachment::ActiveModel {
                        sha256: Set(attachment.id.as_str().to_owned()),
                        content_type: Set(attachment.content_type.clone()),
                        size_bytes: Set(bigint("size_bytes", attachment.size)?),
                        created_at_ms: Set(attachment.created_at.as_unix_millis()),
                    })
                    .on_conflict(
                        OnConflict::column(attachment::Column::Sha256)
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(txn)
                    .await?;
                    upload::Entity::update_many()
                        .col_expr(
                            upload::Column::CompletedAtMs,
                            Expr::value(attachment.created_at.as_unix_millis()),
                        )
                        .filter(upload::Column::Id.eq(id.to_string()))
                        .exec(txn)
                        .await?;
                    Ok::<_, StorageError>(())
                })
            })
            .await
    }

    pub async fn get_attachment(
        self,
        id: &AttachmentId,
    ) -> Result<Option<AttachmentRecord>, StorageError> {
        attachment::Entity::find_by_id(id.as_str())
            .one(&self.store.db)
            .await?
            .map(|m| {
                Ok(AttachmentRecord {
                    id: AttachmentId::parse(&m.sha256).map_err(|e| corrupt("upload", e))?,
                    content_type: m.content_type,
                    size: size(m.size_bytes)?,
                    created_at: Timestamp::from_unix_millis(m.created_at_ms),
                })
            })
            .transpose()
    }

    /// The attachments among `ids` that `owner` has not uploaded completely.
    pub async fn missing_uploads(
        self,
        owner: &UserId,
        ids: &[AttachmentId],
    ) -> Result<Vec<AttachmentId>, StorageError> {
        let found: Vec<String> = upload::Entity::find()
            .select_only()
            .column(upload::Column::Sha256)
            .filter(upload::Column::OwnerId.eq(owner.to_string()))
            .filter(upload::Column::Sha256.is_in(ids.iter().map(AttachmentId::as_str)))
            .filter(upload::Column::CompletedAtMs.is_not_null())
            .into_tuple()
            .all(&self.store.db)
            .await?;
        Ok(ids
            .iter()
            .filter(|id| !found.iter().any(|f| f == id.as_str()))
            .cloned()
            .collect())
    }
}
