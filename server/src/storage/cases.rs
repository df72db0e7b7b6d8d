//! Reports, cases, assignments and the case timeline: idempotent creation, version-checked changes that append their events in the same transaction, and the event log read in commit order.

use std::collections::HashMap;

use gridwhistle_dispatcher::deadlines::DeadlineChange;
use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::routing::rules::Position;
use gridwhistle_domain::{
    AssignmentRole, AssignmentState, AttachmentId, CaseId, CaseState, CategoryId, CoordinateSystem,
    DeadlineStage, DepartmentId, EventKind, ExtensionId, ExtensionState, GeoPoint, GridId,
    IdNumber, LetterId, Party, PhoneNumber, ReportId, ReportState, RiskGrade, Timestamp, UserId,
    WhistleKind,
};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::codec::{bigint, corrupt, int};
use super::entity::{assignment, case_event, deadline, extension, notification, report, upload};
use super::sql::Sql;
use super::writer::BoxFuture;
use super::{Backend, StorageError, Store};

/// A report as filed, before storage gives it a state and a version.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub id: ReportId,
    pub author: UserId,
    pub grid: Option<GridId>,
    pub category: CategoryId,
    pub description: String,
    pub location: Position,
    pub observed_at: Timestamp,
    pub risk_grade: Option<RiskGrade>,
    pub parties: Vec<Party>,
    pub attachments: Vec<AttachmentId>,
    /// SHA-256 of the request payload: a retry carries the same, a conflicting reuse of the id does not.
    pub request_hash: String,
}

/// A report with its case and assignments, as stored.
#[derive(Debug, Clone)]
pub struct ReportRecord {
    pub id: ReportId,
    pub author: UserId,
    pub grid: Option<GridId>,
    pub category: CategoryId,
    pub description: String,
    pub location: Position,
    pub observed_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub risk_grade: Option<RiskGrade>,
    pub parties: Vec<Party>,
    pub attachments: Vec<AttachmentId>,
    pub state: ReportState,
    pub resolution: Option<String>,
    /// How many timeline events the report has; the etag.
    pub version: i64,
    pub case: Option<CaseRecord>,
    pub assignments: Vec<AssignmentRecord>,
    /// Every deadline the case ever started, by department and stage.
    pub deadlines: Vec<DeadlineRecord>,
}

/// What appending events to a report needs of it: whose it is, and where its timeline and policy stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHead {
    pub id: ReportId,
    pub author: UserId,
    /// How many timeline events the report has.
    pub version: i64,
    /// The case's time-limit policy version, for deadlines it starts.
    pub policy_version: Option<i64>,
}

impl ReportRecord {
    pub fn head(&self) -> ReportHead {
        ReportHead {
            id: self.id,
            author: self.author,
            version: self.version,
            policy_version: self.case.as_ref().and_then(|c| c.policy_version),
        }
    }

    /// The departments summoned to the case, whatever their state.
    pub fn departments(&self) -> Vec<DepartmentId> {
        self.assignments
            .iter()
            .map(|a| a.department.clone())
            .collect()
    }

    /// The departments that still work or worked the case: those that returned it or were withdrawn from it keep reading it for the record, but no longer need the parties (need-to-know).
    pub fn working_departments(&self) -> Vec<DepartmentId> {
        self.assignments
            .iter()
            .filter(|a| {
                !matches!(
                    a.state,
                    AssignmentState::Returned | AssignmentState::Withdrawn
                )
            })
            .map(|a| a.department.clone())
            .collect()
    }

    pub fn assignment_mut(&mut self, department: &DepartmentId) -> Option<&mut AssignmentRecord> {
        self.assignments
            .iter_mut()
            .find(|a| a.department == *department)
    }
}

/// The case a whistle opened.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRecord {
    pub id: CaseId,
    pub state: CaseState,
    pub kind: WhistleKind,
    pub note: String,
    pub whistled_at: Timestamp,
    pub routing: RoutingRecord,
    pub rework_count: u32,
    pub satisfaction: Option<u8>,
    /// The time-limit policy version the case keeps; `None` for a case whistled before policies existed.
    pub policy_version: Option<i64>,
}

/// The routing decision a whistle (or a re-route) used, kept as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRecord {
    pub generation: i64,
    /// `single_cover`, `tie_break` or `fallback`.
    pub rule: String,
    pub near_border: bool,
    pub border_distance_m: Option<f64>,
    pub needs_supervisor: bool,
    pub routed_lat: f64,
    pub routed_lng: f64,
    pub grid: Option<String>,
    pub explanation: String,
    pub departments: Vec<RoutedRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutedRecord {
    pub department: String,
    pub department_type: String,
    /// `lead` or `assist`.
    pub role: String,
    pub jurisdiction: Option<String>,
}

/// One summoned department's share of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentRecord {
    pub department: DepartmentId,
    pub department_type: String,
    pub role: AssignmentRole,
    pub state: AssignmentState,
    pub jurisdiction: Option<String>,
    pub contacted: bool,
    pub summoned_at: Timestamp,
    pub report_in_at: Option<Timestamp>,
    pub complete_at: Option<Timestamp>,
    pub result: Option<String>,
    pub result_attachments: Vec<AttachmentId>,
}

/// One stage of one department's share of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineRecord {
    /// The stored row's id.
    pub id: i64,
    /// The supervision letter whose reply this deadline awaits; `None` for the loop's stages.
    pub letter: Option<LetterId>,
    pub department: DepartmentId,
    pub stage: DeadlineStage,
    pub policy_version: i64,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
    pub state: DeadlineState,
    pub satisfied_at: Option<Timestamp>,
    /// Ladder firings so far.
    pub escalation_level: u32,
    /// Index of the next firing in the stage's schedule.
    pub next_step: u32,
    pub next_fire_at: Option<Timestamp>,
    /// Counted across a provisional calendar year; counted again when its official calendar is loaded.
    pub provisional: bool,
}

/// A notification for the outbox, written with the change's first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub department: Option<DepartmentId>,
    /// `duty_officers`, `department_head`, `supervisors`, `district_leader` or `reporter`.
    pub audience: &'static str,
    pub kind: NoticeKind,
    /// The one user it is for, when the audience is `reporter`.
    pub recipient: Option<UserId>,
    pub stage: Option<DeadlineStage>,
    /// For deadline firings: the escalation level after it, and the due time.
    pub escalation_level: u32,
    pub due_at: Option<Timestamp>,
}

/// An escalation as supervisors see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationRecord {
    pub case: CaseId,
    pub department: Option<DepartmentId>,
    pub stage: Option<DeadlineStage>,
    pub audience: String,
    pub escalation_level: u32,
    pub due_at: Option<Timestamp>,
}

/// A pending deadline past its due time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueRecord {
    pub deadline: i64,
    pub case: CaseId,
    pub department: DepartmentId,
    pub stage: DeadlineStage,
    pub due_at: Timestamp,
    pub risk_grade: Option<RiskGrade>,
    pub escalation_level: u32,
    /// Counted across a provisional calendar year.
    pub provisional: bool,
}

