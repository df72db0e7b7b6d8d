//! Joint meetings (联席会议): called once per console id with their agenda in one write, listed by month, and each item decided once.

use std::collections::HashMap;

use gridwhistle_domain::ledger::AgendaReason;
use gridwhistle_domain::{CaseId, DepartmentId, LedgerEntryId, MeetingId, ReportId, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tracing::instrument;

use super::codec::{corrupt, int, ts};
use super::entity::{meeting, meeting_item, report};
use super::{MeetingRepo, StorageError};
use crate::model::{AgendaSubject, MeetingDecision, MeetingItemRecord, MeetingRecord};

const ENTITY: &str = "meeting";

fn bad(reason: impl ToString) -> StorageError {
    corrupt(ENTITY, reason)
}

fn item_model(
    meeting: &MeetingId,
    item: &MeetingItemRecord,
) -> Result<meeting_item::ActiveModel, StorageError> {
    let (entry, report) = match &item.subject {
        AgendaSubject::Entry(e) => (Some(e.to_string()), None),
        AgendaSubject::Case { report, .. } => (None, Some(report.to_string())),
    };
    let reasons: Vec<&str> = item.reasons.iter().map(|r| r.as_str()).collect();
    Ok(meeting_item::ActiveModel {
        meeting_id: Set(meeting.to_string()),
        number: Set(int("meeting_items.number", item.number)?),
        entry_id: Set(entry),
        report_id: Set(report),
        reasons: Set(reasons.join(",")),
        detail: Set(item.detail.clone()),
        lead_id: Set(None),
        assists: Set(None),
        decision: Set(None),
        decided_by: Set(None),
        decided_at_ms: Set(None),
    })
}

/// An item as stored, `cases` mapping the reports of its meeting's case items to their cases.
fn item_from_model(
    m: meeting_item::Model,
    cases: &HashMap<String, String>,
) -> Result<MeetingItemRecord, StorageError> {
    let subject = match (&m.entry_id, &m.report_id) {
        (Some(e), None) => AgendaSubject::Entry(LedgerEntryId::parse(e).map_err(bad)?),
        (None, Some(r)) => {
            let case = cases
                .get(r)
                .ok_or_else(|| bad("an item's case is missing"))?;
            AgendaSubject::Case {
                report: ReportId::parse(r).map_err(bad)?,
                case: CaseId::parse(case).map_err(bad)?,
            }
        }
        _ => return Err(bad("an item names neither an entry nor a case")),
    };
    let reasons = m
        .reasons
        .split(',')
        .map(|r| AgendaReason::parse(r).map_err(bad))
        .collect::<Result<Vec<_>, _>>()?;
    let decision = match (m.lead_id, m.decision, m.decided_by, m.decided_at_ms) {
        (Some(lead), Some(text), Some(by), Some(at)) => {
            let assists: Vec<String> =
                serde_json::from_str(m.assists.as_deref().unwrap_or("[]")).map_err(bad)?;
            Some(MeetingDecision {
                lead: DepartmentId::parse(&lead).map_err(bad)?,
                assists: assists
                    .iter()
                    .map(|d| DepartmentId::parse(d).map_err(bad))
                    .collect::<Result<_, _>>()?,
                text,
                decided_by: UserId::parse(&by).map_err(bad)?,
                decided_at: ts(at),
            })
        }
        _ => None,
    };
    Ok(MeetingItemRecord {
        number: u32::try_from(m.number).map_err(bad)?,
        subject,
        reasons,
        detail: m.detail,
        decision,
    })
}

async fn load(
    db: &impl ConnectionTrait,
    id: &MeetingId,
) -> Result<Option<MeetingRecord>, StorageError> {
    let Some(m) = meeting::Entity::find_by_id(id.to_string()).one(db).await? else {
        return Ok(None);
    };
    let rows = meeting_item::Entity::find()
        .filter(meeting_item::Column::MeetingId.eq(m.id.clone()))
        .order_by_asc(meeting_item::Column::Number)
        .all(db)
        .await?;
    // The case of every case item, in one statement.
    let reports: Vec<String> = rows.iter().filter_map(|r| r.report_id.clone()).collect();
    let cases: HashMap<String, String> = if reports.is_empty() {
        HashMap::new()
    } else {
        report::Entity::find()
            .select_only()
            .columns([report::Column::Id, report::Column::CaseId])
            .filter(report::Column::Id.is_in(reports))
            .into_tuple::<(String, Option<String>)>()
            .all(db)
            .await?
            .into_iter()
            .filter_map(|(report, case)| Some((report, case?)))
            .collect()
    };
    let items = rows
        .into_iter()
        .map(|row| item_from_model(row, &cases))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(MeetingRecord {
        id: MeetingId::parse(&m.id).map_err(bad)?,
        month: m.month,
        title: m.title,
        created_by: UserId::parse(&m.created_by).map_err(bad)?,
        created_at: ts(m.created_at_ms),
        request_hash: m.request_hash,
        items,
    }))
}

