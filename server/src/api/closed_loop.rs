//! Conversions between the closed loop's domain records and the API's reports, cases and events, naming each failing field; parties are masked here for callers who may not see them.

use std::time::Duration;

use gridwhistle_domain::{
    Actor, AttachmentId, CaseId, IdNumber, LetterId, Party, PhoneNumber, ReportId, Timestamp,
    check_text,
};
use gridwhistle_proto::v1;

use super::convert::{Violations, fits, resource_id, timestamp};
use super::error::ApiError;
use crate::closed_loop::LoopError;
use crate::model::{
    AssignmentRecord, DeadlineRecord, DeadlineState, EventPosition, EventRecord, ExtensionRecord,
    LetterRecord, ReportRecord, RoutingRecord, RoutingRule,
};
use crate::storage::AttachmentRecord;

pub(crate) use super::enums::{
    any_stage_from_proto, assignment_state_from_proto, assignment_state_to_proto,
    case_state_to_proto, event_kind_to_proto, extension_state_to_proto, grade_from_proto,
    grade_to_proto, report_state_from_proto, report_state_to_proto, role_to_proto,
    stage_from_proto, stage_to_proto, whistle_kind_from_proto, whistle_kind_to_proto,
};

pub(crate) const MAX_PARTIES: usize = 20;
pub(crate) const MAX_ATTACHMENTS: usize = 20;
pub(crate) const LONG_TEXT: usize = 2000;
pub(crate) const SHORT_TEXT: usize = 1000;
const NAME_TEXT: usize = 64;

impl From<LoopError> for ApiError {
    fn from(err: LoopError) -> Self {
        match err {
            LoopError::Access(err, resource) => ApiError::access(err, resource),
            LoopError::Field { field, reason } => ApiError::field(field, reason),
            LoopError::Illegal(step) => {
                ApiError::precondition(super::error::reason::STEP_NOT_ALLOWED, step.0)
            }
            LoopError::Conflict(field) => {
                ApiError::Conflict(format!("{field} was already used with a different payload"))
            }
            LoopError::Stale => ApiError::Aborted,
            LoopError::Calendar(err) => {
                ApiError::precondition(super::error::reason::CALENDAR_MISSING, err)
            }
            LoopError::PolicyNotLoaded(_) => ApiError::Unavailable,
            LoopError::Storage(err) => err.into(),
        }
    }
}

/// Parses a `supervisionLetters/{letter}` name.
pub(crate) fn letter_name(name: &str) -> Result<LetterId, String> {
    resource_id(name, "supervisionLetters")
        .and_then(|id| LetterId::parse(id).map_err(|e| e.to_string()))
}

/// A supervision letter as the API shows it.
pub(crate) fn letter_to_proto(letter: &LetterRecord) -> v1::SupervisionLetter {
    v1::SupervisionLetter {
        name: format!("supervisionLetters/{}", letter.id),
        department: format!("departments/{}", letter.department),
        cases: letter.cases.iter().map(|c| format!("cases/{c}")).collect(),
        text: letter.text.clone(),
        issuer: format!("users/{}", letter.issuer),
        create_time: Some(timestamp(letter.created_at)),
        reply_due_time: Some(timestamp(letter.reply_due)),
        acknowledge_time: letter.answered_at.map(timestamp),
        reply: letter.reply.clone().unwrap_or_default(),
    }
}

/// Parses a `reports/{report}` name.
pub(crate) fn report_name(name: &str) -> Result<ReportId, String> {
    resource_id(name, "reports").and_then(|id| ReportId::parse(id).map_err(|e| e.to_string()))
}

/// Parses a `cases/{case}` name.
pub(crate) fn case_name(name: &str) -> Result<CaseId, String> {
    resource_id(name, "cases").and_then(|id| CaseId::parse(id).map_err(|e| e.to_string()))
}

/// An etag sent back by the client; empty means "no check".
pub(crate) fn etag(v: &mut Violations, field: &str, value: &str) -> Option<i64> {
    if value.is_empty() {
        return None;
    }
    v.check(
        field,
        value
            .parse::<i64>()
            .map_err(|_| "is not an etag this server issued"),
    )
}

pub(crate) fn text(
    v: &mut Violations,
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) -> String {
    v.check(field, check_text(value, max, required))
        .unwrap_or_default()
}

