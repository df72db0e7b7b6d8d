//! The engine reads due deadlines in (next firing, id) order: an index in that order lets a claim read the first rows of a burst due at one instant without sorting all of it.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_deadline_order"
    }
}

#[derive(DeriveIden)]
enum Deadlines {
    Table,
    Id,
    NextFireAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_deadlines_next_fire_id")
                    .table(Deadlines::Table)
                    .col(Deadlines::NextFireAtMs)
                    .col(Deadlines::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("ix_deadlines_next_fire")
                    .table(Deadlines::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_deadlines_next_fire")
                    .table(Deadlines::Table)
                    .col(Deadlines::NextFireAtMs)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deadlines_next_fire_id")
                    .table(Deadlines::Table)
                    .to_owned(),
            )
            .await
    }
}
