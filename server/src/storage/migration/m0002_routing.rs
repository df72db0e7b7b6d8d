//! Boundary generations (grids and jurisdictions as imported) and versions of the dispatch catalogue.

use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_routing"
    }
}

#[derive(DeriveIden)]
enum BoundaryGenerations {
    Table,
    Id,
    Kind,
    FeatureCount,
    GridsFrom,
    JurisdictionsFrom,
    Geojson,
    Importer,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum ImportLocks {
    Table,
    Id,
    Imports,
}

#[derive(DeriveIden)]
enum CatalogueVersions {
    Table,
    Version,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum CatalogueCategories {
    Table,
    Version,
    CategoryId,
    DisplayName,
    LeadType,
    AssistTypes,
    DefaultGrade,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_boundary_generations_import_locks(manager).await?;
        create_catalogue_versions(manager).await?;
        create_catalogue_categories(manager).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CatalogueCategories::Table.into_iden(),
            CatalogueVersions::Table.into_iden(),
            ImportLocks::Table.into_iden(),
            BoundaryGenerations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Creates `boundary_generations`, `import_locks`.
async fn create_boundary_generations_import_locks(
    manager: &SchemaManager<'_>,
) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(BoundaryGenerations::Table)
                .col(
                    ColumnDef::new(BoundaryGenerations::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(BoundaryGenerations::Kind)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BoundaryGenerations::FeatureCount)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BoundaryGenerations::GridsFrom)
                        .big_integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(BoundaryGenerations::JurisdictionsFrom)
                        .big_integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(BoundaryGenerations::Geojson)
                        .text()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BoundaryGenerations::Importer)
                        .string()
                        .null(),
                )
                .col(
                    ColumnDef::new(BoundaryGenerations::CreatedAtMs)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(ImportLocks::Table)
                .col(
                    ColumnDef::new(ImportLocks::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(ImportLocks::Imports)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Creates `catalogue_versions`.
async fn create_catalogue_versions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .exec_stmt(
            Query::insert()
                .into_table(ImportLocks::Table)
                .columns([ImportLocks::Id, ImportLocks::Imports])
                .values_panic(["routing".into(), 0i64.into()])
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(CatalogueVersions::Table)
                .col(
                    ColumnDef::new(CatalogueVersions::Version)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(CatalogueVersions::CreatedAtMs)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Creates `catalogue_categories`.
async fn create_catalogue_categories(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(CatalogueCategories::Table)
                .col(
                    ColumnDef::new(CatalogueCategories::Version)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogueCategories::CategoryId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogueCategories::DisplayName)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogueCategories::LeadType)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogueCategories::AssistTypes)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogueCategories::DefaultGrade)
                        .string()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(CatalogueCategories::Version)
                        .col(CatalogueCategories::CategoryId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_catalogue_categories_version")
                        .from(CatalogueCategories::Table, CatalogueCategories::Version)
                        .to(CatalogueVersions::Table, CatalogueVersions::Version),
                )
                .to_owned(),
        )
        .await?;
    Ok(())
}
