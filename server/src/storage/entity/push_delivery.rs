//! The `push_deliveries` table: one push of one notification to one device, written once with its first outcome and moved on by retries.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub notification_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub device_id: String,
    /// `queued` (a retry waits), `sent`, `dropped`, `dead` or `skipped`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at_ms: i64,
    pub claimed_by: Option<String>,
    pub claimed_until_ms: i64,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