pub(crate) fn attachments(v: &mut Violations, field: &str, names: &[String]) -> Vec<AttachmentId> {
    if names.len() > MAX_ATTACHMENTS {
        v.add(
            field,
            format!("must hold at most {MAX_ATTACHMENTS} attachments"),
        );
        return Vec::new();
    }
    let mut out: Vec<AttachmentId> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if let Some(id) = v.check(
            &format!("{field}[{i}]"),
            resource_id(name, "attachments")
                .and_then(|id| AttachmentId::parse(id).map_err(|e| e.to_string())),
        ) && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

pub(crate) fn parties(v: &mut Violations, field: &str, parties: &[v1::Party]) -> Vec<Party> {
    if parties.len() > MAX_PARTIES {
        v.add(field, format!("must hold at most {MAX_PARTIES} parties"));
        return Vec::new();
    }
    parties
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let at = |name: &str| format!("{field}[{i}].{name}");
            if p.masked {
                v.add(
                    &at("masked"),
                    "must be false: send the parties' real details",
                );
            }
            Party {
                name: text(v, &at("name"), &p.name, NAME_TEXT, true),
                phone: (!p.phone.is_empty())
                    .then(|| v.check(&at("phone"), PhoneNumber::parse(&p.phone)))
                    .flatten(),
                id_number: (!p.id_number.is_empty())
                    .then(|| v.check(&at("id_number"), IdNumber::parse(&p.id_number)))
                    .flatten(),
                relation: text(v, &at("relation"), &p.relation, NAME_TEXT, false),
            }
        })
        .collect()
}

