//! Indexes of the case queue: by state, by grade and by whistle time, each in the order a page is read.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_case_queue"
    }
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    CaseState,
    RiskGrade,
    DueAtMs,
    WhistledAtMs,
}

/// Each index's name and columns.
fn indexes() -> [(&'static str, Vec<Reports>); 3] {
    [
        (
            "ix_reports_state_due",
            vec![Reports::CaseState, Reports::DueAtMs, Reports::Id],
        ),
        (
            "ix_reports_grade_due",
            vec![Reports::RiskGrade, Reports::DueAtMs, Reports::Id],
        ),
        (
            "ix_reports_whistled",
            vec![Reports::WhistledAtMs, Reports::Id],
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, columns) in indexes() {
            let mut index = Index::create();
            index.name(name).table(Reports::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in indexes() {
            manager
                .drop_index(Index::drop().name(name).table(Reports::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
