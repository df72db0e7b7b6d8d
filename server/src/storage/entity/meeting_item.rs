//! The `meeting_items` table: a joint meeting's agenda, an entry of the ledger or a case per item, with the meeting's decision.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "meeting_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub meeting_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i32,
    pub entry_id: Option<String>,
    pub report_id: Option<String>,
    /// The agenda reasons' text forms, comma-separated.
    pub reasons: String,
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    pub lead_id: Option<String>,
    /// A JSON array of department ids.
    #[sea_orm(column_type = "Text", nullable)]
    pub assists: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