pub(crate) fn time(
    v: &mut Violations,
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> Option<Timestamp> {
    let Some(t) = t else {
        v.add(field, "is required");
        return None;
    };
    if !(0..1_000_000_000).contains(&t.nanos) {
        v.add(field, "nanos must be between 0 and 999,999,999");
        return None;
    }
    match t.seconds.checked_mul(1000) {
        Some(ms) => Some(Timestamp::from_unix_millis(
            ms + i64::from(t.nanos / 1_000_000),
        )),
        None => {
            v.add(field, "is out of range");
            None
        }
    }
}

fn location_to_proto(p: &gridwhistle_dispatcher::routing::rules::Position) -> v1::Location {
    v1::Location {
        latitude: p.point.lat(),
        longitude: p.point.lng(),
        coordinate_system: match p.system {
            gridwhistle_domain::CoordinateSystem::Wgs84 => v1::CoordinateSystem::Wgs84,
            gridwhistle_domain::CoordinateSystem::Gcj02 => v1::CoordinateSystem::Gcj02,
            gridwhistle_domain::CoordinateSystem::Bd09 => v1::CoordinateSystem::Bd09,
        }
        .into(),
        accuracy_meters: p.accuracy_m,
    }
}

fn attachment_names(ids: &[AttachmentId]) -> Vec<String> {
    ids.iter().map(|id| format!("attachments/{id}")).collect()
}

/// The parties as this caller may see them; unmasked only when the call's audit notes it (`reveals`), unless the caller is the grid worker who recorded them.
pub(crate) fn parties_for(actor: &Actor, record: &ReportRecord) -> Vec<v1::Party> {
    let sees = actor.sees_parties(&record.author, &record.working_departments());
    let unmasked = sees
        && (record.parties.is_empty()
            || actor.user_id == record.author
            || crate::reveals::note(actor, subject_of(record)));
    show_parties(&record.parties, unmasked)
}

/// The resource a report's parties belong to in the audit: its case once whistled, the report before.
fn subject_of(record: &ReportRecord) -> String {
    match &record.case {
        Some(case) => format!("cases/{}", case.id),
        None => format!("reports/{}", record.id),
    }
}

/// `parties` unmasked, or masked.
pub(crate) fn show_parties(parties: &[Party], unmasked: bool) -> Vec<v1::Party> {
    parties
        .iter()
        .map(|p| {
            if unmasked {
                return v1::Party {
                    name: p.name.clone(),
                    phone: p
                        .phone
                        .as_ref()
                        .map(|x| x.as_str().to_owned())
                        .unwrap_or_default(),
                    id_number: p
                        .id_number
                        .as_ref()
                        .map(|x| x.as_str().to_owned())
                        .unwrap_or_default(),
                    relation: p.relation.clone(),
                    masked: false,
                };
            }
            let m = p.masked();
            v1::Party {
                name: m.name,
                phone: m.phone.unwrap_or_default(),
                id_number: m.id_number.unwrap_or_default(),
                relation: m.relation,
                masked: true,
            }
        })
        .collect()
}

/// The report as its author sees it, with the summoned departments' shares (state, times, deadlines as of `now`, results) once whistled.
pub(crate) fn report_to_proto(
    actor: &Actor,
    r: &ReportRecord,
    now: Timestamp,
) -> Result<v1::Report, ApiError> {
    report_with(r, now, parties_for(actor, r))
}

/// The report with `parties` as given: the caller's view, or none in an answer stored for a retry.
pub(crate) fn report_with(
    r: &ReportRecord,
    now: Timestamp,
    parties: Vec<v1::Party>,
) -> Result<v1::Report, ApiError> {
    Ok(v1::Report {
        name: format!("reports/{}", r.id),
        author: format!("users/{}", r.author),
        grid: r
            .grid
            .as_ref()
            .map(|g| format!("grids/{g}"))
            .unwrap_or_default(),
        category: format!("categories/{}", r.category),
        description: r.description.clone(),
        location: Some(location_to_proto(&r.location)),
        observe_time: Some(timestamp(r.observed_at)),
        create_time: Some(timestamp(r.created_at)),
        update_time: Some(timestamp(r.updated_at)),
        risk_grade: grade_to_proto(r.risk_grade),
        parties,
        attachments: attachment_names(&r.attachments),
        state: report_state_to_proto(r.state),
        resolution: r.resolution.clone().unwrap_or_default(),
        case: r
            .case
            .as_ref()
            .map(|c| format!("cases/{}", c.id))
            .unwrap_or_default(),
        etag: r.version.to_string(),
        satisfaction: satisfaction(r),
        assignments: r
            .assignments
            .iter()
            .map(|a| assignment_to_proto(a, &r.deadlines, now))
            .collect::<Result<_, _>>()?,
    })
}

/// The author's rating of the case's result once accepted; 0 before.
fn satisfaction(r: &ReportRecord) -> i32 {
    r.case
        .as_ref()
        .and_then(|c| c.satisfaction)
        .map_or(0, i32::from)
}

fn routing_to_proto(r: &RoutingRecord) -> v1::RoutingDecision {
    v1::RoutingDecision {
        departments: r
            .departments
            .iter()
            .map(|d| v1::RoutedDepartment {
                department: format!("departments/{}", d.department),
                department_type: d.department_type.clone(),
                role: role_to_proto(d.role),
                jurisdiction: d.jurisdiction.clone().unwrap_or_default(),
            })
            .collect(),
        generation: r.generation,
        rule: match r.rule {
            RoutingRule::SingleCover => v1::RoutingRule::SingleCover,
            RoutingRule::TieBreak => v1::RoutingRule::TieBreak,
            RoutingRule::Fallback => v1::RoutingRule::Fallback,
        }
        .into(),
        near_border: r.near_border,
        border_distance_meters: r.border_distance_m,
        needs_supervisor: r.needs_supervisor,
        routed_location: Some(v1::Location {
            latitude: r.routed_lat,
            longitude: r.routed_lng,
            coordinate_system: v1::CoordinateSystem::Wgs84.into(),
            accuracy_meters: 0.0,
        }),
        grid: r
            .grid
            .as_ref()
            .map(|g| format!("grids/{g}"))
            .unwrap_or_default(),
        explanation: r.explanation.clone(),
    }
}

/// A department's share with its deadlines; a pending deadline past its due time reads as breached.
fn assignment_to_proto(
    a: &AssignmentRecord,
    deadlines: &[DeadlineRecord],
    now: Timestamp,
) -> Result<v1::Assignment, ApiError> {
    Ok(v1::Assignment {
        department: format!("departments/{}", a.department),
        role: role_to_proto(a.role),
        state: assignment_state_to_proto(a.state),
        deadlines: deadlines
            .iter()
            .filter(|d| d.department == a.department)
            .map(|d| {
                Ok(v1::Deadline {
                    stage: stage_to_proto(d.stage),
                    due_time: Some(timestamp(d.due_at)),
                    state: match d.state {
                        DeadlineState::Pending if now >= d.due_at => v1::DeadlineState::Breached,
                        DeadlineState::Pending => v1::DeadlineState::Pending,
                        DeadlineState::Satisfied => v1::DeadlineState::Satisfied,
                        DeadlineState::Cancelled => v1::DeadlineState::Cancelled,
                    }
                    .into(),
                    escalation_level: fits("escalation_level", d.escalation_level)?,
                    satisfy_time: d.satisfied_at.map(timestamp),
                    provisional: d.provisional,
                })
            })
            .collect::<Result<_, ApiError>>()?,
        report_in_time: a.report_in_at.map(timestamp),
        contact_time: a.contact_at.map(timestamp),
        complete_time: a.complete_at.map(timestamp),
        result: a.result.clone().unwrap_or_default(),
        result_attachments: attachment_names(&a.result_attachments),
    })
}

/// The case of a whistled report; `None` before the whistle.
pub(crate) fn case_to_proto(
    actor: &Actor,
    r: &ReportRecord,
    now: Timestamp,
) -> Result<Option<v1::Case>, ApiError> {
    if r.case.is_none() {
        return Ok(None);
    }
    case_with(r, now, parties_for(actor, r))
}

/// The case with `parties` as given: the caller's view, or none in an answer stored for a retry.
pub(crate) fn case_with(
    r: &ReportRecord,
    now: Timestamp,
    parties: Vec<v1::Party>,
) -> Result<Option<v1::Case>, ApiError> {
    let Some(case) = r.case.as_ref() else {
        return Ok(None);
    };
    Ok(Some(v1::Case {
        name: format!("cases/{}", case.id),
        report: format!("reports/{}", r.id),
        category: format!("categories/{}", r.category),
        description: r.description.clone(),
        location: Some(location_to_proto(&r.location)),
        risk_grade: grade_to_proto(r.risk_grade),
        whistle_kind: whistle_kind_to_proto(case.kind),
        parties,
        state: case_state_to_proto(case.state),
        assignments: r
            .assignments
            .iter()
            .map(|a| assignment_to_proto(a, &r.deadlines, now))
            .collect::<Result<_, _>>()?,
        routing: Some(routing_to_proto(&case.routing)),
        rework_count: fits("rework_count", case.rework_count)?,
        create_time: Some(timestamp(case.whistled_at)),
        update_time: Some(timestamp(r.updated_at)),
        etag: r.version.to_string(),
        satisfaction: satisfaction(r),
    }))
}

pub(crate) fn event_to_proto(e: &EventRecord) -> v1::CaseEvent {
    v1::CaseEvent {
        sequence: e.sequence,
        kind: event_kind_to_proto(e.kind),
        actor: e.actor.map(|a| format!("users/{a}")).unwrap_or_default(),
        department: e
            .department
            .as_ref()
            .map(|d| format!("departments/{d}"))
            .unwrap_or_default(),
        time: Some(timestamp(e.at)),
        text: e.text.clone(),
        attachments: attachment_names(&e.attachments),
    }
}

/// The report after a step, as the step's answer shows it: its deadlines as of the step, with `parties` as given.
pub(crate) fn report_after(
    record: &ReportRecord,
    parties: Vec<v1::Party>,
) -> Result<Option<v1::Report>, ApiError> {
    report_with(record, record.updated_at, parties).map(Some)
}

/// The case after a step, as the step's answer shows it: its deadlines as of the step, with `parties` as given.
pub(crate) fn case_after(
    record: &ReportRecord,
    parties: Vec<v1::Party>,
) -> Result<Option<v1::Case>, ApiError> {
    case_with(record, record.updated_at, parties)
}

/// An extension of the case `record` became, as an answer shows it.
pub(crate) fn extension_of(
    record: &ReportRecord,
    extension: Option<&ExtensionRecord>,
) -> Option<v1::Extension> {
    let case = record.case.as_ref()?;
    extension.map(|x| extension_to_proto(&case.id, x))
}

pub(crate) fn extension_to_proto(case: &CaseId, x: &ExtensionRecord) -> v1::Extension {
    v1::Extension {
        name: format!("cases/{case}/extensions/{}", x.id),
        department: format!("departments/{}", x.department),
        stage: stage_to_proto(x.stage),
        requested_due_time: Some(timestamp(x.requested_due)),
        reason: x.reason.clone(),
        state: extension_state_to_proto(x.state),
        approved_due_time: x.approved_due.map(timestamp),
        decision_reason: x.decision_reason.clone().unwrap_or_default(),
        create_time: Some(timestamp(x.created_at)),
        decide_time: x.decided_at.map(timestamp),
    }
}

pub(crate) fn size(bytes: u64) -> Result<i64, ApiError> {
    fits("size_bytes", bytes)
}

pub(crate) fn attachment_to_proto(a: &AttachmentRecord) -> Result<v1::Attachment, ApiError> {
    Ok(v1::Attachment {
        name: format!("attachments/{}", a.id),
        content_type: a.content_type.clone(),
        size_bytes: size(a.size)?,
        create_time: Some(timestamp(a.created_at)),
    })
}

/// A stream cursor: the position of the last event delivered, as `txid.id`.
pub(crate) fn encode_cursor(p: EventPosition) -> String {
    format!("{}.{}", p.txid, p.id)
}

pub(crate) fn decode_cursor(value: &str) -> Result<EventPosition, &'static str> {
    super::convert::number_pair(value)
        .map(|(txid, id)| EventPosition { txid, id })
        .ok_or("is not a cursor this server issued")
}

/// How often a stream looks for other replicas' events when nothing woke it.
pub(crate) const STREAM_POLL: Duration = Duration::from_millis(500);
