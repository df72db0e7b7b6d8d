//! The `notifications` table: the outbox of notifications, written with the events that cause them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The report (or case) it is about; empty when it is about a ledger entry's step.
    pub report_id: Option<String>,
    pub department_id: Option<String>,
    /// `duty_officers`, `department_head`, `supervisors`, `district_leader` or `reporter`.
    pub audience: String,
    /// A `NoticeKind` text form: `case_assigned`, `reminder`, `escalation`, `supervision_letter`…
    pub kind: String,
    pub stage: Option<String>,
    /// The timeline event that caused it.
    pub event_sequence: i64,
    /// The deadline's escalation level after the firing, and its due time.
    pub escalation_level: i32,
    pub due_at_ms: Option<i64>,
    pub created_at_ms: i64,
    /// `queued` until a push sender claims it (`sending`) and has recorded a delivery for every device (`expanded`), or finds its stage met (`skipped`) or it too old to push (`expired`).
    pub state: String,
    /// The one user it is for: the grid worker when its audience is `reporter`, the entry's (or case's) named leader for `district_leader` (none: the supervisors hear of it).
    pub recipient_user_id: Option<String>,
    /// The sender pushing it (`sending`), and until when.
    pub claimed_by: Option<String>,
    pub claimed_until_ms: i64,
    /// The ledger entry and its step a ladder fired for; empty for a case's notification.
    pub entry_id: Option<String>,
    pub step: Option<i32>,
    /// Where a notification about a ledger step stands in the event log's commit order (a case's takes its event's place): see `outbox::log_position`.
    pub log_txid: Option<i64>,
    pub log_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
