//! The department figures rolled up per department and day (in the district's time zone), kept by `storage::rollups` in the transaction of every change to a share's facts, so a month's ranking sums a few thousand rows instead of a month's shares.
//!
//! `share_days` holds each day's counts of the shares summoned that day, and of the led shares due that day (`led_due*`); `share_working_days` the accepted led shares' working times by bucket.
//! `rollup_zone` holds the zone offset the days are counted in; while it has no row the rollups are not built, and the changes leave them alone until a replica builds them.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0022_share_days"
    }
}

#[derive(DeriveIden)]
enum RollupZone {
    Table,
    Id,
    OffsetMs,
}

#[derive(DeriveIden)]
enum ShareDays {
    Table,
    Day,
    DepartmentId,
}

#[derive(DeriveIden)]
enum ShareWorkingDays {
    Table,
    Day,
    DepartmentId,
    Bucket,
    Shares,
}

/// The counts of a day, in the order `storage::rollups` writes and reads them.
pub(in crate::storage) const SHARE_DAY_COUNTS: [&str; 18] = [
    "assignments",
    "reported_in_on_time",
    "led",
    "led_with_result",
    "led_accepted",
    "rated",
    "rated_satisfied",
    "score_sum",
    "completions",
    "rejections",
    "extended",
    "returned",
    "escalations",
    "working_sum_ms",
    "working_count",
    "led_due",
    "led_due_accepted",
    "led_due_on_time",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RollupZone::Table)
                    .col(
                        ColumnDef::new(RollupZone::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RollupZone::OffsetMs)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        let mut days = Table::create();
        days.table(ShareDays::Table)
            .col(ColumnDef::new(ShareDays::Day).big_integer().not_null())
            .col(ColumnDef::new(ShareDays::DepartmentId).string().not_null());
        for count in SHARE_DAY_COUNTS {
            days.col(
                ColumnDef::new(Alias::new(count))
                    .big_integer()
                    .not_null()
                    .default(0),
            );
        }
        days.primary_key(
            Index::create()
                .col(ShareDays::Day)
                .col(ShareDays::DepartmentId),
        );
        manager.create_table(days.to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table(ShareWorkingDays::Table)
                    .col(
                        ColumnDef::new(ShareWorkingDays::Day)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ShareWorkingDays::DepartmentId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ShareWorkingDays::Bucket)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ShareWorkingDays::Shares)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ShareWorkingDays::Day)
                            .col(ShareWorkingDays::DepartmentId)
                            .col(ShareWorkingDays::Bucket),
                    )
                    .to_owned(),
            )
            .await
    }
}
