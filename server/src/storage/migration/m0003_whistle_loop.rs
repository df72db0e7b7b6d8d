//! The whistle loop: reports (with their case), department assignments, the append-only case timeline, extension requests, uploads and attachments.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(Debug)]
pub(super) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_whistle_loop"
    }
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    AuthorId,
    GridId,
    CategoryId,
    Description,
    Latitude,
    Longitude,
    CoordinateSystem,
    AccuracyM,
    ObservedAtMs,
    CreatedAtMs,
    UpdatedAtMs,
    RiskGrade,
    Parties,
    Attachments,
    RequestHash,
    State,
    Resolution,
    Version,
    CaseId,
    CaseState,
    WhistleKind,
    WhistleNote,
    WhistledAtMs,
    Routing,
    ReworkCount,
    Satisfaction,
}

#[derive(DeriveIden)]
enum Assignments {
    Table,
    ReportId,
    DepartmentId,
    DepartmentType,
    Role,
    State,
    Jurisdiction,
    Contacted,
    SummonedAtMs,
    ReportInAtMs,
    CompleteAtMs,
    Result,
    ResultAttachments,
}

#[derive(DeriveIden)]
enum CaseEvents {
    Table,
    Id,
    Txid,
    ReportId,
    Sequence,
    AuthorId,
    Kind,
    ActorId,
    DepartmentId,
    AtMs,
    Text,
    Attachments,
}

