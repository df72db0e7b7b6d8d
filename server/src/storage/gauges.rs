//! What the operations gauges read: the departments' open and overdue shares by stage, and the outbox's backlog and dead letters; each a count over a partial index that holds only the rows counted, however long the history grows.

use gridwhistle_domain::Timestamp;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};

use super::entity::{assignment, notification, push_delivery};
use super::{GaugeRepo, StorageError};

/// One department's open shares at one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareCount {
    pub department: String,
    /// The share's state: `summoned`, `reported_in` or `contacted`.
    pub stage: String,
    pub open: i64,
    /// Those past their due time.
    pub overdue: i64,
}

/// The gauges read at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GaugeReading {
    pub shares: Vec<ShareCount>,
    /// Notifications not yet expanded into deliveries (every notification, when no push channel runs).
    pub unsent_notifications: u64,
    /// Deliveries queued for a first attempt or a retry.
    pub queued_deliveries: u64,
    pub dead_letters: u64,
}

/// The states of a share still open: as the partial index `ix_assignments_open` holds them.
const OPEN_STATES: [&str; 3] = ["summoned", "reported_in", "contacted"];

impl GaugeRepo<'_> {
    /// Reads every gauge, overdue counted against `now`.
    pub async fn read(self, now: Timestamp) -> Result<GaugeReading, StorageError> {
        use assignment::Column as A;
        let db = &self.store.db;
        let overdue = Expr::case(Expr::col(A::DueAtMs).lt(now.as_unix_millis()), 1)
            .finally(0)
            .sum();
        let shares: Vec<(String, String, i64, Option<i64>)> = assignment::Entity::find()
            .select_only()
            .column(A::DepartmentId)
            .column(A::State)
            .expr(Expr::col(A::ReportId).count())
            .expr(overdue)
            .filter(A::State.is_in(OPEN_STATES))
            .filter(A::AcceptedAtMs.is_null())
            .group_by(A::DepartmentId)
            .group_by(A::State)
            .into_tuple()
            .all(db)
            .await?;
        let unsent_notifications = notification::Entity::find()
            .filter(notification::Column::State.is_in(["queued", "sending"]))
            .count(db)
            .await?;
        let queued_deliveries = push_delivery::Entity::find()
            .filter(push_delivery::Column::State.eq("queued"))
            .count(db)
            .await?;
        let dead_letters = push_delivery::Entity::find()
            .filter(push_delivery::Column::State.eq("dead"))
            .count(db)
            .await?;
        Ok(GaugeReading {
            shares: shares
                .into_iter()
                .map(|(department, stage, open, overdue)| ShareCount {
                    department,
                    stage,
                    open,
                    overdue: overdue.unwrap_or(0),
                })
                .collect(),
            unsent_notifications,
            queued_deliveries,
            dead_letters,
        })
    }

    /// The connection pool's connections in use and idle.
    pub fn pool(self) -> (u32, u32) {
        let db = &self.store.db;
        let (size, idle) = match self.store.backend {
            super::Backend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            super::Backend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        (size.saturating_sub(idle), idle)
    }
}
