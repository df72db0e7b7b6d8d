//! The `time_limit_versions` table: each import of the time-limit policies, stored whole as JSON.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "time_limit_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub version: i64,
    pub body: String,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
