//! The `users` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: String,
    pub grid_id: Option<String>,
    pub department_id: Option<String>,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Access tokens of an older generation are refused.
    pub token_generation: i64,
    /// When the generation last changed; replicas read the changes of the last token lifetime.
    pub token_generation_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
