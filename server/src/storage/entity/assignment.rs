//! The `assignments` table: one summoned department's share of a case.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "assignments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub report_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub department_id: String,
    pub department_type: String,
    pub role: String,
    pub state: String,
    pub jurisdiction: Option<String>,
    pub contacted: bool,
    pub summoned_at_ms: i64,
    pub report_in_at_ms: Option<i64>,
    /// When the department reached the parties; `None` before it did.
    pub contact_at_ms: Option<i64>,
    pub complete_at_ms: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub result: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub result_attachments: String,
    /// The nearest due time of the pending deadlines (letters' reply dates aside), or `i64::MAX` while none is pending: the queue's order, kept by `schedule::apply_deadlines` in every change's transaction.
    pub due_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
