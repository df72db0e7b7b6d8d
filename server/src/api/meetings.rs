//! The joint-meeting RPCs of `LedgerService` (联席会议), called from `ledger.rs`.

use gridwhistle_domain::ledger::AgendaReason;
use gridwhistle_domain::{Actor, MeetingId};
use gridwhistle_proto::v1;
use tonic::{Request, Response, Status};

use super::admin::department_name;
use super::closed_loop as loop_api;
use super::convert::{Violations, caller, only_field, request_hash, resource_id, timestamp};
use super::error::ApiError;
use super::ledger::steps;
use super::stats::file_parts;
use super::stream::BoxStream;
use crate::ledger::{Decision, LedgerService, NewMeeting, minutes_table};
use crate::model::{AgendaSubject, MeetingRecord};
use crate::stats::Month;

fn meeting_name(name: &str) -> Result<MeetingId, String> {
    resource_id(name, "jointMeetings")
        .and_then(|id| MeetingId::parse(id).map_err(|e| e.to_string()))
}

fn reason_to_proto(r: AgendaReason) -> i32 {
    match r {
        AgendaReason::Red => v1::AgendaReason::Red,
        AgendaReason::OverdueSteps => v1::AgendaReason::OverdueSteps,
        AgendaReason::CrossDepartment => v1::AgendaReason::CrossDepartment,
        AgendaReason::ReturnedByAll => v1::AgendaReason::ReturnedByAll,
    }
    .into()
}

fn meeting_to_proto(m: &MeetingRecord) -> v1::JointMeeting {
    v1::JointMeeting {
        name: format!("jointMeetings/{}", m.id),
        month: m.month.clone(),
        title: m.title.clone(),
        created_by: format!("users/{}", m.created_by),
        create_time: Some(timestamp(m.created_at)),
        items: m
            .items
            .iter()
            .map(|i| {
                let (ledger_entry, case) = match &i.subject {
                    AgendaSubject::Entry(e) => (format!("ledgerEntries/{e}"), String::new()),
                    AgendaSubject::Case { case, .. } => (String::new(), format!("cases/{case}")),
                };
                let d = i.decision.as_ref();
                v1::MeetingItem {
                    number: i32::try_from(i.number).unwrap_or(i32::MAX),
                    ledger_entry,
                    case,
                    reasons: i.reasons.iter().map(|r| reason_to_proto(*r)).collect(),
                    detail: i.detail.clone(),
                    lead_department: d
                        .map(|d| format!("departments/{}", d.lead))
                        .unwrap_or_default(),
                    assisting_departments: d
                        .map(|d| {
                            d.assists
                                .iter()
                                .map(|a| format!("departments/{a}"))
                                .collect()
                        })
                        .unwrap_or_default(),
                    decision: d.map(|d| d.text.clone()).unwrap_or_default(),
                    decided_by: d
                        .map(|d| format!("users/{}", d.decided_by))
                        .unwrap_or_default(),
                    decide_time: d.map(|d| timestamp(d.decided_at)),
                }
            })
            .collect(),
    }
}

pub(super) async fn call(
    service: &LedgerService,
    request: Request<v1::CallJointMeetingRequest>,
) -> Result<Response<v1::CallJointMeetingResponse>, Status> {
    let actor: Actor = caller(&request)?.actor.clone();
    let r = request.into_inner();
    let hash = request_hash(&r);
    let mut v = Violations::default();
    let id = v.check(
        "meeting_id",
        MeetingId::parse(&r.meeting_id).map_err(|e| e.to_string()),
    );
    let month = v.check("month", Month::parse(&r.month));
    let title = loop_api::text(&mut v, "title", &r.title, loop_api::SHORT_TEXT, true);
    v.finish()?;
    let (Some(id), Some(month)) = (id, month) else {
        return Err(ApiError::field("meeting_id", "is invalid").into());
    };
    let meeting = service
        .call_meeting(
            &actor,
            NewMeeting {
                id,
                month,
                title,
                request_hash: hash,
            },
        )
        .await
        .map_err(ApiError::from)?;
    Ok(Response::new(v1::CallJointMeetingResponse {
        meeting: Some(meeting_to_proto(&meeting)),
    }))
}

