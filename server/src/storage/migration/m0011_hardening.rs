//! Columns the hardening needs.
//!
//! - `deadlines.provisional`: the due time was counted across a provisional calendar year, and is counted again when that year's official calendar is loaded.
//! - `uploads.refused_reason`: an upload refused at its end (wrong digest, not an accepted file type) is finished as failed, and every later call names why.
//! - `users.token_generation` and `users.token_generation_at_ms`: revoking a user's access tokens (disabling, a new password, a replayed refresh token) bumps the generation; every replica reads the bumps of the last token lifetime and refuses tokens of an older generation.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_hardening"
    }
}

#[derive(DeriveIden)]
enum Deadlines {
    Table,
    Provisional,
    State,
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    RefusedReason,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    TokenGeneration,
    TokenGenerationAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Deadlines::Table)
                    .add_column(
                        ColumnDef::new(Deadlines::Provisional)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_deadlines_provisional")
                    .table(Deadlines::Table)
                    .col(Deadlines::Provisional)
                    .col(Deadlines::State)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Uploads::Table)
                    .add_column(ColumnDef::new(Uploads::RefusedReason).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::TokenGeneration)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::TokenGenerationAtMs)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_users_token_generation_at")
                    .table(Users::Table)
                    .col(Users::TokenGenerationAtMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_users_token_generation_at")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Users::TokenGenerationAtMs, Users::TokenGeneration] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Uploads::Table)
                    .drop_column(Uploads::RefusedReason)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_deadlines_provisional")
                    .table(Deadlines::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deadlines::Table)
                    .drop_column(Deadlines::Provisional)
                    .to_owned(),
            )
            .await
    }
}