/// Which overdue deadlines to list.
#[derive(Debug, Clone, Default)]
pub struct OverdueFilter {
    pub department: Option<DepartmentId>,
    pub risk_grade: Option<RiskGrade>,
    pub stage: Option<DeadlineStage>,
}

/// Where a deadline stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineState {
    Pending,
    Satisfied,
    Cancelled,
}

impl DeadlineState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            DeadlineState::Pending => "pending",
            DeadlineState::Satisfied => "satisfied",
            DeadlineState::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Result<Self, StorageError> {
        match text {
            "pending" => Ok(DeadlineState::Pending),
            "satisfied" => Ok(DeadlineState::Satisfied),
            "cancelled" => Ok(DeadlineState::Cancelled),
            other => Err(corrupt("deadline", format!("unknown state {other:?}"))),
        }
    }
}

/// A timeline entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    /// `None` for the system.
    pub actor: Option<UserId>,
    pub department: Option<DepartmentId>,
    pub text: String,
    pub attachments: Vec<AttachmentId>,
}

/// Where an event sits in commit order: the writing transaction (PostgreSQL; 0 on SQLite), then the row id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventPosition {
    pub txid: i64,
    pub id: i64,
}

/// A stored timeline entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub position: EventPosition,
    pub report: ReportId,
    pub sequence: i64,
    pub author: UserId,
    pub kind: EventKind,
    pub actor: Option<UserId>,
    pub department: Option<DepartmentId>,
    pub at: Timestamp,
    pub text: String,
    pub attachments: Vec<AttachmentId>,
}

/// Whose events a stream follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// Every event of the author's reports.
    Author(UserId),
    /// Every event of the cases the department is summoned to.
    Department(DepartmentId),
    /// Every event of one kind, on every case.
    Kind(EventKind),
}

/// A department's request for more time.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionRecord {
    pub id: ExtensionId,
    pub report: ReportId,
    pub department: DepartmentId,
    pub stage: DeadlineStage,
    pub requested_due: Timestamp,
    pub reason: String,
    pub state: ExtensionState,
    pub approved_due: Option<Timestamp>,
    pub decision_reason: Option<String>,
    pub created_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

/// What a change writes besides the report and its assignments.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    /// At least one: every change is on the timeline.
    pub events: Vec<NewEvent>,
    pub extension: Option<ExtensionRecord>,
    /// Deadlines the change starts, satisfies or cancels, under the case's policy version.
    pub deadlines: Vec<DeadlineChange>,
    /// Notifications for the outbox, caused by the change's first event.
    pub notifications: Vec<NewNotification>,
    /// A supervisor's decision on a pending extension; the change fails if it is no longer pending.
    pub decided_extension: Option<ExtensionRecord>,
}

/// How `CreateReport` went.
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    Created(ReportRecord),
    /// The same id and payload were filed before: the report as it was first answered.
    Replayed(ReportRecord),
    /// The id was filed before with another payload or by another author.
    Conflict,
}

/// Why a change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("report not found")]
    NotFound,
    /// The caller's etag is not the current version.
    #[error("stale version")]
    Stale,
    /// The change itself refused.
    #[error("change refused")]
    Refused(E),
}

/// How a change names its report: by the report, or by the case it became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKey {
    Report(ReportId),
    Case(CaseId),
}

/// A listing filter for a department's inbox.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    /// Only assignments in this state; `None` lists every active one.
    pub state: Option<AssignmentState>,
    pub risk_grade: Option<RiskGrade>,
}

/// How often a change without an etag re-reads and retries when a concurrent change won.
const UNCHECKED_RETRIES: usize = 8;

#[derive(Serialize, Deserialize)]
struct PartyJson {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_number: Option<String>,
    #[serde(default)]
    relation: String,
}

fn parties_to_json(parties: &[Party]) -> String {
    let rows: Vec<PartyJson> = parties
        .iter()
        .map(|p| PartyJson {
            name: p.name.clone(),
            phone: p.phone.as_ref().map(|v| v.as_str().to_owned()),
            id_number: p.id_number.as_ref().map(|v| v.as_str().to_owned()),
            relation: p.relation.clone(),
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned())
}

fn parties_from_json(text: &str) -> Result<Vec<Party>, StorageError> {
    // Errors name the field only: the stored values are personal data.
    let rows: Vec<PartyJson> =
        serde_json::from_str(text).map_err(|_| corrupt("report", "parties are not valid JSON"))?;
    rows.into_iter()
        .map(|p| {
            Ok(Party {
                name: p.name,
                phone: p
                    .phone
                    .map(|v| PhoneNumber::parse(&v))
                    .transpose()
                    .map_err(|_| corrupt("report", "a stored phone number is invalid"))?,
                id_number: p
                    .id_number
                    .map(|v| IdNumber::parse(&v))
                    .transpose()
                    .map_err(|_| corrupt("report", "a stored identity number is invalid"))?,
                relation: p.relation,
            })
        })
        .collect()
}

fn ids_to_json(ids: &[AttachmentId]) -> String {
    let rows: Vec<&str> = ids.iter().map(AttachmentId::as_str).collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned())
}

fn ids_from_json(entity: &'static str, text: &str) -> Result<Vec<AttachmentId>, StorageError> {
    let rows: Vec<String> = serde_json::from_str(text).map_err(|e| corrupt(entity, e))?;
    rows.iter()
        .map(|r| AttachmentId::parse(r).map_err(|e| corrupt(entity, e)))
        .collect()
}

pub(super) fn parse<T: std::str::FromStr>(
    entity: &'static str,
    text: &str,
) -> Result<T, StorageError>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| corrupt(entity, e))
}

