//! An assignment's facts for the department figures (KPIs), kept on its row so every figure is a grouped query over one indexed table.
//!
//! The columns the loop keeps (`completions`, `rejections`, `returns`, `extensions_approved`, `accepted_at_ms`, `satisfaction`, `working_ms`) are written by `closed_loop::facts` with the step that changes them;
//! the ones the deadlines keep (`report_in_due_ms`, `finish_due_ms`, `escalations`) by `storage::schedule` with the deadlines.
//! Rows filed before this migration have `facts_version` 0 and are rebuilt from their timelines when the server starts (`Facts::rebuild_unbuilt`).

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

/// The condition of a share still at work; the figures' statements (`storage::stats`) spell it the same, so SQLite sees that they may read the partial index.
const OPEN_SHARES: &str =
    "state IN ('summoned', 'reported_in', 'contacted') AND accepted_at_ms IS NULL";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0017_assignment_facts"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Assignments {
    Table,
    DepartmentId,
    SummonedAtMs,
    ReportInDueMs,
    FinishDueMs,
    Escalations,
    Completions,
    Rejections,
    Returns,
    ExtensionsApproved,
    AcceptedAtMs,
    Satisfaction,
    WorkingMs,
    FactsVersion,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    CreatedAtMs,
    Id,
}

fn columns() -> Vec<ColumnDef> {
    use Assignments as A;
    let mut columns = Vec::new();
    for c in [
        A::ReportInDueMs,
        A::FinishDueMs,
        A::AcceptedAtMs,
        A::WorkingMs,
    ] {
        columns.push(ColumnDef::new(c).big_integer().null().to_owned());
    }
    columns.push(ColumnDef::new(A::Satisfaction).integer().null().to_owned());
    for c in [
        A::Escalations,
        A::Completions,
        A::Rejections,
        A::Returns,
        A::ExtensionsApproved,
        A::FactsVersion,
    ] {
        columns.push(ColumnDef::new(c).integer().not_null().default(0).to_owned());
    }
    columns
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Assignments::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        use Assignments as A;
        for (name, cols) in [
            // The ranking of a period: every department's assignments summoned in it.
            (
                "ix_assignments_summoned",
                vec![A::SummonedAtMs, A::DepartmentId],
            ),
            // One department's period, trend, breakdown and shortfalls.
            (
                "ix_assignments_department_summoned",
                vec![A::DepartmentId, A::SummonedAtMs],
            ),
            // 按期结案率 counts the led cases due in the period.
            (
                "ix_assignments_finish_due",
                vec![A::FinishDueMs, A::DepartmentId],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(A::Table);
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.to_owned()).await?;
        }
        let db = manager.get_connection();
        // Empty once every row is built: the server finds rows to rebuild without scanning.
        db.execute_unprepared(
            "CREATE INDEX ix_assignments_facts_unbuilt ON assignments (report_id) WHERE facts_version = 0",
        )
        .await?;
        // Open now and overdue now: only the shares still at work on cases not closed (a case closes when its result is accepted), a small part of the table.
        db.execute_unprepared(&format!(
            "CREATE INDEX ix_assignments_open ON assignments (department_id, due_at_ms) WHERE {OPEN_SHARES}"
        ))
        .await?;
        // The street, grid and category figures count the reports filed in the period.
        manager
            .create_index(
                Index::create()
                    .name("ix_reports_created")
                    .table(Reports::Table)
                    .col(Reports::CreatedAtMs)
                    .col(Reports::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_reports_created")
                    .table(Reports::Table)
                    .to_owned(),
            )
            .await?;
        for name in [
            "ix_assignments_open",
            "ix_assignments_facts_unbuilt",
            "ix_assignments_summoned",
            "ix_assignments_department_summoned",
            "ix_assignments_finish_due",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Assignments::Table)
                        .to_owned(),
                )
                .await?;
        }
        for column in columns() {
            let name = column.get_column_name();
            manager
                .alter_table(
                    Table::alter()
                        .table(Assignments::Table)
                        .drop_column(Alias::new(name))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
