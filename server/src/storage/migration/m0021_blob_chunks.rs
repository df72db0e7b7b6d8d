//! The attachment store in the database, for replicas that share nothing but it (`--attachment-store database`): an upload's bytes as the chunks its client sent, keyed by where each starts, and a sealed file's under its digest.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0021_blob_chunks"
    }
}

#[derive(DeriveIden)]
enum UploadChunks {
    Table,
    UploadId,
    StartOffset,
    Data,
}

#[derive(DeriveIden)]
enum BlobChunks {
    Table,
    Digest,
    StartOffset,
    Data,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UploadChunks::Table)
                    .col(ColumnDef::new(UploadChunks::UploadId).string().not_null())
                    .col(
                        ColumnDef::new(UploadChunks::StartOffset)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(UploadChunks::Data).blob().not_null())
                    .primary_key(
                        Index::create()
                            .col(UploadChunks::UploadId)
                            .col(UploadChunks::StartOffset),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BlobChunks::Table)
                    .col(ColumnDef::new(BlobChunks::Digest).string().not_null())
                    .col(
                        ColumnDef::new(BlobChunks::StartOffset)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(BlobChunks::Data).blob().not_null())
                    .primary_key(
                        Index::create()
                            .col(BlobChunks::Digest)
                            .col(BlobChunks::StartOffset),
                    )
                    .to_owned(),
            )
            .await
    }
}
