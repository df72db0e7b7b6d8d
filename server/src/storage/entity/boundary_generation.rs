//! The `boundary_generations` table: each import of grids or jurisdictions, kept whole and never changed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "boundary_generations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub feature_count: i32,
    /// The generation whose grids are in force in this one (itself for a grid import).
    pub grids_from: Option<i64>,
    /// The generation whose jurisdictions are in force in this one.
    pub jurisdictions_from: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub geojson: String,
    pub importer: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
