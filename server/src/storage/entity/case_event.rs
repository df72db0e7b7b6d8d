//! The `case_events` table: the append-only timeline of every report and case, read in commit order by the watch streams.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The writing transaction's id on PostgreSQL (set by the column default), 0 on SQLite.
    pub txid: i64,
    pub report_id: String,
    pub sequence: i64,
    /// The report's author, so a grid worker's stream filters without a join.
    pub author_id: String,
    pub kind: String,
    pub actor_id: Option<String>,
    pub department_id: Option<String>,
    pub at_ms: i64,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    #[sea_orm(column_type = "Text")]
    pub attachments: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
