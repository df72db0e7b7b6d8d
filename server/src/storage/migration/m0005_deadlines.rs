//! Durable deadlines: one row per (case, department, stage), written in the transaction of the step that starts, satisfies or cancels it; and the policy version each case keeps.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_deadlines"
    }
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    PolicyVersion,
}

#[derive(DeriveIden)]
enum Departments {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Deadlines {
    Table,
    Id,
    ReportId,
    DepartmentId,
    Stage,
    PolicyVersion,
    StartedAtMs,
    DueAtMs,
    State,
    SatisfiedAtMs,
    EscalationLevel,
    NextStep,
    NextFireAtMs,
    ClaimedBy,
    ClaimedUntilMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_policy_version_and_deadlines(manager).await?;
        index_deadlines(manager).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Deadlines::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Reports::Table)
                    .drop_column(Reports::PolicyVersion)
                    .to_owned(),
            )
            .await
    }
}

/// Adds the case's policy version to `reports` and creates `deadlines`.
async fn add_policy_version_and_deadlines(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Reports::Table)
                .add_column(ColumnDef::new(Reports::PolicyVersion).big_integer().null())
                .to_owned(),
        )
        .await?;
    let big = |col: Deadlines| ColumnDef::new(col).big_integer().not_null().to_owned();
    manager
        .create_table(
            Table::create()
                .table(Deadlines::Table)
                .col(
                    ColumnDef::new(Deadlines::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(Deadlines::ReportId).string().not_null())
                .col(ColumnDef::new(Deadlines::DepartmentId).string().not_null())
                .col(ColumnDef::new(Deadlines::Stage).string().not_null())
                .col(big(Deadlines::PolicyVersion))
                .col(big(Deadlines::StartedAtMs))
                .col(big(Deadlines::DueAtMs))
                .col(ColumnDef::new(Deadlines::State).string().not_null())
                .col(
                    ColumnDef::new(Deadlines::SatisfiedAtMs)
                        .big_integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(Deadlines::EscalationLevel)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Deadlines::NextStep).integer().not_null())
                .col(ColumnDef::new(Deadlines::NextFireAtMs).big_integer().null())
                .col(ColumnDef::new(Deadlines::ClaimedBy).string().null())
                .col(
                    ColumnDef::new(Deadlines::ClaimedUntilMs)
                        .big_integer()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_deadlines_report")
                        .from(Deadlines::Table, Deadlines::ReportId)
                        .to(Reports::Table, Reports::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_deadlines_department")
                        .from(Deadlines::Table, Deadlines::DepartmentId)
                        .to(Departments::Table, Departments::Id),
                )
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Indexes `deadlines`.
async fn index_deadlines(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .name("ux_deadlines_stage")
                .table(Deadlines::Table)
                .col(Deadlines::ReportId)
                .col(Deadlines::DepartmentId)
                .col(Deadlines::Stage)
                .unique()
                .to_owned(),
        )
        .await?;
    // The engine reads the next firings in time order; rows with nothing left to fire hold NULL.
    manager
        .create_index(
            Index::create()
                .name("ix_deadlines_next_fire")
                .table(Deadlines::Table)
                .col(Deadlines::NextFireAtMs)
                .to_owned(),
        )
        .await?;
    Ok(())
}
