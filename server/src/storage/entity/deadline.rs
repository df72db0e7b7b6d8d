//! The `deadlines` table: one stage of one department's share of a case, or one step of a ledger entry's plan, with where its reminders and escalations stand.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deadlines")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The case's report; empty for a ledger step's deadline.
    pub report_id: Option<String>,
    pub department_id: String,
    pub stage: String,
    pub policy_version: i64,
    pub started_at_ms: i64,
    pub due_at_ms: i64,
    /// `pending`, `satisfied` or `cancelled`.
    pub state: String,
    pub satisfied_at_ms: Option<i64>,
    /// Ladder firings so far.
    pub escalation_level: i32,
    /// Index of the next firing in the stage's schedule.
    pub next_step: i32,
    pub next_fire_at_ms: Option<i64>,
    pub claimed_by: Option<String>,
    pub claimed_until_ms: Option<i64>,
    /// The supervision letter whose reply this deadline awaits; empty for the loop's stages.
    pub letter_id: String,
    /// Counted across a provisional calendar year; counted again when its official calendar is loaded.
    pub provisional: bool,
    /// The ledger entry and the number of its plan's step; empty for a case's deadline.
    pub entry_id: Option<String>,
    pub step: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
