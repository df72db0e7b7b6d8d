//! The `reports` table: a report and, once whistled, its case; `version` counts its timeline events and is the etag.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub author_id: String,
    pub grid_id: Option<String>,
    pub category_id: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub latitude: f64,
    pub longitude: f64,
    pub coordinate_system: String,
    pub accuracy_m: f64,
    /// The position in WGS-84 as routing saw it, for bounding boxes and maps; set when filed.
    pub wgs84_latitude: Option<f64>,
    pub wgs84_longitude: Option<f64>,
    pub observed_at_ms: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub risk_grade: Option<String>,
    /// JSON: personal data, returned only to roles that need it and never logged.
    #[sea_orm(column_type = "Text")]
    pub parties: String,
    /// JSON list of attachment digests.
    #[sea_orm(column_type = "Text")]
    pub attachments: String,
    /// SHA-256 of the create request's payload, to tell a retry from a conflicting reuse of the id.
    pub request_hash: String,
    pub state: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub resolution: Option<String>,
    pub version: i64,
    #[sea_orm(unique)]
    pub case_id: Option<String>,
    pub case_state: Option<String>,
    pub whistle_kind: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub whistle_note: Option<String>,
    pub whistled_at_ms: Option<i64>,
    /// JSON: the routing decision the whistle used.
    #[sea_orm(column_type = "Text", nullable)]
    pub routing: Option<String>,
    pub rework_count: i32,
    pub satisfaction: Option<i32>,
    /// The time-limit policy version the case started with.
    pub policy_version: Option<i64>,
    /// The nearest due time of the pending deadlines (letters' reply dates aside), or `i64::MAX` while none is pending: the queue's order, kept by `schedule::apply_deadlines` in every change's transaction.
    pub due_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
