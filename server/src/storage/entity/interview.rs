//! The `interviews` table: summoned interviews (约谈) of departments' responsible persons.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "interviews")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub department_id: String,
    #[sea_orm(column_type = "Text")]
    pub person: String,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    /// A JSON array of supervision letter ids.
    #[sea_orm(column_type = "Text")]
    pub letters: String,
    /// A JSON array of ledger entry ids.
    #[sea_orm(column_type = "Text")]
    pub entries: String,
    #[sea_orm(column_type = "Text")]
    pub outcome: String,
    pub interviewer_id: String,
    pub held_at_ms: i64,
    pub created_at_ms: i64,
    pub request_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
