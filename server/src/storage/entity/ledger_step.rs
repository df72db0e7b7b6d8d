//! The `ledger_steps` table: the steps of each entry's plan, superseded ones included.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub entry_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i32,
    pub department_id: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub due_at_ms: i64,
    pub state: String,
    pub revision: i32,
    pub done_at_ms: Option<i64>,
    pub done_by: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub result: Option<String>,
    /// A JSON array of attachment ids.
    #[sea_orm(column_type = "Text")]
    pub attachments: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