#[derive(DeriveIden)]
enum Extensions {
    Table,
    Id,
    ReportId,
    DepartmentId,
    Stage,
    RequestedDueMs,
    Reason,
    State,
    ApprovedDueMs,
    DecisionReason,
    CreatedAtMs,
    DecidedAtMs,
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Id,
    OwnerId,
    TotalSize,
    Sha256,
    CommittedSize,
    CreatedAtMs,
    CompletedAtMs,
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Sha256,
    ContentType,
    SizeBytes,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Departments {
    Table,
    Id,
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}

fn big(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_reports(manager).await?;
        create_assignments(manager).await?;
        create_case_events(manager).await?;
        create_extensions_attachments(manager).await?;
        create_uploads(manager).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Uploads::Table.into_iden(),
            Attachments::Table.into_iden(),
            Extensions::Table.into_iden(),
            CaseEvents::Table.into_iden(),
            Assignments::Table.into_iden(),
            Reports::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Creates `reports`.
async fn create_reports(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Reports::Table)
                .col(
                    ColumnDef::new(Reports::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Reports::AuthorId).string().not_null())
                .col(ColumnDef::new(Reports::GridId).string().null())
                .col(ColumnDef::new(Reports::CategoryId).string().not_null())
                .col(text(Reports::Description))
                .col(ColumnDef::new(Reports::Latitude).double().not_null())
                .col(ColumnDef::new(Reports::Longitude).double().not_null())
                .col(
                    ColumnDef::new(Reports::CoordinateSystem)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(Reports::AccuracyM).double().not_null())
                .col(big(Reports::ObservedAtMs))
                .col(big(Reports::CreatedAtMs))
                .col(big(Reports::UpdatedAtMs))
                .col(ColumnDef::new(Reports::RiskGrade).string().null())
                .col(text(Reports::Parties))
                .col(text(Reports::Attachments))
                .col(ColumnDef::new(Reports::RequestHash).string().not_null())
                .col(ColumnDef::new(Reports::State).string().not_null())
                .col(ColumnDef::new(Reports::Resolution).text().null())
                .col(big(Reports::Version))
                .col(ColumnDef::new(Reports::CaseId).string().null().unique_key())
                .col(ColumnDef::new(Reports::CaseState).string().null())
                .col(ColumnDef::new(Reports::WhistleKind).string().null())
                .col(ColumnDef::new(Reports::WhistleNote).text().null())
                .col(ColumnDef::new(Reports::WhistledAtMs).big_integer().null())
                .col(ColumnDef::new(Reports::Routing).text().null())
                .col(ColumnDef::new(Reports::ReworkCount).integer().not_null())
                .col(ColumnDef::new(Reports::Satisfaction).integer().null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_reports_author")
                        .from(Reports::Table, Reports::AuthorId)
                        .to(Users::Table, Users::Id),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_reports_author")
                .table(Reports::Table)
                .col(Reports::AuthorId)
                .col(Reports::Id)
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Creates `assignments`.
async fn create_assignments(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Assignments::Table)
                .col(ColumnDef::new(Assignments::ReportId).string().not_null())
                .col(
                    ColumnDef::new(Assignments::DepartmentId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Assignments::DepartmentType)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(Assignments::Role).string().not_null())
                .col(ColumnDef::new(Assignments::State).string().not_null())
                .col(ColumnDef::new(Assignments::Jurisdiction).string().null())
                .col(ColumnDef::new(Assignments::Contacted).boolean().not_null())
                .col(big(Assignments::SummonedAtMs))
                .col(
                    ColumnDef::new(Assignments::ReportInAtMs)
                        .big_integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(Assignments::CompleteAtMs)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(Assignments::Result).text().null())
                .col(text(Assignments::ResultAttachments))
                .primary_key(
                    Index::create()
                        .col(Assignments::ReportId)
                        .col(Assignments::DepartmentId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_assignments_report")
                        .from(Assignments::Table, Assignments::ReportId)
                        .to(Reports::Table, Reports::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_assignments_department")
                        .from(Assignments::Table, Assignments::DepartmentId)
                        .to(Departments::Table, Departments::Id),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_assignments_department")
                .table(Assignments::Table)
                .col(Assignments::DepartmentId)
                .col(Assignments::ReportId)
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Creates `case_events`.
async fn create_case_events(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    // On PostgreSQL each event records the id of the transaction that wrote it, so a reader can
    // follow the log in commit order: rows of transactions older than the snapshot's xmin can no
    // longer appear behind its cursor. SQLite commits one writer at a time, in id order.
    let txid_default = match manager.get_database_backend() {
        DbBackend::Postgres => Expr::cust("(pg_current_xact_id()::text)::bigint"),
        _ => Expr::cust("0"),
    };
    manager
        .create_table(
            Table::create()
                .table(CaseEvents::Table)
                .col(
                    ColumnDef::new(CaseEvents::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(CaseEvents::Txid)
                        .big_integer()
                        .not_null()
                        .default(txid_default),
                )
                .col(ColumnDef::new(CaseEvents::ReportId).string().not_null())
                .col(big(CaseEvents::Sequence))
                .col(ColumnDef::new(CaseEvents::AuthorId).string().not_null())
                .col(ColumnDef::new(CaseEvents::Kind).string().not_null())
                .col(ColumnDef::new(CaseEvents::ActorId).string().null())
                .col(ColumnDef::new(CaseEvents::DepartmentId).string().null())
                .col(big(CaseEvents::AtMs))
                .col(text(CaseEvents::Text))
                .col(text(CaseEvents::Attachments))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_case_events_report")
                        .from(CaseEvents::Table, CaseEvents::ReportId)
                        .to(Reports::Table, Reports::Id),
                )
                .to_owned(),
        )
        .await?;
    for (name, cols) in [
        (
            "ux_case_events_sequence",
            vec![CaseEvents::ReportId, CaseEvents::Sequence],
        ),
        (
            "ix_case_events_order",
            vec![CaseEvents::Txid, CaseEvents::Id],
        ),
        (
            "ix_case_events_author",
            vec![CaseEvents::AuthorId, CaseEvents::Txid, CaseEvents::Id],
        ),
    ] {
        let mut index = Index::create();
        index.name(name).table(CaseEvents::Table);
        if name.starts_with("ux_") {
            index.unique();
        }
        for col in cols {
            index.col(col);
        }
        manager.create_index(index.to_owned()).await?;
    }
    Ok(())
}

/// Creates `extensions`, `attachments`.
async fn create_extensions_attachments(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Extensions::Table)
                .col(
                    ColumnDef::new(Extensions::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Extensions::ReportId).string().not_null())
                .col(ColumnDef::new(Extensions::DepartmentId).string().not_null())
                .col(ColumnDef::new(Extensions::Stage).string().not_null())
                .col(big(Extensions::RequestedDueMs))
                .col(text(Extensions::Reason))
                .col(ColumnDef::new(Extensions::State).string().not_null())
                .col(
                    ColumnDef::new(Extensions::ApprovedDueMs)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(Extensions::DecisionReason).text().null())
                .col(big(Extensions::CreatedAtMs))
                .col(ColumnDef::new(Extensions::DecidedAtMs).big_integer().null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_extensions_report")
                        .from(Extensions::Table, Extensions::ReportId)
                        .to(Reports::Table, Reports::Id),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_extensions_report")
                .table(Extensions::Table)
                .col(Extensions::ReportId)
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(Attachments::Table)
                .col(
                    ColumnDef::new(Attachments::Sha256)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Attachments::ContentType).string().not_null())
                .col(big(Attachments::SizeBytes))
                .col(big(Attachments::CreatedAtMs))
                .to_owned(),
        )
        .await?;
    Ok(())
}

/// Creates `uploads`.
async fn create_uploads(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Uploads::Table)
                .col(
                    ColumnDef::new(Uploads::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Uploads::OwnerId).string().not_null())
                .col(big(Uploads::TotalSize))
                .col(ColumnDef::new(Uploads::Sha256).string().not_null())
                .col(big(Uploads::CommittedSize))
                .col(big(Uploads::CreatedAtMs))
                .col(ColumnDef::new(Uploads::CompletedAtMs).big_integer().null())
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_uploads_owner")
                        .from(Uploads::Table, Uploads::OwnerId)
                        .to(Users::Table, Users::Id),
                )
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_uploads_owner_sha256")
                .table(Uploads::Table)
                .col(Uploads::OwnerId)
                .col(Uploads::Sha256)
                .to_owned(),
        )
        .await?;
    Ok(())
}
