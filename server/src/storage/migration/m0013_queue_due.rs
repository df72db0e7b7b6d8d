//! `reports.due_at_ms` and `assignments.due_at_ms`: the nearest due time of a case's (and of each department's share's) pending deadlines, letters' reply dates aside, or the largest 64-bit integer when none is pending; the order of the case queues, kept in the transaction of every change to the deadlines, with an index per queue.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0013_queue_due"
    }
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    DueAtMs,
}

#[derive(DeriveIden)]
enum Assignments {
    Table,
    DepartmentId,
    ReportId,
    DueAtMs,
}

/// What a queue row holds while nothing is due: sorts after every real due time on both databases.
const NOTHING_DUE: i64 = i64::MAX;

/// Each case's and each share's nearest pending due time, from the deadlines already stored.
const BACKFILL: [&str; 2] = [
    "UPDATE reports SET due_at_ms = COALESCE((SELECT MIN(d.due_at_ms) FROM deadlines d \
     WHERE d.report_id = reports.id AND d.state = 'pending' AND d.letter_id = ''), 9223372036854775807)",
    "UPDATE assignments SET due_at_ms = COALESCE((SELECT MIN(d.due_at_ms) FROM deadlines d \
     WHERE d.report_id = assignments.report_id AND d.department_id = assignments.department_id \
     AND d.state = 'pending' AND d.letter_id = ''), 9223372036854775807)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Reports::Table)
                    .add_column(
                        ColumnDef::new(Reports::DueAtMs)
                            .big_integer()
                            .not_null()
                            .default(NOTHING_DUE),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Assignments::Table)
                    .add_column(
                        ColumnDef::new(Assignments::DueAtMs)
                            .big_integer()
                            .not_null()
                            .default(NOTHING_DUE),
                    )
                    .to_owned(),
            )
            .await?;
        for statement in BACKFILL {
            manager
                .get_connection()
                .execute_unprepared(statement)
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_reports_due")
                    .table(Reports::Table)
                    .col(Reports::DueAtMs)
                    .col(Reports::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_assignments_due")
                    .table(Assignments::Table)
                    .col(Assignments::DepartmentId)
                    .col(Assignments::DueAtMs)
                    .col(Assignments::ReportId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (index, table) in [
            ("ix_assignments_due", Assignments::Table.to_string()),
            ("ix_reports_due", Reports::Table.to_string()),
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(index)
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Assignments::Table)
                    .drop_column(Assignments::DueAtMs)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Reports::Table)
                    .drop_column(Reports::DueAtMs)
                    .to_owned(),
            )
            .await
    }
}