pub(super) async fn get(
    service: &LedgerService,
    request: Request<v1::GetJointMeetingRequest>,
) -> Result<Response<v1::GetJointMeetingResponse>, Status> {
    let actor: Actor = caller(&request)?.actor.clone();
    let id = only_field("name", meeting_name(&request.get_ref().name))?;
    let meeting = service.meeting(&actor, &id).await.map_err(ApiError::from)?;
    Ok(Response::new(v1::GetJointMeetingResponse {
        meeting: Some(meeting_to_proto(&meeting)),
    }))
}

pub(super) async fn list(
    service: &LedgerService,
    request: Request<v1::ListJointMeetingsRequest>,
) -> Result<Response<v1::ListJointMeetingsResponse>, Status> {
    let actor: Actor = caller(&request)?.actor.clone();
    let month = only_field("month", Month::parse(&request.get_ref().month))?;
    let meetings = service
        .meetings(&actor, month)
        .await
        .map_err(ApiError::from)?;
    Ok(Response::new(v1::ListJointMeetingsResponse {
        meetings: meetings.iter().map(meeting_to_proto).collect(),
    }))
}

pub(super) async fn decide(
    service: &LedgerService,
    request: Request<v1::DecideMeetingItemRequest>,
) -> Result<Response<v1::DecideMeetingItemResponse>, Status> {
    let actor: Actor = caller(&request)?.actor.clone();
    let r = request.into_inner();
    let mut v = Violations::default();
    let id = v.check("name", meeting_name(&r.name));
    let number = v.check(
        "number",
        u32::try_from(r.number)
            .ok()
            .filter(|n| *n > 0)
            .ok_or("must be an item's number, from 1"),
    );
    let lead = v.check("lead_department", department_name(&r.lead_department));
    let assists = v.distinct(
        "assisting_departments",
        &r.assisting_departments,
        &[],
        "department",
        department_name,
    );
    let text = loop_api::text(&mut v, "decision", &r.decision, loop_api::LONG_TEXT, true);
    let planned = steps(&mut v, &r.steps);
    v.finish()?;
    let steps = service.plan_steps(planned).map_err(ApiError::from)?;
    let (Some(id), Some(number), Some(lead)) = (id, number, lead) else {
        return Err(ApiError::field("name", "is invalid").into());
    };
    let meeting = service
        .decide_item(
            &actor,
            &id,
            number,
            Decision {
                lead,
                assists,
                text,
                steps,
            },
        )
        .await
        .map_err(ApiError::from)?;
    Ok(Response::new(v1::DecideMeetingItemResponse {
        meeting: Some(meeting_to_proto(&meeting)),
    }))
}

pub(super) async fn export(
    service: &LedgerService,
    request: Request<v1::ExportMeetingMinutesRequest>,
) -> Result<Response<BoxStream<v1::ExportMeetingMinutesResponse>>, Status> {
    let actor: Actor = caller(&request)?.actor.clone();
    let r = request.into_inner();
    let mut v = Violations::default();
    let id = v.check("name", meeting_name(&r.name));
    let format = v.check(
        "format",
        match v1::ExportFormat::try_from(r.format) {
            Ok(f @ (v1::ExportFormat::Csv | v1::ExportFormat::Xlsx)) => Ok(f),
            _ => Err("is required: CSV or XLSX"),
        },
    );
    v.finish()?;
    let (Some(id), Some(format)) = (id, format) else {
        return Err(ApiError::field("name", "is invalid").into());
    };
    let meeting = service.meeting(&actor, &id).await.map_err(ApiError::from)?;
    let table = minutes_table(&meeting, &service.zone());
    let parts = file_parts(
        &table,
        format,
        &format!("minutes-{}", meeting.month),
        |content_type, filename, data| v1::ExportMeetingMinutesResponse {
            content_type,
            filename,
            data,
        },
    )?;
    Ok(Response::new(Box::pin(tokio_stream::iter(parts))))
}
