//! The notification outbox: every notification is a row written in the transaction of the event that causes it; the push sender drains it.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_outbox"
    }
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    ReportId,
    DepartmentId,
    Audience,
    Kind,
    Stage,
    EventSequence,
    EscalationLevel,
    DueAtMs,
    CreatedAtMs,
    State,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(
                        ColumnDef::new(Notifications::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Notifications::ReportId).string().not_null())
                    .col(ColumnDef::new(Notifications::DepartmentId).string().null())
                    .col(ColumnDef::new(Notifications::Audience).string().not_null())
                    .col(ColumnDef::new(Notifications::Kind).string().not_null())
                    .col(ColumnDef::new(Notifications::Stage).string().null())
                    .col(
                        ColumnDef::new(Notifications::EventSequence)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Notifications::EscalationLevel)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Notifications::DueAtMs).big_integer().null())
                    .col(
                        ColumnDef::new(Notifications::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Notifications::State).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_state")
                    .table(Notifications::Table)
                    .col(Notifications::State)
                    .col(Notifications::CreatedAtMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await
    }
}
