//! Departments, grids, users, refresh tokens and signing keys.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_foundation"
    }
}

#[derive(DeriveIden)]
enum Departments {
    Table,
    Id,
    DisplayName,
    DepartmentType,
    RoutingPriority,
    FallbackOwner,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum Grids {
    Table,
    Id,
    DisplayName,
    Community,
    Street,
    District,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    DisplayName,
    PasswordHash,
    Role,
    GridId,
    DepartmentId,
    Disabled,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    FamilyId,
    UserId,
    SecretSha256,
    IssuedAtMs,
    ExpiresAtMs,
    UsedAtMs,
    RevokedAtMs,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Id,
    SecretBase64,
    CreatedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_departments_grids(manager).await?;
        create_users(manager).await?;
        create_refresh_tokens(manager).await?;
        create_signing_keys(manager).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SigningKeys::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Users::Table.into_iden(),
            Grids::Table.into_iden(),
            Departments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Creates `departments`, `grids`.
async fn create_departments_grids(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Departments::Table)
                .col(
                    ColumnDef::new(Departments::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Departments::DisplayName).string().not_null())
                .col(
                    ColumnDef::new(Departments::DepartmentType)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Departments::RoutingPriority)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Departments::FallbackOwner)
                        .boolean()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Departments::CreatedAtMs)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Departments::UpdatedAtMs)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(Grids::Table)
                .col(ColumnDef::new(Grids::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Grids::DisplayName).string().not_null())
                .col(ColumnDef::new(Grids::Community).string().not_null())
                .col(ColumnDef::new(Grids::Street).string().not_null())
                .col(ColumnDef::new(Grids::District).string().not_null())
                .col(ColumnDef::new(Grids::CreatedAtMs).big_integer().not_null())
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Creates `users`.
async fn create_users(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Users::Table)
                .col(ColumnDef::new(Users::Id).string().not_null().primary_key())
                .col(
                    ColumnDef::new(Users::Username)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Users::DisplayName).string().not_null())
                .col(ColumnDef::new(Users::PasswordHash).string().not_null())
                .col(ColumnDef::new(Users::Role).string().not_null())
                .col(ColumnDef::new(Users::GridId).string().null())
                .col(ColumnDef::new(Users::DepartmentId).string().null())
                .col(ColumnDef::new(Users::Disabled).boolean().not_null())
                .col(ColumnDef::new(Users::CreatedAtMs).big_integer().not_null())
                .col(ColumnDef::new(Users::UpdatedAtMs).big_integer().not_null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_users_grid")
                        .from(Users::Table, Users::GridId)
                        .to(Grids::Table, Grids::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_users_department")
                        .from(Users::Table, Users::DepartmentId)
                        .to(Departments::Table, Departments::Id),
                )
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Creates `refresh_tokens`.
async fn create_refresh_tokens(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .col(
                    ColumnDef::new(RefreshTokens::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(RefreshTokens::FamilyId).string().not_null())
                .col(ColumnDef::new(RefreshTokens::UserId).string().not_null())
                .col(
                    ColumnDef::new(RefreshTokens::SecretSha256)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RefreshTokens::IssuedAtMs)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RefreshTokens::ExpiresAtMs)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(RefreshTokens::UsedAtMs).big_integer().null())
                .col(
                    ColumnDef::new(RefreshTokens::RevokedAtMs)
                        .big_integer()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_refresh_tokens_user")
                        .from(RefreshTokens::Table, RefreshTokens::UserId)
                        .to(Users::Table, Users::Id),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_refresh_tokens_family")
                .table(RefreshTokens::Table)
                .col(RefreshTokens::FamilyId)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_refresh_tokens_user")
                .table(RefreshTokens::Table)
                .col(RefreshTokens::UserId)
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Creates `signing_keys`.
async fn create_signing_keys(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(SigningKeys::Table)
                .col(
                    ColumnDef::new(SigningKeys::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(SigningKeys::SecretBase64)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SigningKeys::CreatedAtMs)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
    Ok(())
}
