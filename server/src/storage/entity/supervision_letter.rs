//! The `supervision_letters` table: letters (督办函) from supervisors to a department, and the department's reply.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "supervision_letters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub department_id: String,
    pub issuer_id: String,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    pub reply_due_at_ms: i64,
    pub created_at_ms: i64,
    /// SHA-256 of the issuing request, to tell a retry from a reuse of the id.
    pub request_hash: String,
    pub answered_at_ms: Option<i64>,
    pub answered_by: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub reply: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
