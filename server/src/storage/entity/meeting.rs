//! The `meetings` table: joint meetings (联席会议), one agenda each.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meetings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `YYYY-MM`.
    pub month: String,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub request_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
