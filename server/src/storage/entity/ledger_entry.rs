//! The `ledger_entries` table: entries of the ledger of long-standing cases (积案台账).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The report whose case the entry was taken from.
    pub report_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub summary: String,
    pub nature: String,
    pub since_ms: i64,
    pub complexity: String,
    pub social_impact: String,
    pub grade: String,
    pub unit_id: String,
    #[sea_orm(column_type = "Text")]
    pub responsible_person: String,
    pub leader_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub parties: String,
    pub state: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub close_result: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub parties_stance: Option<String>,
    /// The nearest due time of an open step; `i64::MAX` when none is open.
    pub next_due_ms: i64,
    /// The count of timeline events: the etag.
    pub version: i64,
    pub request_hash: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub closed_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
