//! `step_requests`: the client request ids of the loop's state-changing steps, each with the first answer, written in the step's own transaction; kept as long as the reports they touched.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0015_step_requests"
    }
}

#[derive(DeriveIden)]
enum StepRequests {
    Table,
    UserId,
    RequestId,
    Method,
    RequestHash,
    ReportId,
    Answer,
    CreatedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StepRequests::Table)
                    .col(ColumnDef::new(StepRequests::UserId).string().not_null())
                    .col(ColumnDef::new(StepRequests::RequestId).string().not_null())
                    .col(ColumnDef::new(StepRequests::Method).string().not_null())
                    .col(
                        ColumnDef::new(StepRequests::RequestHash)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(StepRequests::ReportId).string().not_null())
                    .col(ColumnDef::new(StepRequests::Answer).blob().not_null())
                    .col(
                        ColumnDef::new(StepRequests::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(StepRequests::UserId)
                            .col(StepRequests::RequestId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StepRequests::Table).to_owned())
            .await
    }
}
