//! The `extensions` table: departments' requests for more time (延期), decided by supervisors.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "extensions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub report_id: String,
    pub department_id: String,
    pub stage: String,
    pub requested_due_ms: i64,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    pub state: String,
    pub approved_due_ms: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub decision_reason: Option<String>,
    pub created_at_ms: i64,
    pub decided_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
