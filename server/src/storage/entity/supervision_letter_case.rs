//! The `supervision_letter_cases` table: the cases a letter is about, in the order the supervisor named them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "supervision_letter_cases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub letter_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub report_id: String,
    pub position: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
