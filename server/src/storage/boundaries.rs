//! Storage of routing data: boundary generations, the grids they name, and versions of the dispatch catalogue.

use gridwhistle_dispatcher::routing::rules::CategoryRule;
use gridwhistle_domain::{CategoryId, DepartmentType, RiskGrade, Timestamp, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};
use tracing::instrument;

use super::codec::corrupt;
use super::entity::{
    boundary_generation, catalogue_category, catalogue_version, grid, import_lock,
};
use super::records::NewGrid;
use super::{BoundaryRepo, StorageError};

/// What a boundary import replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundaryKind {
    Grids,
    Jurisdictions,
}

impl BoundaryKind {
    fn as_str(self) -> &'static str {
        match self {
            BoundaryKind::Grids => "grids",
            BoundaryKind::Jurisdictions => "jurisdictions",
        }
    }

    fn parse(text: &str) -> Result<Self, StorageError> {
        match text {
            "grids" => Ok(BoundaryKind::Grids),
            "jurisdictions" => Ok(BoundaryKind::Jurisdictions),
            other => Err(corrupt(
                "boundary generation",
                format!("unknown kind {other:?}"),
            )),
        }
    }
}

/// A validated boundary import.
#[derive(Debug, Clone)]
pub struct NewBoundaryImport {
    pub kind: BoundaryKind,
    /// The FeatureCollection as imported, kept so old generations stay readable.
    pub geojson: String,
    pub feature_count: i32,
    pub importer: Option<UserId>,
    /// For grid imports: the grids it names, created or renamed in the same transaction.
    pub grids: Vec<NewGrid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundaryGeneration {
    pub id: i64,
    pub kind: BoundaryKind,
    pub feature_count: i32,
    pub grids_from: Option<i64>,
    pub jurisdictions_from: Option<i64>,
    pub importer: Option<UserId>,
    pub created_at: Timestamp,
}

/// The newest boundary generation and catalogue version; `None` before the first import of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoutingVersions {
    pub generation: Option<i64>,
    pub catalogue: Option<i64>,
}

/// The boundaries in force: the newest generation and the GeoJSON of each kind it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundarySet {
    pub generation: i64,
    pub grids: Option<String>,
    pub jurisdictions: Option<String>,
}

fn generation_from_model(
    m: boundary_generation::Model,
) -> Result<BoundaryGeneration, StorageError> {
    Ok(BoundaryGeneration {
        id: m.id,
        kind: BoundaryKind::parse(&m.kind)?,
        feature_count: m.feature_count,
        grids_from: m.grids_from,
        jurisdictions_from: m.jurisdictions_from,
        importer: m
            .importer
            .as_deref()
            .map(UserId::parse)
            .transpose()
            .map_err(|e| corrupt("boundary generation", e))?,
        created_at: Timestamp::from_unix_millis(m.created_at_ms),
    })
}

fn category_from_model(m: catalogue_category::Model) -> Result<CategoryRule, StorageError> {
    const CATEGORY: &str = "catalogue category";
    let default_grade: RiskGrade = m
        .default_grade
        .parse()
        .map_err(|e: gridwhistle_domain::risk::UnknownGrade| corrupt(CATEGORY, e))?;
    Ok(CategoryRule {
        id: CategoryId::parse(&m.category_id).map_err(|e| corrupt(CATEGORY, e))?,
        display_name: m.display_name,
        lead: DepartmentType::parse(&m.lead_type).map_err(|e| corrupt(CATEGORY, e))?,
        assists: m
            .assist_types
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| DepartmentType::parse(t).map_err(|e| corrupt(CATEGORY, e)))
            .collect::<Result<_, _>>()?,
        default_grade,
    })
}

