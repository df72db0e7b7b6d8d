//! Versions of the time-limit policies (each import stored whole) and the working calendar's years.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_time_limits"
    }
}

#[derive(DeriveIden)]
enum TimeLimitVersions {
    Table,
    Version,
    Body,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum CalendarYears {
    Table,
    Year,
    Body,
    UpdatedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TimeLimitVersions::Table)
                    .col(
                        ColumnDef::new(TimeLimitVersions::Version)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(TimeLimitVersions::Body).text().not_null())
                    .col(
                        ColumnDef::new(TimeLimitVersions::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CalendarYears::Table)
                    .col(
                        ColumnDef::new(CalendarYears::Year)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CalendarYears::Body).text().not_null())
                    .col(
                        ColumnDef::new(CalendarYears::UpdatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CalendarYears::Table.into_iden(),
            TimeLimitVersions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
