//! The case timeline: every change's events, appended under the report's version in the change's transaction, and the event log read in commit order for streams.

use gridwhistle_domain::{DepartmentId, ReportId, Timestamp, UserId};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::instrument;

use super::codec::{corrupt, ids_from_json, ids_to_json, ms, parse, ts};
use super::entity::{assignment, case_event};
use super::multirow::insert_chunked;
use super::sql::after_position;
use super::{Backend, StorageError, TimelineRepo};
use crate::model::{EventFilter, EventPosition, EventRecord, NewEvent, ReportRecord};

/// A stored event as the feed and the timeline answer it.
pub(super) fn event_from_model(m: case_event::Model) -> Result<EventRecord, StorageError> {
    Ok(EventRecord {
        position: EventPosition {
            txid: m.txid,
            id: m.id,
        },
        report: ReportId::parse(&m.report_id).map_err(|e| corrupt("case event", e))?,
        sequence: m.sequence,
        author: UserId::parse(&m.author_id).map_err(|e| corrupt("case event", e))?,
        kind: parse("case event", &m.kind)?,
        actor: m
            .actor_id
            .map(|a| UserId::parse(&a).map_err(|e| corrupt("case event", e)))
            .transpose()?,
        department: m
            .department_id
            .map(|d| DepartmentId::parse(&d).map_err(|e| corrupt("case event", e)))
            .transpose()?,
        at: ts(m.at_ms),
        text: m.text,
        attachments: ids_from_json("case event", &m.attachments)?,
    })
}

/// Appends `events` to `report`'s timeline from `first_sequence` on.
pub(super) async fn insert_events(
    db: &impl ConnectionTrait,
    report: &ReportRecord,
    first_sequence: i64,
    events: &[NewEvent],
    at: Timestamp,
) -> Result<(), StorageError> {
    let models = events
        .iter()
        .zip(first_sequence..)
        .map(|(e, sequence)| event_model(&report.id, &report.author, sequence, e, at))
        .collect::<Vec<_>>();
    insert_chunked(db, models).await
}

/// The row of one event, `sequence` on its report's timeline.
pub(super) fn event_model(
    report: &ReportId,
    author: &UserId,
    sequence: i64,
    e: &NewEvent,
    at: Timestamp,
) -> case_event::ActiveModel {
    case_event::ActiveModel {
        id: NotSet,
        txid: NotSet,
        report_id: Set(report.to_string()),
        sequence: Set(sequence),
        author_id: Set(author.to_string()),
        kind: Set(e.kind.as_str().to_owned()),
        actor_id: Set(e.actor.map(|a| a.to_string())),
        department_id: Set(e.department.as_ref().map(|d| d.as_str().to_owned())),
        at_ms: Set(ms(at)),
        text: Set(e.text.clone()),
        attachments: Set(ids_to_json(&e.attachments)),
    }
}

impl TimelineRepo<'_> {
    /// The report's whole timeline, oldest first.
    #[instrument(skip_all, fields(report = %id))]
    pub async fn of_report(self, id: &ReportId) -> Result<Vec<EventRecord>, StorageError> {
        case_event::Entity::find()
            .filter(case_event::Column::ReportId.eq(id.to_string()))
            .order_by_asc(case_event::Column::Sequence)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(event_from_model)
            .collect()
    }

    /// Where a stream that starts now begins: it sees every event committed after this call, and perhaps a few just before.
    pub async fn horizon(self) -> Result<EventPosition, StorageError> {
        match self.store.backend {
            Backend::Sqlite => {
                let last = case_event::Entity::find()
                    .order_by_desc(case_event::Column::Id)
                    .one(&self.store.db)
                    .await?;
                Ok(EventPosition {
                    txid: 0,
                    id: last.map_or(0, |e| e.id),
                })
            }
            Backend::Postgres => {
                let row = self
                    .store
                    .db
                    .query_one_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Postgres,
                        "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint AS xmin",
                    ))
                    .await?
                    .ok_or(StorageError::NotFound { entity: "snapshot" })?;
                let xmin: i64 = row.try_get("", "xmin")?;
                Ok(EventPosition { txid: xmin, id: 0 })
            }
        }
    }

    /// Events after `after` in commit order, for one author or department, at most `limit`.
    ///
    /// On PostgreSQL only transactions older than every running one are read, so no event can later commit behind the returned positions.
    #[instrument(skip_all, fields(limit))]
    pub async fn after(
        self,
        filter: &EventFilter,
        after: EventPosition,
        limit: u64,
    ) -> Result<Vec<EventRecord>, StorageError> {
        let mut query = case_event::Entity::find();
        query = match filter {
            EventFilter::Author(author) => {
                query.filter(case_event::Column::AuthorId.eq(author.to_string()))
            }
            EventFilter::Department(department) => {
                let mut summoned = Query::select();
                summoned
                    .column(assignment::Column::ReportId)
                    .from(assignment::Entity)
                    .and_where(assignment::Column::DepartmentId.eq(department.as_str()));
                query.filter(case_event::Column::ReportId.in_subquery(summoned))
            }
            EventFilter::Kind(kind) => query.filter(case_event::Column::Kind.eq(kind.as_str())),
        };
        query = match self.store.backend {
            Backend::Sqlite => query.filter(case_event::Column::Id.gt(after.id)),
            Backend::Postgres => query
                .filter(after_position(
                    Expr::col(case_event::Column::Txid),
                    after.txid,
                    Expr::col(case_event::Column::Id),
                    after.id,
                ))
                .filter(Expr::cust(
                    "txid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint",
                )),
        };
        query
            .order_by_asc(case_event::Column::Txid)
            .order_by_asc(case_event::Column::Id)
            .limit(limit)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(event_from_model)
            .collect()
    }

    /// A receiver that ticks after every committed write of this process, for streams to wake on.
    pub fn subscribe_commits(self) -> tokio::sync::watch::Receiver<u64> {
        self.store.committed.subscribe()
    }
}
