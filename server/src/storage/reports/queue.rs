//! The case queue: whistled cases by filter, ordered by a due time or the whistle time, each page one indexed statement and the records it names.

use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Order, Query, SelectStatement};
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _};
use tracing::instrument;

use super::rows::with_assignments;
use crate::model::{CaseOrder, CaseQuery, QueuePosition, ReportRecord};
use crate::storage::entity::{assignment, grid, report};
use crate::storage::sql::after_position;
use crate::storage::{ReportRepo, StorageError};

/// The column a page is sorted by, and the report id column that breaks its ties: both from one index.
fn sort_columns(query: &CaseQuery) -> (Expr, Expr) {
    match (query.order, query.department.is_some()) {
        (CaseOrder::Due, true) => (
            Expr::col((assignment::Entity, assignment::Column::DueAtMs)),
            Expr::col((assignment::Entity, assignment::Column::ReportId)),
        ),
        (CaseOrder::Due, false) => (
            Expr::col((report::Entity, report::Column::DueAtMs)),
            Expr::col((report::Entity, report::Column::Id)),
        ),
        (CaseOrder::Whistled, _) => (
            Expr::col((report::Entity, report::Column::WhistledAtMs)),
            Expr::col((report::Entity, report::Column::Id)),
        ),
    }
}

/// The due column the query's due range applies to: the department's own when one is named.
fn due_column(query: &CaseQuery) -> Expr {
    if query.department.is_some() {
        Expr::col((assignment::Entity, assignment::Column::DueAtMs))
    } else {
        Expr::col((report::Entity, report::Column::DueAtMs))
    }
}

/// Keeps the whistle and due times, and the position, within the query's ranges.
fn within_ranges(select: &mut SelectStatement, query: &CaseQuery) {
    let degrees = [
        (report::Column::Wgs84Latitude, query.latitude),
        (report::Column::Wgs84Longitude, query.longitude),
    ];
    for (column, range) in degrees {
        let column = Expr::col((report::Entity, column));
        if let Some(min) = range.min {
            select.and_where(column.clone().gte(min));
        }
        if let Some(max) = range.max {
            select.and_where(column.lte(max));
        }
    }
    let whistled = Expr::col((report::Entity, report::Column::WhistledAtMs));
    for (column, range) in [(whistled, query.whistled), (due_column(query), query.due)] {
        if let Some(from) = range.from {
            select.and_where(column.clone().gte(from.as_unix_millis()));
        }
        if let Some(until) = range.until {
            select.and_where(column.lt(until.as_unix_millis()));
        }
    }
}

/// The statement of one page: report ids with their sort keys.
fn page_statement(query: &CaseQuery, after: Option<QueuePosition>, limit: u64) -> SelectStatement {
    let (key, tie) = sort_columns(query);
    let col = |c: report::Column| Expr::col((report::Entity, c));
    let mut select = Query::select();
    select
        .expr_as(tie.clone(), Alias::new("report_id"))
        .expr_as(key.clone(), Alias::new("sort_key"))
        .from(report::Entity)
        .and_where(col(report::Column::CaseId).is_not_null());
    if let Some(department) = &query.department {
        select.inner_join(
            assignment::Entity,
            Expr::col((assignment::Entity, assignment::Column::ReportId))
                .equals((report::Entity, report::Column::Id))
                .and(
                    Expr::col((assignment::Entity, assignment::Column::DepartmentId))
                        .eq(department.as_str()),
                ),
        );
    }
    if !query.states.is_empty() {
        select.and_where(
            col(report::Column::CaseState).is_in(query.states.iter().map(|s| s.as_str())),
        );
    }
    if let Some(street) = &query.street {
        let mut grids = Query::select();
        grids
            .column(grid::Column::Id)
            .from(grid::Entity)
            .and_where(Expr::col(grid::Column::Street).eq(street.as_str()));
        select.and_where(col(report::Column::GridId).in_subquery(grids));
    }
    let equal = [
        (
            report::Column::GridId,
            query.grid.as_ref().map(|g| g.as_str().to_owned()),
        ),
        (
            report::Column::CategoryId,
            query.category.as_ref().map(|c| c.as_str().to_owned()),
        ),
        (
            report::Column::RiskGrade,
            query.risk_grade.map(|g| g.as_str().to_owned()),
        ),
        (
            report::Column::WhistleKind,
            query.whistle_kind.map(|k| k.as_str().to_owned()),
        ),
    ];
    for (column, value) in equal {
        if let Some(value) = value {
            select.and_where(col(column).eq(value));
        }
    }
    within_ranges(&mut select, query);
    if let Some(after) = after {
        select.and_where(after_position(
            key.clone(),
            after.key,
            tie.clone(),
            after.report.to_string(),
        ));
    }
    select
        .order_by_expr(key, Order::Asc)
        .order_by_expr(tie, Order::Asc)
        .limit(limit);
    select
}

impl ReportRepo<'_> {
    /// A page of the case queue after `after`, at most `limit` cases, each with its sort key (a due or whistle time in milliseconds; `NOTHING_DUE` when nothing is due).
    #[instrument(skip_all, fields(limit))]
    pub async fn queue(
        self,
        query: &CaseQuery,
        after: Option<QueuePosition>,
        limit: u64,
    ) -> Result<Vec<(i64, ReportRecord)>, StorageError> {
        let statement = page_statement(query, after, limit);
        let page = self
            .store
            .db
            .query_all(&statement)
            .await?
            .into_iter()
            .map(|row| {
                Ok((
                    row.try_get::<String>("", "report_id")?,
                    row.try_get::<Option<i64>>("", "sort_key")?.unwrap_or(0),
                ))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        records_in_order(&self.store.db, page).await
    }

    /// The statement a queue page runs, as SQL for this backend, for `EXPLAIN` in benchmarks.
    pub fn queue_sql(self, query: &CaseQuery, after: Option<QueuePosition>, limit: u64) -> String {
        let statement = page_statement(query, after, limit);
        match self.store.backend {
            crate::storage::Backend::Sqlite => {
                statement.to_string(sea_orm::sea_query::SqliteQueryBuilder)
            }
            crate::storage::Backend::Postgres => {
                statement.to_string(sea_orm::sea_query::PostgresQueryBuilder)
            }
        }
    }
}

/// The records of `page`'s report ids, each with its key, in the page's order.
pub(super) async fn records_in_order(
    db: &impl ConnectionTrait,
    page: Vec<(String, i64)>,
) -> Result<Vec<(i64, ReportRecord)>, StorageError> {
    let models = report::Entity::find()
        .filter(report::Column::Id.is_in(page.iter().map(|(id, _)| id.clone())))
        .all(db)
        .await?;
    let mut records: std::collections::HashMap<String, ReportRecord> = with_assignments(db, models)
        .await?
        .into_iter()
        .map(|r| (r.id.to_string(), r))
        .collect();
    page.into_iter()
        .map(|(id, key)| {
            let record = records
                .remove(&id)
                .ok_or(StorageError::NotFound { entity: "case" })?;
            Ok((key, record))
        })
        .collect()
}