impl MeetingRepo<'_> {
    /// Stores `meeting` with its agenda, unless one under its id exists: then answers the stored one, for the caller to compare.
    #[instrument(skip_all, fields(meeting = %record.id))]
    pub async fn create(self, record: MeetingRecord) -> Result<MeetingRecord, StorageError> {
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let inserted = meeting::Entity::insert(meeting::ActiveModel {
                        id: Set(record.id.to_string()),
                        month: Set(record.month.clone()),
                        title: Set(record.title.clone()),
                        created_by: Set(record.created_by.to_string()),
                        created_at_ms: Set(record.created_at.as_unix_millis()),
                        request_hash: Set(record.request_hash.clone()),
                    })
                    .on_conflict(
                        OnConflict::column(meeting::Column::Id)
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(txn)
                    .await?;
                    if inserted == 0 {
                        return load(txn, &record.id)
                            .await?
                            .ok_or_else(|| bad("vanished while called again"));
                    }
                    let items = record
                        .items
                        .iter()
                        .map(|i| item_model(&record.id, i))
                        .collect::<Result<Vec<_>, _>>()?;
                    if !items.is_empty() {
                        meeting_item::Entity::insert_many(items).exec(txn).await?;
                    }
                    Ok(record)
                })
            })
            .await
    }

    /// One meeting with its agenda.
    #[instrument(skip_all, fields(meeting = %id))]
    pub async fn get(self, id: &MeetingId) -> Result<Option<MeetingRecord>, StorageError> {
        load(&self.store.db, id).await
    }

    /// The meetings of `month`, in the order they were called, with their agendas.
    #[instrument(skip_all)]
    pub async fn of_month(self, month: &str) -> Result<Vec<MeetingRecord>, StorageError> {
        let ids: Vec<String> = meeting::Entity::find()
            .filter(meeting::Column::Month.eq(month))
            .order_by_asc(meeting::Column::CreatedAtMs)
            .order_by_asc(meeting::Column::Id)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect();
        let mut meetings = Vec::with_capacity(ids.len());
        for id in ids {
            let id = MeetingId::parse(&id).map_err(bad)?;
            meetings.extend(load(&self.store.db, &id).await?);
        }
        Ok(meetings)
    }

    /// Records `decision` on item `number` of `meeting` unless it was decided already; answers whether it was recorded.
    #[instrument(skip_all, fields(meeting = %meeting, number))]
    pub async fn decide(
        self,
        meeting: &MeetingId,
        number: u32,
        decision: MeetingDecision,
    ) -> Result<bool, StorageError> {
        let (meeting, number) = (meeting.to_string(), int("meeting_items.number", number)?);
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let assists: Vec<&str> =
                        decision.assists.iter().map(DepartmentId::as_str).collect();
                    let updated = meeting_item::Entity::update_many()
                        .set(meeting_item::ActiveModel {
                            lead_id: Set(Some(decision.lead.to_string())),
                            assists: Set(Some(serde_json::to_string(&assists).map_err(bad)?)),
                            decision: Set(Some(decision.text.clone())),
                            decided_by: Set(Some(decision.decided_by.to_string())),
                            decided_at_ms: Set(Some(decision.decided_at.as_unix_millis())),
                            ..Default::default()
                        })
                        .filter(meeting_item::Column::MeetingId.eq(meeting))
                        .filter(meeting_item::Column::Number.eq(number))
                        .filter(meeting_item::Column::DecidedAtMs.is_null())
                        .exec(txn)
                        .await?;
                    Ok(updated.rows_affected == 1)
                })
            })
            .await
    }
}
