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
    /// The facts the figures count (`closed_loop::facts`); see migration m0017.
    /// The report-in and finish stages' due times, and the escalations fired on the share: kept by `schedule` with the deadlines.
    pub report_in_due_ms: Option<i64>,
    pub finish_due_ms: Option<i64>,
    pub escalations: i32,
    /// Kept by the loop's steps: how often the share completed, had its result rejected, returned the case, had an extension approved.
    pub completions: i32,
    pub rejections: i32,
    pub returns: i32,
    pub extensions_approved: i32,
    /// When the grid worker accepted the case's result, the score, and the working time from whistle to acceptance.
    pub accepted_at_ms: Option<i64>,
    pub satisfaction: Option<i32>,
    pub working_ms: Option<i64>,
    /// 0 until the facts are built (rows from before they existed), then `FACTS_VERSION`.
    pub facts_version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
