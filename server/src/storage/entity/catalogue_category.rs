//! The `catalogue_categories` table: the categories of one catalogue version.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalogue_categories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub category_id: String,
    pub display_name: String,
    pub lead_type: String,
    /// Assisting department types, comma-separated (type codes never contain commas).
    pub assist_types: String,
    pub default_grade: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
