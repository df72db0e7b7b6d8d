//! A report's rows and its record: decoding the report, its assignments and deadlines into a [`ReportRecord`], and encoding it back, each field written once per direction.

use std::collections::HashMap;

use gridwhistle_dispatcher::routing::rules::Position;
use gridwhistle_domain::{
    AssignmentRole, CaseId, CategoryId, CoordinateSystem, DepartmentId, GeoPoint, GridId, ReportId,
    ReportState, RiskGrade, UserId,
};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::filing::Filing;
use crate::model::{AssignmentFacts, AssignmentRecord, CaseRecord, ReportKey, ReportRecord};
use crate::storage::StorageError;
use crate::storage::codec::{
    corrupt, ids_from_json, ids_to_json, int, ms, parse, parties_from_json, parties_to_json, ts,
};
use crate::storage::entity::{assignment, deadline, report};
use crate::storage::schedule::NOTHING_DUE;
use crate::storage::schedule::deadline_from_model;

fn assignment_from_model(m: assignment::Model) -> Result<AssignmentRecord, StorageError> {
    Ok(AssignmentRecord {
        facts: assignment_facts(&m)?,
        department: DepartmentId::parse(&m.department_id).map_err(|e| corrupt("assignment", e))?,
        department_type: m.department_type,
        role: parse("assignment", &m.role)?,
        state: parse("assignment", &m.state)?,
        jurisdiction: m.jurisdiction,
        contacted: m.contacted,
        summoned_at: ts(m.summoned_at_ms),
        report_in_at: m.report_in_at_ms.map(ts),
        contact_at: m.contact_at_ms.map(ts),
        complete_at: m.complete_at_ms.map(ts),
        result: m.result,
        result_attachments: ids_from_json("assignment", &m.result_attachments)?,
    })
}

/// The loop's facts of a stored share.
pub(super) fn assignment_facts(m: &assignment::Model) -> Result<AssignmentFacts, StorageError> {
    Ok(AssignmentFacts {
        completions: count("completions", m.completions)?,
        rejections: count("rejections", m.rejections)?,
        returns: count("returns", m.returns)?,
        extensions_approved: count("extensions_approved", m.extensions_approved)?,
        accepted_at: m.accepted_at_ms.map(ts),
        satisfaction: m
            .satisfaction
            .map(|s| u8::try_from(s).map_err(|e| corrupt("assignment", e)))
            .transpose()?,
        working_ms: m.working_ms,
    })
}

fn count(field: &'static str, value: i32) -> Result<u32, StorageError> {
    u32::try_from(value).map_err(|e| corrupt("assignment", format!("{field}: {e}")))
}

/// The version of the facts `closed_loop::facts` writes; rows below it are rebuilt.
pub(in crate::storage) const FACTS_VERSION: i32 = 1;

pub(super) fn assignment_model(report: &ReportId, a: &AssignmentRecord) -> assignment::ActiveModel {
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
        contact_at_ms: Set(a.contact_at.map(ms)),
        complete_at_ms: Set(a.complete_at.map(ms)),
        result: Set(a.result.clone()),
        result_attachments: Set(ids_to_json(&a.result_attachments)),
        // Kept by the deadlines' writes: a new share takes the column's default until its deadlines start.
        due_at_ms: NotSet,
        report_in_due_ms: NotSet,
        finish_due_ms: NotSet,
        escalations: NotSet,
        completions: Set(a.facts.completions.try_into().unwrap_or(i32::MAX)),
        rejections: Set(a.facts.rejections.try_into().unwrap_or(i32::MAX)),
        returns: Set(a.facts.returns.try_into().unwrap_or(i32::MAX)),
        extensions_approved: Set(a.facts.extensions_approved.try_into().unwrap_or(i32::MAX)),
        accepted_at_ms: Set(a.facts.accepted_at.map(ms)),
        satisfaction: Set(a.facts.satisfaction.map(i32::from)),
        working_ms: Set(a.facts.working_ms),
        facts_version: Set(FACTS_VERSION),
    }
}

pub(super) fn report_from_model(
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
pub(super) fn sorted(mut assignments: Vec<AssignmentRecord>) -> Vec<AssignmentRecord> {
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
pub(super) fn report_changes(r: &ReportRecord) -> Result<report::ActiveModel, StorageError> {
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
        wgs84_latitude: NotSet,
        wgs84_longitude: NotSet,
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
        // Kept by the deadlines' writes, never by a change to the report itself.
        due_at_ms: NotSet,
    })
}

/// The row of a report as filed: the one place a new report's fields are written.
pub(super) fn new_report_model(filing: &Filing) -> report::ActiveModel {
    let (new, now) = (&filing.new, filing.now);
    let wgs84 = new.location.wgs84();
    report::ActiveModel {
        id: Set(new.id.to_string()),
        author_id: Set(filing.author.to_string()),
        grid_id: Set(filing.grid.as_ref().map(|g| g.as_str().to_owned())),
        category_id: Set(new.category.as_str().to_owned()),
        description: Set(new.description.clone()),
        latitude: Set(new.location.point.lat()),
        longitude: Set(new.location.point.lng()),
        coordinate_system: Set(new.location.system.as_str().to_owned()),
        accuracy_m: Set(new.location.accuracy_m),
        wgs84_latitude: Set(Some(wgs84.0)),
        wgs84_longitude: Set(Some(wgs84.1)),
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
        due_at_ms: Set(NOTHING_DUE),
    }
}

/// The report named by `key` with its assignments and deadlines, if stored.
pub(super) async fn load_report(
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

/// Loads many reports with their assignments, in the order of `models`.
pub(in crate::storage) async fn with_assignments(
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
            if let Some(report) = d.report_id.clone() {
                deadlines_of.entry(report).or_default().push(d);
            }
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
pub(super) fn as_first_answered(mut record: ReportRecord) -> ReportRecord {
    record.state = ReportState::Open;
    record.resolution = None;
    record.version = 1;
    record.updated_at = record.created_at;
    record.case = None;
    record.assignments.clear();
    record.deadlines.clear();
    record
}