fn ms(t: Timestamp) -> i64 {
    t.as_unix_millis()
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn assignment_from_model(m: assignment::Model) -> Result<AssignmentRecord, StorageError> {
    Ok(AssignmentRecord {
        department: DepartmentId::parse(&m.department_id).map_err(|e| corrupt("assignment", e))?,
        department_type: m.department_type,
        role: parse("assignment", &m.role)?,
        state: parse("assignment", &m.state)?,
        jurisdiction: m.jurisdiction,
        contacted: m.contacted,
        summoned_at: ts(m.summoned_at_ms),
        report_in_at: m.report_in_at_ms.map(ts),
        complete_at: m.complete_at_ms.map(ts),
        result: m.result,
        result_attachments: ids_from_json("assignment", &m.result_attachments)?,
    })
}

fn assignment_model(report: &ReportId, a: &AssignmentRecord) -> assignment::ActiveModel {
    assignment::ActiveModel {
        report_id: Set(report.to_string()),
        department_id: Set(a.department.as_str().to_owned()),
        department_type: Set(a.department_type.clone()),
        role: Set(a.role.as_str().to_owned()),
        state: Set(a.state.as_str().to_owned()),
        jurisdiction: Set(a.jurisdiction.clone()),
        contacted: Set(a.contacted),
        summoned_at_ms: Set(ms(a.summoned_at)),
        report_in_at_ms: Set(a.report_in_at.map(ms)),
        complete_at_ms: Set(a.complete_at.map(ms)),
        result: Set(a.result.clone()),
        result_attachments: Set(ids_to_json(&a.result_attachments)),
    }
}

pub(super) fn deadline_from_model(m: deadline::Model) -> Result<DeadlineRecord, StorageError> {
    Ok(DeadlineRecord {
        id: m.id,
        letter: if m.letter_id.is_empty() {
            None
        } else {
            Some(LetterId::parse(&m.letter_id).map_err(|e| corrupt("deadline", e))?)
        },
        department: DepartmentId::parse(&m.department_id).map_err(|e| corrupt("deadline", e))?,
        stage: parse("deadline", &m.stage)?,
        policy_version: m.policy_version,
        started_at: ts(m.started_at_ms),
        due_at: ts(m.due_at_ms),
        state: DeadlineState::parse(&m.state)?,
        satisfied_at: m.satisfied_at_ms.map(ts),
        escalation_level: u32::try_from(m.escalation_level).map_err(|e| corrupt("deadline", e))?,
        next_step: u32::try_from(m.next_step).map_err(|e| corrupt("deadline", e))?,
        next_fire_at: m.next_fire_at_ms.map(ts),
        provisional: m.provisional,
    })
}

fn report_from_model(
    m: report::Model,
    assignments: Vec<assignment::Model>,
    deadlines: Vec<deadline::Model>,
) -> Result<ReportRecord, StorageError> {
    let point = GeoPoint::new(m.latitude, m.longitude).map_err(|e| corrupt("report", e))?;
    let system: CoordinateSystem = parse("report", &m.coordinate_system)?;
    let case = match m.case_id {
        Some(case_id) => Some(CaseRecord {
            id: CaseId::parse(&case_id).map_err(|e| corrupt("report", e))?,
            state: parse("report", m.case_state.as_deref().unwrap_or_default())?,
            kind: parse("report", m.whistle_kind.as_deref().unwrap_or_default())?,
            note: m.whistle_note.unwrap_or_default(),
            whistled_at: ts(m.whistled_at_ms.unwrap_or(m.created_at_ms)),
            routing: serde_json::from_str(m.routing.as_deref().unwrap_or("null"))
                .map_err(|e| corrupt("report", e))?,
            rework_count: u32::try_from(m.rework_count).map_err(|e| corrupt("report", e))?,
            satisfaction: m
                .satisfaction
                .map(|s| u8::try_from(s).map_err(|e| corrupt("report", e)))
                .transpose()?,
            policy_version: m.policy_version,
        }),
        None => None,
    };
    Ok(ReportRecord {
        id: ReportId::parse(&m.id).map_err(|e| corrupt("report", e))?,
        author: UserId::parse(&m.author_id).map_err(|e| corrupt("report", e))?,
        grid: m
            .grid_id
            .map(|g| GridId::parse(&g).map_err(|e| corrupt("report", e)))
            .transpose()?,
        category: CategoryId::parse(&m.category_id).map_err(|e| corrupt("report", e))?,
        description: m.description,
        location: Position {
            point,
            system,
            accuracy_m: m.accuracy_m,
        },
        observed_at: ts(m.observed_at_ms),
        created_at: ts(m.created_at_ms),
        updated_at: ts(m.updated_at_ms),
        risk_grade: m
            .risk_grade
            .map(|g| parse::<RiskGrade>("report", &g))
            .transpose()?,
        parties: parties_from_json(&m.parties)?,
        attachments: ids_from_json("report", &m.attachments)?,
        state: parse("report", &m.state)?,
        resolution: m.resolution,
        version: m.version,
        case,
        assignments: sorted(
            assignments
                .into_iter()
                .map(assignment_from_model)
                .collect::<Result<_, _>>()?,
        ),
        deadlines: deadlines
            .into_iter()
            .map(deadline_from_model)
            .collect::<Result<_, _>>()?,
    })
}

/// Leads first, then in the order departments were summoned.
fn sorted(mut assignments: Vec<AssignmentRecord>) -> Vec<AssignmentRecord> {
    assignments.sort_by(|a, b| {
        (a.role != AssignmentRole::Lead, a.summoned_at, &a.department).cmp(&(
            b.role != AssignmentRole::Lead,
            b.summoned_at,
            &b.department,
        ))
    });
    assignments
}

/// Every mutable column of a report, for the version-checked update.
fn report_changes(r: &ReportRecord) -> Result<report::ActiveModel, StorageError> {
    let case = r.case.as_ref();
    Ok(report::ActiveModel {
        id: NotSet,
        author_id: NotSet,
        grid_id: NotSet,
        category_id: NotSet,
        description: NotSet,
        latitude: NotSet,
        longitude: NotSet,
        coordinate_system: NotSet,
        accuracy_m: NotSet,
        observed_at_ms: NotSet,
        created_at_ms: NotSet,
        updated_at_ms: Set(ms(r.updated_at)),
        risk_grade: Set(r.risk_grade.map(|g| g.as_str().to_owned())),
        parties: NotSet,
        attachments: NotSet,
        request_hash: NotSet,
        state: Set(r.state.as_str().to_owned()),
        resolution: Set(r.resolution.clone()),
        version: Set(r.version),
        case_id: Set(case.map(|c| c.id.to_string())),
        case_state: Set(case.map(|c| c.state.as_str().to_owned())),
        whistle_kind: Set(case.map(|c| c.kind.as_str().to_owned())),
        whistle_note: Set(case.map(|c| c.note.clone())),
        whistled_at_ms: Set(case.map(|c| ms(c.whistled_at))),
        routing: Set(case.map(|c| serde_json::to_string(&c.routing).unwrap_or_default())),
        rework_count: Set(case.map_or(Ok(0), |c| int("rework_count", c.rework_count))?),
        satisfaction: Set(case.and_then(|c| c.satisfaction.map(i32::from))),
        policy_version: Set(case.and_then(|c| c.policy_version)),
    })
}

fn event_from_model(m: case_event::Model) -> Result<EventRecord, StorageError> {
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

async fn insert_events(
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

/// Most rows or ids one statement carries: the bound values stay under SQLite's limit of 32,766.
pub(super) const ROWS_PER_STATEMENT: usize = 500;

/// Inserts `models` with as few statements as [`ROWS_PER_STATEMENT`] allows.
pub(super) async fn insert_chunked<A>(
    db: &impl ConnectionTrait,
    models: Vec<A>,
) -> Result<(), StorageError>
where
    A: ActiveModelTrait + Send,
{
    let mut models = models.into_iter().peekable();
    while models.peek().is_some() {
        let chunk: Vec<A> = models.by_ref().take(ROWS_PER_STATEMENT).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Files reports in `db` with one insert for the reports and one for their first events; answers each in order.
///
/// An id already stored, or repeated within the batch, is answered from the stored row: a replay when author and payload hash match, a conflict otherwise.
/// A failure of the statement fails the whole call; the caller retries the rows one by one to find the culprit.
pub(super) async fn file_reports(
    db: &impl ConnectionTrait,
    batch: &[(NewReport, Timestamp)],
) -> Result<Vec<CreateOutcome>, StorageError> {
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    let firsts: Vec<&(NewReport, Timestamp)> = batch
        .iter()
        .filter(|(new, _)| seen.insert(new.id))
        .collect();
    let models = firsts.iter().map(|(new, now)| new_report_model(new, *now));
    let mut statement = report::Entity::insert_many(models)
        .on_conflict(
            OnConflict::column(report::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .into_query();
    statement.returning_col(report::Column::Id);
    let inserted: std::collections::HashSet<String> = db
        .query_all(&statement)
        .await
        .map_err(|err| StorageError::classify(err, "report", "user"))?
        .into_iter()
        .map(|row| row.try_get::<String>("", "id"))
        .collect::<Result<_, _>>()?;

    let mut created: HashMap<ReportId, ReportRecord> = HashMap::with_capacity(inserted.len());
    let mut events = Vec::with_capacity(inserted.len());
    for (new, now) in firsts {
        if inserted.contains(&new.id.to_string()) {
            let record = first_record(new, *now);
            events.push(event_model(
                &record.id,
                &record.author,
                1,
                &reported(&record),
                *now,
            ));
            created.insert(record.id, record);
        }
    }
    insert_chunked(db, events).await?;

    // Everything else was filed before, by an earlier request or earlier in this batch.
    let others: Vec<String> = batch
        .iter()
        .filter(|(new, _)| !created.contains_key(&new.id))
        .map(|(new, _)| new.id.to_string())
        .collect();
    let mut stored: HashMap<String, report::Model> = HashMap::with_capacity(others.len());
    for chunk in others.chunks(ROWS_PER_STATEMENT) {
        for model in report::Entity::find()
            .filter(report::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            stored.insert(model.id.clone(), model);
        }
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for (new, _) in batch {
        if let Some(record) = created.remove(&new.id) {
            outcomes.push(CreateOutcome::Created(record));
            continue;
        }
        let Some(existing) = stored.get(&new.id.to_string()) else {
            // Present at insert time, so still present in this transaction.
            return Err(StorageError::NotFound { entity: "report" });
        };
        if existing.author_id != new.author.to_string() || existing.request_hash != new.request_hash
        {
            outcomes.push(CreateOutcome::Conflict);
        } else {
            let record = report_from_model(existing.clone(), Vec::new(), Vec::new())?;
            outcomes.push(CreateOutcome::Replayed(as_first_answered(record)));
        }
    }
    Ok(outcomes)
}

fn first_record(new: &NewReport, now: Timestamp) -> ReportRecord {
    ReportRecord {
        id: new.id,
        author: new.author,
        grid: new.grid.clone(),
        category: new.category.clone(),
        description: new.description.clone(),
        location: new.location,
        observed_at: new.observed_at,
        created_at: now,
        updated_at: now,
        risk_grade: new.risk_grade,
        parties: new.parties.clone(),
        attachments: new.attachments.clone(),
        state: ReportState::Open,
        resolution: None,
        version: 1,
        case: None,
        assignments: Vec::new(),
        deadlines: Vec::new(),
    }
}

fn reported(record: &ReportRecord) -> NewEvent {
    NewEvent {
        kind: EventKind::Reported,
        actor: Some(record.author),
        department: None,
        text: String::new(),
        attachments: record.attachments.clone(),
    }
}

fn new_report_model(new: &NewReport, now: Timestamp) -> report::ActiveModel {
    report::ActiveModel {
        id: Set(new.id.to_string()),
        author_id: Set(new.author.to_string()),
        grid_id: Set(new.grid.as_ref().map(|g| g.as_str().to_owned())),
        category_id: Set(new.category.as_str().to_owned()),
        description: Set(new.description.clone()),
        latitude: Set(new.location.point.lat()),
        longitude: Set(new.location.point.lng()),
        coordinate_system: Set(new.location.system.as_str().to_owned()),
        accuracy_m: Set(new.location.accuracy_m),
        observed_at_ms: Set(ms(new.observed_at)),
        created_at_ms: Set(ms(now)),
        updated_at_ms: Set(ms(now)),
        risk_grade: Set(new.risk_grade.map(|g| g.as_str().to_owned())),
        parties: Set(parties_to_json(&new.parties)),
        attachments: Set(ids_to_json(&new.attachments)),
        request_hash: Set(new.request_hash.clone()),
        state: Set(ReportState::Open.as_str().to_owned()),
        resolution: Set(None),
        version: Set(1),
        case_id: Set(None),
        case_state: Set(None),
        whistle_kind: Set(None),
        whistle_note: Set(None),
        whistled_at_ms: Set(None),
        routing: Set(None),
        rework_count: Set(0),
        satisfaction: Set(None),
        policy_version: Set(None),
    }
}

async fn load_report(
    db: &impl ConnectionTrait,
    key: ReportKey,
) -> Result<Option<ReportRecord>, StorageError> {
    let found = match key {
        ReportKey::Report(id) => report::Entity::find_by_id(id.to_string()).one(db).await?,
        ReportKey::Case(id) => {
            report::Entity::find()
                .filter(report::Column::CaseId.eq(id.to_string()))
                .one(db)
                .await?
        }
    };
    let Some(model) = found else {
        return Ok(None);
    };
    Ok(with_assignments(db, vec![model]).await?.pop())
}

/// Writes deadline changes: a start inserts or restarts the (report, department, stage) row; satisfying and cancelling touch only a pending row.
pub(super) async fn apply_deadlines(
    txn: &DatabaseTransaction,
    report: &ReportId,
    policy_version: Option<i64>,
    changes: &[DeadlineChange],
    now: Timestamp,
) -> Result<(), StorageError> {
    let report = report.to_string();
    for change in changes {
        match change {
            DeadlineChange::Start(s) => {
                let version = policy_version.ok_or_else(|| {
                    corrupt(
                        "deadline",
                        "a deadline started on a case without a policy version",
                    )
                })?;
                deadline::Entity::insert(deadline::ActiveModel {
                    id: NotSet,
                    report_id: Set(report.clone()),
                    department_id: Set(s.department.as_str().to_owned()),
                    stage: Set(s.stage.as_str().to_owned()),
                    policy_version: Set(version),
                    started_at_ms: Set(ms(s.started_at)),
                    due_at_ms: Set(ms(s.due_at)),
                    state: Set(DeadlineState::Pending.as_str().to_owned()),
                    satisfied_at_ms: Set(None),
                    escalation_level: Set(0),
                    next_step: Set(0),
                    next_fire_at_ms: Set(s.next_fire_at.map(ms)),
                    claimed_by: Set(None),
                    claimed_until_ms: Set(None),
                    letter_id: Set(s.letter.map(|l| l.to_string()).unwrap_or_default()),
                    provisional: Set(s.provisional),
                })
                .on_conflict(
                    OnConflict::columns([
                        deadline::Column::ReportId,
                        deadline::Column::DepartmentId,
                        deadline::Column::Stage,
                        deadline::Column::LetterId,
                    ])
                    .update_columns([
                        deadline::Column::PolicyVersion,
                        deadline::Column::StartedAtMs,
                        deadline::Column::DueAtMs,
                        deadline::Column::State,
                        deadline::Column::SatisfiedAtMs,
                        deadline::Column::EscalationLevel,
                        deadline::Column::NextStep,
                        deadline::Column::NextFireAtMs,
                        deadline::Column::ClaimedBy,
                        deadline::Column::ClaimedUntilMs,
                        deadline::Column::Provisional,
                    ])
                    .to_owned(),
                )
                .exec_without_returning(txn)
                .await
                .map_err(|e| StorageError::classify(e, "deadline", "department"))?;
            }
            DeadlineChange::Satisfy { department, stage }
            | DeadlineChange::Cancel { department, stage } => {
                let (state, satisfied_at) = match change {
                    DeadlineChange::Satisfy { .. } => (DeadlineState::Satisfied, Some(ms(now))),
                    _ => (DeadlineState::Cancelled, None),
                };
                deadline::Entity::update_many()
                    .col_expr(deadline::Column::State, Expr::value(state.as_str()))
                    .col_expr(deadline::Column::SatisfiedAtMs, Expr::value(satisfied_at))
                    .col_expr(
                        deadline::Column::NextFireAtMs,
                        Expr::value(Option::<i64>::None),
                    )
                    .filter(deadline::Column::ReportId.eq(report.as_str()))
                    .filter(deadline::Column::DepartmentId.eq(department.as_str()))
                    .filter(deadline::Column::Stage.eq(stage.as_str()))
                    .filter(deadline::Column::LetterId.eq(""))
                    .filter(deadline::Column::State.eq(DeadlineState::Pending.as_str()))
                    .exec(txn)
                    .await?;
            }
            DeadlineChange::LetterAnswered { department, letter } => {
                deadline::Entity::update_many()
                    .col_expr(
                        deadline::Column::State,
                        Expr::value(DeadlineState::Satisfied.as_str()),
                    )
                    .col_expr(deadline::Column::SatisfiedAtMs, Expr::value(ms(now)))
                    .col_expr(
                        deadline::Column::NextFireAtMs,
                        Expr::value(Option::<i64>::None),
                    )
                    .filter(deadline::Column::ReportId.eq(report.as_str()))
                    .filter(deadline::Column::DepartmentId.eq(department.as_str()))
                    .filter(deadline::Column::Stage.eq(DeadlineStage::LetterReply.as_str()))
                    .filter(deadline::Column::LetterId.eq(letter.to_string()))
                    .filter(deadline::Column::State.eq(DeadlineState::Pending.as_str()))
                    .exec(txn)
                    .await?;
            }
            DeadlineChange::Move {
                department,
                stage,
                due_at,
                next_step,
                next_fire_at,
                escalation_level,
                provisional,
            } => {
                deadline::Entity::update_many()
                    .col_expr(deadline::Column::DueAtMs, Expr::value(ms(*due_at)))
                    .col_expr(deadline::Column::Provisional, Expr::value(*provisional))
                    .col_expr(
                        deadline::Column::NextStep,
                        Expr::value(int("next_step", *next_step)?),
                    )
                    .col_expr(
                        deadline::Column::NextFireAtMs,
                        Expr::value(next_fire_at.map(ms)),
                    )
                    .col_expr(
                        deadline::Column::EscalationLevel,
                        Expr::value(int("escalation_level", *escalation_level)?),
                    )
                    .filter(deadline::Column::ReportId.eq(report.as_str()))
                    .filter(deadline::Column::DepartmentId.eq(department.as_str()))
                    .filter(deadline::Column::Stage.eq(stage.as_str()))
                    .filter(deadline::Column::LetterId.eq(""))
                    .filter(deadline::Column::State.eq(DeadlineState::Pending.as_str()))
                    .exec(txn)
                    .await?;
            }
            DeadlineChange::Advance {
                deadline,
                fired_step,
                next_fire_at,
                escalation_level,
                ..
            } => {
                deadline::Entity::update_many()
                    .col_expr(
                        deadline::Column::NextStep,
                        Expr::value(int("next_step", fired_step.saturating_add(1))?),
                    )
                    .col_expr(
                        deadline::Column::NextFireAtMs,
                        Expr::value(next_fire_at.map(ms)),
                    )
                    .col_expr(
                        deadline::Column::EscalationLevel,
                        Expr::value(int("escalation_level", *escalation_level)?),
                    )
                    .col_expr(
                        deadline::Column::ClaimedBy,
                        Expr::value(Option::<String>::None),
                    )
                    .col_expr(
                        deadline::Column::ClaimedUntilMs,
                        Expr::value(Option::<i64>::None),
                    )
                    .filter(deadline::Column::Id.eq(*deadline))
                    .filter(deadline::Column::ReportId.eq(report.as_str()))
                    .filter(deadline::Column::State.eq(DeadlineState::Pending.as_str()))
                    .filter(deadline::Column::NextStep.eq(int("next_step", *fired_step)?))
                    .exec(txn)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Writes the outbox rows of a change whose first event has `sequence`.
async fn insert_notifications(
    txn: &DatabaseTransaction,
    report: &ReportId,
    sequence: i64,
    notifications: &[NewNotification],
    now: Timestamp,
) -> Result<(), StorageError> {
    insert_chunked(
        txn,
        notification_models(report, sequence, notifications, now)?,
    )
    .await
}

/// The outbox rows of a change whose first event has `sequence`, each with a fresh time-ordered id.
pub(super) fn notification_models(
    report: &ReportId,
    sequence: i64,
    notifications: &[NewNotification],
    now: Timestamp,
) -> Result<Vec<notification::ActiveModel>, StorageError> {
    notifications
        .iter()
        .map(|n| {
            Ok(notification::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                report_id: Set(report.to_string()),
                department_id: Set(n.department.as_ref().map(|d| d.as_str().to_owned())),
                audience: Set(n.audience.to_owned()),
                kind: Set(n.kind.as_str().to_owned()),
                stage: Set(n.stage.map(|s| s.as_str().to_owned())),
                event_sequence: Set(sequence),
                escalation_level: Set(int("escalation_level", n.escalation_level)?),
                due_at_ms: Set(n.due_at.map(ms)),
                created_at_ms: Set(ms(now)),
                state: Set("queued".to_owned()),
                recipient_user_id: Set(n.recipient.as_ref().map(ToString::to_string)),
                claimed_by: Set(None),
                claimed_until_ms: Set(0),
            })
        })
        .collect()
}

/// Loads many reports with their assignments, in the order of `models`.
pub(super) async fn with_assignments(
    db: &impl ConnectionTrait,
    models: Vec<report::Model>,
) -> Result<Vec<ReportRecord>, StorageError> {
    // Only a whistled report has assignments and deadlines.
    let ids: Vec<String> = models
        .iter()
        .filter(|m| m.case_id.is_some())
        .map(|m| m.id.clone())
        .collect();
    let mut by_report: HashMap<String, Vec<assignment::Model>> = HashMap::new();
    let mut deadlines_of: HashMap<String, Vec<deadline::Model>> = HashMap::new();
    if !ids.is_empty() {
        // Their order is set by `sorted` when the records are built.
        for a in assignment::Entity::find()
            .filter(assignment::Column::ReportId.is_in(ids.clone()))
            .all(db)
            .await?
        {
            by_report.entry(a.report_id.clone()).or_default().push(a);
        }
        for d in deadline::Entity::find()
            .filter(deadline::Column::ReportId.is_in(ids))
            .order_by_asc(deadline::Column::Id)
            .all(db)
            .await?
        {
            deadlines_of.entry(d.report_id.clone()).or_default().push(d);
        }
    }
    models
        .into_iter()
        .map(|m| {
            let mine = by_report.remove(&m.id).unwrap_or_default();
            let deadlines = deadlines_of.remove(&m.id).unwrap_or_default();
            report_from_model(m, mine, deadlines)
        })
        .collect()
}

/// The report as `CreateReport` first answered it, rebuilt from what was filed.
fn as_first_answered(mut record: ReportRecord) -> ReportRecord {
    record.state = ReportState::Open;
    record.resolution = None;
    record.version = 1;
    record.updated_at = record.created_at;
    record.case = None;
    record.assignments.clear();
    record.deadlines.clear();
    record
}

impl Store {
    /// Runs `f` in a write transaction: through the group-commit writer on SQLite, in its own transaction on PostgreSQL; answers after the commit.
    pub(super) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        match self.backend {
            Backend::Sqlite => self.writer.write(f).await,
            Backend::Postgres => {
                use sea_orm::TransactionTrait;
                let txn = self.db.begin().await.map_err(StorageError::from)?;
                match f(&txn).await {
                    Ok(value) => {
                        txn.commit()
                            .await
                            .map_err(|e| StorageError::CommitFailed(e.to_string()))?;
                        self.committed.send_modify(|n| *n = n.wrapping_add(1));
                        Ok(value)
                    }
                    Err(err) => {
                        let _ = txn.rollback().await;
                        Err(err)
                    }
                }
            }
        }
    }

    /// Files a report and its first timeline event, or recognises a retry of one already filed.
    ///
    /// Reports are filed in batches by the group-commit writer on both databases: one insert for the reports and one for their events per commit.
    #[instrument(skip_all, fields(report = %new.id))]
    pub async fn create_report(
        &self,
        new: NewReport,
        now: Timestamp,
    ) -> Result<CreateOutcome, StorageError> {
        self.writer.file(new, now).await
    }
    /// The report (or the case's report) with its assignments.
    #[instrument(skip_all, fields(key = ?key))]
    pub async fn get_report(&self, key: ReportKey) -> Result<ReportRecord, StorageError> {
        let entity = match key {
            ReportKey::Report(_) => "report",
            ReportKey::Case(_) => "case",
        };
        load_report(&self.db, key)
            .await?
            .ok_or(StorageError::NotFound { entity })
    }

    /// Lists an author's reports by id (time-ordered), starting after `after`.
    #[instrument(skip_all, fields(limit))]
    pub async fn list_reports_by_author(
        &self,
        author: &UserId,
        state: Option<ReportState>,
        after: Option<&ReportId>,
        limit: u64,
    ) -> Result<Vec<ReportRecord>, StorageError> {
        let mut query = report::Entity::find()
            .filter(report::Column::AuthorId.eq(author.to_string()))
            .order_by_asc(report::Column::Id);
        if let Some(state) = state {
            query = query.filter(report::Column::State.eq(state.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(report::Column::Id.gt(after.to_string()));
        }
        let models = query.limit(limit).all(&self.db).await?;
        with_assignments(&self.db, models).await
    }

    /// The extension `id` of the case `case`, with its report.
    pub async fn extension(
        &self,
        case: &CaseId,
        id: &ExtensionId,
    ) -> Result<ExtensionRecord, StorageError> {
        let report = report::Entity::find()
            .filter(report::Column::CaseId.eq(case.to_string()))
            .one(&self.db)
            .await?
            .ok_or(StorageError::NotFound {
                entity: "extension",
            })?;
        let m = extension::Entity::find_by_id(id.to_string())
            .filter(extension::Column::ReportId.eq(report.id))
            .one(&self.db)
            .await?
            .ok_or(StorageError::NotFound {
                entity: "extension",
            })?;
        Ok(ExtensionRecord {
            id: *id,
            report: ReportId::parse(&m.report_id).map_err(|e| corrupt("extension", e))?,
            department: DepartmentId::parse(&m.department_id)
                .map_err(|e| corrupt("extension", e))?,
            stage: parse("extension", &m.stage)?,
            requested_due: ts(m.requested_due_ms),
            reason: m.reason,
            state: parse("extension", &m.state)?,
            approved_due: m.approved_due_ms.map(ts),
            decision_reason: m.decision_reason,
            created_at: ts(m.created_at_ms),
            decided_at: m.decided_at_ms.map(ts),
        })
    }

    /// The escalation that event `sequence` of `report` recorded, if it was one.
    pub async fn escalation_of(
        &self,
        report: &ReportId,
        sequence: i64,
    ) -> Result<Option<EscalationRecord>, StorageError> {
        let Some(n) = notification::Entity::find()
            .filter(notification::Column::ReportId.eq(report.to_string()))
            .filter(notification::Column::EventSequence.eq(sequence))
            .filter(notification::Column::Kind.eq("escalation"))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(case) = report::Entity::find_by_id(report.to_string())
            .one(&self.db)
            .await?
            .and_then(|r| r.case_id)
        else {
            return Ok(None);
        };
        Ok(Some(EscalationRecord {
            case: CaseId::parse(&case).map_err(|e| corrupt("report", e))?,
            department: n
                .department_id
                .map(|d| DepartmentId::parse(&d).map_err(|e| corrupt("notification", e)))
                .transpose()?,
            stage: n.stage.map(|s| parse("notification", &s)).transpose()?,
            audience: n.audience,
            escalation_level: u32::try_from(n.escalation_level)
                .map_err(|e| corrupt("notification", e))?,
            due_at: n.due_at_ms.map(ts),
        }))
    }

    /// Pending deadlines due at or before `now`, by due time then id, after the `(due, id)` position `after`.
    pub async fn list_overdue(
        &self,
        now: Timestamp,
        filter: &OverdueFilter,
        after: Option<(Timestamp, i64)>,
        limit: u64,
    ) -> Result<Vec<OverdueRecord>, StorageError> {
        let mut query = deadline::Entity::find()
            .filter(deadline::Column::State.eq(DeadlineState::Pending.as_str()))
            .filter(deadline::Column::DueAtMs.lte(ms(now)));
        if let Some(department) = &filter.department {
            query = query.filter(deadline::Column::DepartmentId.eq(department.as_str()));
        }
        if let Some(stage) = filter.stage {
            query = query.filter(deadline::Column::Stage.eq(stage.as_str()));
        }
        if let Some(grade) = filter.risk_grade {
            let mut graded = Query::select();
            graded
                .column(report::Column::Id)
                .from(report::Entity)
                .and_where(report::Column::RiskGrade.eq(grade.as_str()));
            query = query.filter(deadline::Column::ReportId.in_subquery(graded));
        }
        if let Some((due, id)) = after {
            query = query.filter(
                Condition::any()
                    .add(deadline::Column::DueAtMs.gt(ms(due)))
                    .add(
                        Condition::all()
                            .add(deadline::Column::DueAtMs.eq(ms(due)))
                            .add(deadline::Column::Id.gt(id)),
                    ),
            );
        }
        let rows = query
            .order_by_asc(deadline::Column::DueAtMs)
            .order_by_asc(deadline::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let ids: Vec<String> = rows.iter().map(|d| d.report_id.clone()).collect();
        let reports: HashMap<String, report::Model> = report::Entity::find()
            .filter(report::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        rows.into_iter()
            .filter_map(|d| {
                let r = reports.get(&d.report_id)?;
                Some((d, r.case_id.clone()?, r.risk_grade.clone()))
            })
            .map(|(d, case, grade)| {
                Ok(OverdueRecord {
                    deadline: d.id,
                    case: CaseId::parse(&case).map_err(|e| corrupt("report", e))?,
                    department: DepartmentId::parse(&d.department_id)
                        .map_err(|e| corrupt("deadline", e))?,
                    stage: parse("deadline", &d.stage)?,
                    due_at: ts(d.due_at_ms),
                    risk_grade: grade
                        .map(|g| parse::<RiskGrade>("report", &g))
                        .transpose()?,
                    escalation_level: u32::try_from(d.escalation_level)
                        .map_err(|e| corrupt("deadline", e))?,
                    provisional: d.provisional,
                })
            })
            .collect()
    }

    /// The outbox rows a report's events caused, oldest first: (audience, kind, department, stage).
    pub async fn outbox_of(
        &self,
        report: &ReportId,
    ) -> Result<Vec<(String, String, Option<String>, Option<String>)>, StorageError> {
        Ok(notification::Entity::find()
            .filter(notification::Column::ReportId.eq(report.to_string()))
            .order_by_asc(notification::Column::EventSequence)
            .order_by_asc(notification::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|n| (n.audience, n.kind, n.department_id, n.stage))
            .collect())
    }

    /// Pending deadlines whose next firing is at or before `until` (and after `after`, a (firing time, id) where an earlier read stopped), earliest first, at most `limit`.
    ///
    /// On PostgreSQL the rows are claimed for `owner` until `lease_until` with `FOR UPDATE SKIP LOCKED`, so engines on other replicas skip them; a claim that ran out (its engine died) is taken over.
    /// On SQLite one process runs the engine and rows are read plainly.
    pub async fn claim_due_deadlines(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        after: Option<(Timestamp, i64)>,
        lease_until: Timestamp,
        limit: u64,
    ) -> Result<Vec<gridwhistle_dispatcher::engine::Due>, StorageError> {
        let limit = bigint("limit", limit)?;
        let mut sql = Sql::new(self.backend);
        if self.backend == Backend::Postgres {
            sql.push("UPDATE deadlines SET claimed_by = ")
                .bind(owner.to_owned())
                .push(", claimed_until_ms = ")
                .bind(ms(lease_until))
                .push(" WHERE id IN (SELECT id FROM deadlines");
        } else {
            sql.push("SELECT * FROM deadlines");
        }
        sql.push(" WHERE state = 'pending' AND next_fire_at_ms <= ")
            .bind(ms(until));
        if let Some((at, id)) = after {
            sql.push(" AND (next_fire_at_ms, id) > (")
                .bind(ms(at))
                .push(", ")
                .bind(id)
                .push(")");
        }
        if self.backend == Backend::Postgres {
            sql.push(" AND (claimed_until_ms IS NULL OR claimed_until_ms < ")
                .bind(ms(now))
                .push(" OR claimed_by = ")
                .bind(owner.to_owned())
                .push(")");
        }
        sql.push(" ORDER BY next_fire_at_ms, id LIMIT ").bind(limit);
        if self.backend == Backend::Postgres {
            sql.push(" FOR UPDATE SKIP LOCKED) RETURNING *");
        }
        let mut models = deadline::Entity::find()
            .from_raw_sql(sql.build())
            .all(&self.db)
            .await?;
        // RETURNING follows no order.
        models.sort_by_key(|m| (m.next_fire_at_ms, m.id));
        models
            .into_iter()
            .map(|m| {
                Ok(gridwhistle_dispatcher::engine::Due {
                    id: m.id,
                    report: ReportId::parse(&m.report_id).map_err(|e| corrupt("deadline", e))?,
                    department: DepartmentId::parse(&m.department_id)
                        .map_err(|e| corrupt("deadline", e))?,
                    stage: parse("deadline", &m.stage)?,
                    policy_version: m.policy_version,
                    started_at: ts(m.started_at_ms),
                    due_at: ts(m.due_at_ms),
                    next_step: u32::try_from(m.next_step).map_err(|e| corrupt("deadline", e))?,
                    fire_at: ts(m.next_fire_at_ms.unwrap_or(m.due_at_ms)),
                })
            })
            .collect()
    }

    /// Lists the cases a department is summoned to, by report id, starting after `after`.
    #[instrument(skip_all, fields(department = %department, limit))]
    pub async fn list_inbox(
        &self,
        department: &DepartmentId,
        filter: &InboxFilter,
        after: Option<&ReportId>,
        limit: u64,
    ) -> Result<Vec<ReportRecord>, StorageError> {
        let states: Vec<&str> = match filter.state {
            Some(state) => vec![state.as_str()],
            None => AssignmentState::ALL
                .iter()
                .filter(|s| s.is_active())
                .map(|s| s.as_str())
                .collect(),
        };
        let mut summoned = Query::select();
        summoned
            .column(assignment::Column::ReportId)
            .from(assignment::Entity)
            .and_where(assignment::Column::DepartmentId.eq(department.as_str()))
            .and_where(assignment::Column::State.is_in(states));
        let mut query = report::Entity::find()
            .filter(report::Column::Id.in_subquery(summoned))
            .order_by_asc(report::Column::Id);
        if let Some(grade) = filter.risk_grade {
            query = query.filter(report::Column::RiskGrade.eq(grade.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(report::Column::Id.gt(after.to_string()));
        }
        let models = query.limit(limit).all(&self.db).await?;
        with_assignments(&self.db, models).await
    }

    /// Applies a change to a report and its case: `change` edits the record and returns the events (at least one) and rows to append; both are returned as stored.
    ///
    /// With `expected_version` a concurrent change is [`UpdateError::Stale`]; without, the change is re-read and retried.
    #[instrument(skip_all, fields(key = ?key))]
    pub async fn update_report<E, F>(
        &self,
        key: ReportKey,
        expected_version: Option<i64>,
        now: Timestamp,
        change: F,
    ) -> Result<(ReportRecord, Effects), UpdateError<E>>
    where
        F: FnOnce(&mut ReportRecord) -> Result<Effects, E> + Clone + Send + 'static,
        E: Send + 'static,
    {
        for _ in 0..UNCHECKED_RETRIES {
            let change = change.clone();
            let attempt = self
                .write(move |txn| {
                    Box::pin(async move {
                        let current = load_report(txn, key).await?.ok_or(UpdateError::NotFound)?;
                        let id = current.id.to_string();
                        if expected_version.is_some_and(|v| v != current.version) {
                            return Err(UpdateError::Stale);
                        }
                        let mut next = current.clone();
                        let effects = change(&mut next).map_err(UpdateError::Refused)?;
                        next.updated_at = now;
                        next.version = current.version + effects.events.len() as i64;
                        let updated = report::Entity::update_many()
                            .set(report_changes(&next)?)
                            .filter(report::Column::Id.eq(id.as_str()))
                            .filter(report::Column::Version.eq(current.version))
                            .exec(txn)
                            .await
                            .map_err(StorageError::from)?;
                        if updated.rows_affected == 0 {
                            return Ok(None);
                        }
                        for a in &next.assignments {
                            match current
                                .assignments
                                .iter()
                                .find(|c| c.department == a.department)
                            {
                                Some(old) if old == a => {}
                                Some(_) => {
                                    assignment::Entity::update(assignment_model(&next.id, a))
                                        .exec(txn)
                                        .await
                                        .map_err(StorageError::from)?;
                                }
                                None => {
                                    assignment::Entity::insert(assignment_model(&next.id, a))
                                        .exec_without_returning(txn)
                                        .await
                                        .map_err(|e| {
                                            StorageError::classify(e, "assignment", "department")
                                        })?;
                                }
                            }
                        }
                        insert_events(txn, &next, current.version + 1, &effects.events, now)
                            .await?;
                        if let Some(x) = &effects.extension {
                            extension::Entity::insert(extension::ActiveModel {
                                id: Set(x.id.to_string()),
                                report_id: Set(x.report.to_string()),
                                department_id: Set(x.department.as_str().to_owned()),
                                stage: Set(x.stage.as_str().to_owned()),
                                requested_due_ms: Set(ms(x.requested_due)),
                                reason: Set(x.reason.clone()),
                                state: Set(x.state.as_str().to_owned()),
                                approved_due_ms: Set(x.approved_due.map(ms)),
                                decision_reason: Set(x.decision_reason.clone()),
                                created_at_ms: Set(ms(x.created_at)),
                                decided_at_ms: Set(x.decided_at.map(ms)),
                            })
                            .exec_without_returning(txn)
                            .await
                            .map_err(StorageError::from)?;
                        }
                        if let Some(x) = &effects.decided_extension {
                            let decided = extension::Entity::update_many()
                                .col_expr(extension::Column::State, Expr::value(x.state.as_str()))
                                .col_expr(
                                    extension::Column::ApprovedDueMs,
                                    Expr::value(x.approved_due.map(ms)),
                                )
                                .col_expr(
                                    extension::Column::DecisionReason,
                                    Expr::value(x.decision_reason.clone()),
                                )
                                .col_expr(
                                    extension::Column::DecidedAtMs,
                                    Expr::value(x.decided_at.map(ms)),
                                )
                                .filter(extension::Column::Id.eq(x.id.to_string()))
                                .filter(
                                    extension::Column::State.eq(ExtensionState::Pending.as_str()),
                                )
                                .exec(txn)
                                .await
                                .map_err(StorageError::from)?;
                            if decided.rows_affected == 0 {
                                return Err(UpdateError::Storage(StorageError::Precondition(
                                    "the extension was already decided",
                                )));
                            }
                        }
                        let policy_version = next.case.as_ref().and_then(|c| c.policy_version);
                        apply_deadlines(txn, &next.id, policy_version, &effects.deadlines, now)
                            .await?;
                        insert_notifications(
                            txn,
                            &next.id,
                            current.version + 1,
                            &effects.notifications,
                            now,
                        )
                        .await?;
                        next.assignments = sorted(next.assignments);
                        // The rows were loaded with the report; read them back only when the change wrote some.
                        if !effects.deadlines.is_empty() {
                            next.deadlines = deadline::Entity::find()
                                .filter(deadline::Column::ReportId.eq(id.as_str()))
                                .order_by_asc(deadline::Column::Id)
                                .all(txn)
                                .await
                                .map_err(StorageError::from)?
                                .into_iter()
                                .map(deadline_from_model)
                                .collect::<Result<_, _>>()?;
                        }
                        Ok(Some((next, effects)))
                    })
                })
                .await?;
            match attempt {
                Some(changed) => return Ok(changed),
                None if expected_version.is_some() => return Err(UpdateError::Stale),
                None => continue,
            }
        }
        Err(UpdateError::Stale)
    }

    /// The report's whole timeline, oldest first.
    #[instrument(skip_all, fields(report = %id))]
    pub async fn timeline(&self, id: &ReportId) -> Result<Vec<EventRecord>, StorageError> {
        case_event::Entity::find()
            .filter(case_event::Column::ReportId.eq(id.to_string()))
            .order_by_asc(case_event::Column::Sequence)
            .all(&self.db)
            .await?
            .into_iter()
            .map(event_from_model)
            .collect()
    }

    /// Where a stream that starts now begins: it sees every event committed after this call, and perhaps a few just before.
    pub async fn event_horizon(&self) -> Result<EventPosition, StorageError> {
        match self.backend {
            Backend::Sqlite => {
                let last = case_event::Entity::find()
                    .order_by_desc(case_event::Column::Id)
                    .one(&self.db)
                    .await?;
                Ok(EventPosition {
                    txid: 0,
                    id: last.map_or(0, |e| e.id),
                })
            }
            Backend::Postgres => {
                let row = self
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
    pub async fn events_after(
        &self,
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
        query = match self.backend {
            Backend::Sqlite => query.filter(case_event::Column::Id.gt(after.id)),
            Backend::Postgres => query
                .filter(
                    Condition::any()
                        .add(case_event::Column::Txid.gt(after.txid))
                        .add(
                            Condition::all()
                                .add(case_event::Column::Txid.eq(after.txid))
                                .add(case_event::Column::Id.gt(after.id)),
                        ),
                )
                .filter(Expr::cust(
                    "txid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint",
                )),
        };
        query
            .order_by_asc(case_event::Column::Txid)
            .order_by_asc(case_event::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(event_from_model)
            .collect()
    }

    /// The attachments among `ids` that `owner` has not uploaded completely.
    pub async fn missing_uploads(
        &self,
        owner: &UserId,
        ids: &[AttachmentId],
    ) -> Result<Vec<AttachmentId>, StorageError> {
        let found: Vec<String> = upload::Entity::find()
            .select_only()
            .column(upload::Column::Sha256)
            .filter(upload::Column::OwnerId.eq(owner.to_string()))
            .filter(upload::Column::Sha256.is_in(ids.iter().map(AttachmentId::as_str)))
            .filter(upload::Column::CompletedAtMs.is_not_null())
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids
            .iter()
            .filter(|id| !found.iter().any(|f| f == id.as_str()))
            .cloned()
            .collect())
    }

    /// A receiver that ticks after every committed write of this process, for streams to wake on.
    pub fn subscribe_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }
}