impl BoundaryRepo<'_> {
    /// Stores an import as the new current generation; imports are serialised so none is lost to a race.
    #[instrument(skip_all, fields(kind = new.kind.as_str(), features = new.feature_count))]
    pub async fn import_boundaries(
        self,
        new: NewBoundaryImport,
        now: Timestamp,
    ) -> Result<BoundaryGeneration, StorageError> {
        let txn = self.store.db.begin().await?;
        // Writing the lock row first takes PostgreSQL's row lock and SQLite's write lock before anything is read.
        import_lock::Entity::update_many()
            .col_expr(
                import_lock::Column::Imports,
                Expr::col(import_lock::Column::Imports).add(1),
            )
            .filter(import_lock::Column::Id.eq("routing"))
            .exec(&txn)
            .await?;
        let previous = boundary_generation::Entity::find()
            .order_by_desc(boundary_generation::Column::Id)
            .one(&txn)
            .await?;
        let model = boundary_generation::ActiveModel {
            kind: Set(new.kind.as_str().to_owned()),
            feature_count: Set(new.feature_count),
            grids_from: Set(previous.as_ref().and_then(|p| p.grids_from)),
            jurisdictions_from: Set(previous.as_ref().and_then(|p| p.jurisdictions_from)),
            geojson: Set(new.geojson),
            importer: Set(new.importer.map(|u| u.to_string())),
            created_at_ms: Set(now.as_unix_millis()),
            ..Default::default()
        };
        let id = boundary_generation::Entity::insert(model)
            .exec(&txn)
            .await?
            .last_insert_id;
        let own = match new.kind {
            BoundaryKind::Grids => boundary_generation::Column::GridsFrom,
            BoundaryKind::Jurisdictions => boundary_generation::Column::JurisdictionsFrom,
        };
        boundary_generation::Entity::update_many()
            .col_expr(own, Expr::value(id))
            .filter(boundary_generation::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        if !new.grids.is_empty() {
            let models = new.grids.iter().map(|g| grid::ActiveModel {
                id: Set(g.id.as_str().to_owned()),
                display_name: Set(g.display_name.as_str().to_owned()),
                community: Set(g.community.clone()),
                street: Set(g.street.clone()),
                district: Set(g.district.clone()),
                created_at_ms: Set(now.as_unix_millis()),
            });
            grid::Entity::insert_many(models)
                .on_conflict(
                    OnConflict::column(grid::Column::Id)
                        .update_columns([
                            grid::Column::DisplayName,
                            grid::Column::Community,
                            grid::Column::Street,
                            grid::Column::District,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        let stored = boundary_generation::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(StorageError::NotFound {
                entity: "boundary generation",
            })?;
        txn.commit().await?;
        generation_from_model(stored)
    }

    /// Generations, newest first, starting before `before`.
    #[instrument(skip_all, fields(limit))]
    pub async fn list_boundary_generations(
        self,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<BoundaryGeneration>, StorageError> {
        let mut query = boundary_generation::Entity::find()
            .select_only()
            .columns([
                boundary_generation::Column::Id,
                boundary_generation::Column::Kind,
                boundary_generation::Column::FeatureCount,
                boundary_generation::Column::GridsFrom,
                boundary_generation::Column::JurisdictionsFrom,
                boundary_generation::Column::Importer,
                boundary_generation::Column::CreatedAtMs,
            ])
            // The GeoJSON itself stays in the database; listings never carry it.
            .column_as(Expr::value(""), boundary_generation::Column::Geojson)
            .order_by_desc(boundary_generation::Column::Id);
        if let Some(before) = before {
            query = query.filter(boundary_generation::Column::Id.lt(before));
        }
        query
            .limit(limit)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(generation_from_model)
            .collect()
    }

    /// The newest boundary generation and catalogue version, read cheaply so replicas can tell when to reload.
    #[instrument(skip_all)]
    pub async fn routing_versions(self) -> Result<RoutingVersions, StorageError> {
        let generation: Option<i64> = boundary_generation::Entity::find()
            .select_only()
            .column(boundary_generation::Column::Id)
            .order_by_desc(boundary_generation::Column::Id)
            .into_tuple()
            .one(&self.store.db)
            .await?;
        let catalogue: Option<i64> = catalogue_version::Entity::find()
            .select_only()
            .column(catalogue_version::Column::Version)
            .order_by_desc(catalogue_version::Column::Version)
            .into_tuple()
            .one(&self.store.db)
            .await?;
        Ok(RoutingVersions {
            generation,
            catalogue,
        })
    }

    /// The boundaries in force, or `None` before the first import.
    #[instrument(skip_all)]
    pub async fn current_boundaries(self) -> Result<Option<BoundarySet>, StorageError> {
        let Some(latest) = boundary_generation::Entity::find()
            .order_by_desc(boundary_generation::Column::Id)
            .one(&self.store.db)
            .await?
        else {
            return Ok(None);
        };
        let geojson_of = |id: Option<i64>| async move {
            match id {
                Some(id) => boundary_generation::Entity::find_by_id(id)
                    .one(&self.store.db)
                    .await
                    .map(|m| m.map(|m| m.geojson)),
                None => Ok(None),
            }
        };
        Ok(Some(BoundarySet {
            generation: latest.id,
            grids: geojson_of(latest.grids_from).await?,
            jurisdictions: geojson_of(latest.jurisdictions_from).await?,
        }))
    }

    /// Stores a new version of the dispatch catalogue, all categories or none.
    #[instrument(skip_all, fields(categories = rules.len()))]
    pub async fn import_catalogue(
        self,
        rules: &[CategoryRule],
        now: Timestamp,
    ) -> Result<i64, StorageError> {
        let txn = self.store.db.begin().await?;
        let version = catalogue_version::Entity::insert(catalogue_version::ActiveModel {
            created_at_ms: Set(now.as_unix_millis()),
            ..Default::default()
        })
        .exec(&txn)
        .await?
        .last_insert_id;
        if !rules.is_empty() {
            let models = rules.iter().map(|r| catalogue_category::ActiveModel {
                version: Set(version),
                category_id: Set(r.id.as_str().to_owned()),
                display_name: Set(r.display_name.clone()),
                lead_type: Set(r.lead.as_str().to_owned()),
                assist_types: Set(r
                    .assists
                    .iter()
                    .map(DepartmentType::as_str)
                    .collect::<Vec<_>>()
                    .join(",")),
                default_grade: Set(r.default_grade.as_str().to_owned()),
            });
            catalogue_category::Entity::insert_many(models)
                .exec_without_returning(&txn)
                .await
                .map_err(|err| {
                    StorageError::classify(err, "catalogue category", "catalogue version")
                })?;
        }
        txn.commit().await?;
        Ok(version)
    }

    /// The catalogue in force and its version, or `None` before the first import.
    #[instrument(skip_all)]
    pub async fn current_catalogue(self) -> Result<Option<(i64, Vec<CategoryRule>)>, StorageError> {
        let Some(latest) = catalogue_version::Entity::find()
            .order_by_desc(catalogue_version::Column::Version)
            .one(&self.store.db)
            .await?
        else {
            return Ok(None);
        };
        let rules = catalogue_category::Entity::find()
            .filter(catalogue_category::Column::Version.eq(latest.version))
            .order_by_asc(catalogue_category::Column::CategoryId)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(category_from_model)
            .collect::<Result<_, _>>()?;
        Ok(Some((latest.version, rules)))
    }
}
