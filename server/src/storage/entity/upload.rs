//! The `uploads` table: resumable attachment uploads and how many bytes of each are durably committed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "uploads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner_id: String,
    pub total_size: i64,
    pub sha256: String,
    pub committed_size: i64,
    pub created_at_ms: i64,
    pub completed_at_ms: Option<i64>,
    /// Why the upload was refused at its end; a refused upload takes no more bytes.
    pub refused_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
