//! Supervision letters (督办函): a letter to one department about one or more cases, and its reply-by deadline, kept in `deadlines` under the letter's id so several letters on one case can run side by side.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_supervision_letters"
    }
}

#[derive(DeriveIden)]
enum SupervisionLetters {
    Table,
    Id,
    DepartmentId,
    IssuerId,
    Text,
    ReplyDueAtMs,
    CreatedAtMs,
    RequestHash,
    AnsweredAtMs,
    AnsweredBy,
    Reply,
}

#[derive(DeriveIden)]
enum SupervisionLetterCases {
    Table,
    LetterId,
    ReportId,
    Position,
}

#[derive(DeriveIden)]
enum Deadlines {
    Table,
    ReportId,
    DepartmentId,
    Stage,
    LetterId,
}

#[derive(DeriveIden)]
enum Departments {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_supervision_letters(manager).await?;
        create_letter_cases(manager).await?;
        add_deadline_letters(manager).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_deadlines_stage_letter")
                    .table(Deadlines::Table)
                    .to_owned(),
            )
            .await?;
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
        manager
            .alter_table(
                Table::alter()
                    .table(Deadlines::Table)
                    .drop_column(Deadlines::LetterId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(SupervisionLetterCases::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(SupervisionLetters::Table).to_owned())
            .await
    }
}

/// Creates `supervision_letters`.
async fn create_supervision_letters(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(SupervisionLetters::Table)
                .col(
                    ColumnDef::new(SupervisionLetters::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(SupervisionLetters::DepartmentId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SupervisionLetters::IssuerId)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(SupervisionLetters::Text).text().not_null())
                .col(
                    ColumnDef::new(SupervisionLetters::ReplyDueAtMs)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SupervisionLetters::CreatedAtMs)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SupervisionLetters::RequestHash)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SupervisionLetters::AnsweredAtMs)
                        .big_integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(SupervisionLetters::AnsweredBy)
                        .string()
                        .null(),
                )
                .col(ColumnDef::new(SupervisionLetters::Reply).text().null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_letters_department")
                        .from(SupervisionLetters::Table, SupervisionLetters::DepartmentId)
                        .to(Departments::Table, Departments::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_letters_issuer")
                        .from(SupervisionLetters::Table, SupervisionLetters::IssuerId)
                        .to(Users::Table, Users::Id),
                )
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Indexes `supervision_letters` and creates `supervision_letter_cases`.
async fn create_letter_cases(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .name("ix_letters_department")
                .table(SupervisionLetters::Table)
                .col(SupervisionLetters::DepartmentId)
                .col(SupervisionLetters::CreatedAtMs)
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(SupervisionLetterCases::Table)
                .col(
                    ColumnDef::new(SupervisionLetterCases::LetterId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SupervisionLetterCases::ReportId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SupervisionLetterCases::Position)
                        .integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(SupervisionLetterCases::LetterId)
                        .col(SupervisionLetterCases::ReportId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_letter_cases_letter")
                        .from(
                            SupervisionLetterCases::Table,
                            SupervisionLetterCases::LetterId,
                        )
                        .to(SupervisionLetters::Table, SupervisionLetters::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_letter_cases_report")
                        .from(
                            SupervisionLetterCases::Table,
                            SupervisionLetterCases::ReportId,
                        )
                        .to(Reports::Table, Reports::Id),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_letter_cases_report")
                .table(SupervisionLetterCases::Table)
                .col(SupervisionLetterCases::ReportId)
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Keys `deadlines` by their letter as well.
async fn add_deadline_letters(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    // The loop's stages carry no letter (''); a letter's reply deadline carries its letter's id.
    manager
        .alter_table(
            Table::alter()
                .table(Deadlines::Table)
                .add_column(
                    ColumnDef::new(Deadlines::LetterId)
                        .string()
                        .not_null()
                        .default(""),
                )
                .to_owned(),
        )
        .await?;
    manager
        .drop_index(
            Index::drop()
                .name("ux_deadlines_stage")
                .table(Deadlines::Table)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ux_deadlines_stage_letter")
                .table(Deadlines::Table)
                .col(Deadlines::ReportId)
                .col(Deadlines::DepartmentId)
                .col(Deadlines::Stage)
                .col(Deadlines::LetterId)
                .unique()
                .to_owned(),
        )
        .await?;
    Ok(())
}
