//! The attachment store's bytes in the database (`--attachment-store database`): uploads as the chunks their clients sent, sealed files under their digest; every replica reads and writes the same.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entity::{blob_chunk, upload_chunk};
use super::sql::Sql;
use super::{BlobRepo, StorageError};

impl BlobRepo<'_> {
    /// Writes `data` at `offset` of `upload`, dropping the chunks at or after `offset` first (bytes never acknowledged), in one transaction.
    pub async fn append(
        self,
        upload: &str,
        offset: i64,
        data: Vec<u8>,
    ) -> Result<(), StorageError> {
        use upload_chunk::Column as C;
        let upload = upload.to_owned();
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    upload_chunk::Entity::delete_many()
                        .filter(C::UploadId.eq(upload.as_str()))
                        .filter(C::StartOffset.gte(offset))
                        .exec(txn)
                        .await?;
                    upload_chunk::Entity::insert(upload_chunk::ActiveModel {
                        upload_id: Set(upload),
                        start_offset: Set(offset),
                        data: Set(data),
                    })
                    .exec_without_returning(txn)
                    .await?;
                    Ok::<_, StorageError>(())
                })
            })
            .await
    }

    /// `upload`'s chunks starting at `from` or later, at most `limit`, in order.
    pub async fn upload_chunks(
        self,
        upload: &str,
        from: i64,
        limit: u64,
    ) -> Result<Vec<(i64, Vec<u8>)>, StorageError> {
        use upload_chunk::Column as C;
        Ok(upload_chunk::Entity::find()
            .filter(C::UploadId.eq(upload))
            .filter(C::StartOffset.gte(from))
            .order_by_asc(C::StartOffset)
            .limit(limit)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|c| (c.start_offset, c.data))
            .collect())
    }

    /// Moves `upload`'s chunks under `digest`, in one transaction; when a file of that digest is stored already (the same bytes), it serves both and the upload's chunks are dropped.
    pub async fn seal(self, upload: &str, digest: &str) -> Result<(), StorageError> {
        let (upload, digest) = (upload.to_owned(), digest.to_owned());
        let backend = self.store.backend;
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let stored: Option<i64> = blob_chunk::Entity::find()
                        .select_only()
                        .column(blob_chunk::Column::StartOffset)
                        .filter(blob_chunk::Column::Digest.eq(digest.as_str()))
                        .into_tuple()
                        .one(txn)
                        .await?;
                    if stored.is_none() {
                        let mut sql = Sql::new(backend);
                        sql.push(
                            "INSERT INTO blob_chunks (digest, start_offset, data) \
                             SELECT ",
                        )
                        .bind(digest.clone())
                        .push(", start_offset, data FROM upload_chunks WHERE upload_id = ")
                        .bind(upload.clone());
                        txn.execute_raw(sql.build()).await?;
                    }
                    upload_chunk::Entity::delete_many()
                        .filter(upload_chunk::Column::UploadId.eq(upload.as_str()))
                        .exec(txn)
                        .await?;
                    Ok::<_, StorageError>(())
                })
            })
            .await
    }

    /// Forgets `upload`'s bytes.
    pub async fn discard(self, upload: &str) -> Result<(), StorageError> {
        upload_chunk::Entity::delete_many()
            .filter(upload_chunk::Column::UploadId.eq(upload))
            .exec(&self.store.db)
            .await?;
        Ok(())
    }

    /// The chunk of the file `digest` that holds byte `offset` (or the first after `offset` when `after` is set), with where it starts.
    pub async fn blob_chunk(
        self,
        digest: &str,
        offset: i64,
        after: bool,
    ) -> Result<Option<(i64, Vec<u8>)>, StorageError> {
        use blob_chunk::Column as C;
        let query = blob_chunk::Entity::find().filter(C::Digest.eq(digest));
        let query = if after {
            query
                .filter(C::StartOffset.gt(offset))
                .order_by_asc(C::StartOffset)
        } else {
            query
                .filter(C::StartOffset.lte(offset))
                .order_by_desc(C::StartOffset)
        };
        Ok(query
            .one(&self.store.db)
            .await?
            .map(|c| (c.start_offset, c.data)))
    }
}
