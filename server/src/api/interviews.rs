//! The interview RPCs of `LedgerService` (约谈), called from `ledger.rs`.

use gridwhistle_domain::{Actor, InterviewId, Timestamp};
use gridwhistle_proto::v1;
use tonic::{Request, Response, Status};

use super::admin::department_name;
use super::closed_loop::{self as loop_api, letter_name};
use super::convert::{PageRequest, Violations, caller, request_hash, timestamp};
use super::error::ApiError;
use super::ledger::entry_name;
use crate::ledger::{LedgerService, NewInterview};
use crate::model::{InterviewFilter, InterviewRecord};

/// Most letters or entries one interview may name.
const MAX_GROUNDS: usize = 50;

fn interview_to_proto(i: &InterviewRecord) -> v1::Interview {
    v1::Interview {
        name: format!("interviews/{}", i.id),
        department: format!("departments/{}", i.department),
        person: i.person.clone(),
        reason: i.reason.clone(),
        supervision_letters: i
            .letters
            .iter()
            .map(|l| format!("supervisionLetters/{l}"))
            .collect(),
        ledger_entries: i
            .entries
            .iter()
            .map(|e| format!("ledgerEntries/{e}"))
            .collect(),
        outcome: i.outcome.clone(),
        interviewer: format!("users/{}", i.interviewer),
        held_time: Some(timestamp(i.held_at)),
        create_time: Some(timestamp(i.created_at)),
    }
}

pub(super) async fn record(
    service: &LedgerService,
    request: Request<v1::RecordInterviewRequest>,
) -> Result<Response<v1::RecordInterviewResponse>, Status> {
    let actor: Actor = caller(&request)?.actor.clone();
    let r = request.into_inner();
    let hash = request_hash(&r);
    let mut v = Violations::default();
    let id = v.check(
        "interview_id",
        InterviewId::parse(&r.interview_id).map_err(|e| e.to_string()),
    );
    let department = v.check("department", department_name(&r.department));
    let person = loop_api::text(&mut v, "person", &r.person, loop_api::SHORT_TEXT, true);
    let reason = loop_api::text(&mut v, "reason", &r.reason, loop_api::LONG_TEXT, true);
    let outcome = loop_api::text(&mut v, "outcome", &r.outcome, loop_api::LONG_TEXT, true);
    let held_at = loop_api::time(&mut v, "held_time", r.held_time.as_ref());
    for (field, count) in [
        ("supervision_letters", r.supervision_letters.len()),
        ("ledger_entries", r.ledger_entries.len()),
    ] {
        if count > MAX_GROUNDS {
            v.add(field, format!("at most {MAX_GROUNDS}"));
        }
    }
    let letters = v.distinct(
        "supervision_letters",
        &r.supervision_letters,
        &[],
        "letter",
        letter_name,
    );
    let entries = v.distinct(
        "ledger_entries",
        &r.ledger_entries,
        &[],
        "entry",
        entry_name,
    );
    v.finish()?;
    let (Some(id), Some(department), Some(held_at)) = (id, department, held_at) else {
        return Err(ApiError::field("interview_id", "is invalid").into());
    };
    let interview = service
        .record_interview(
            &actor,
            NewInterview {
                id,
                department,
                person,
                reason,
                letters,
                entries,
                outcome,
                held_at,
                request_hash: hash,
            },
        )
        .await
        .map_err(ApiError::from)?;
    Ok(Response::new(v1::RecordInterviewResponse {
        interview: Some(interview_to_proto(&interview)),
    }))
}

pub(super) async fn list(
    service: &LedgerService,
    request: Request<v1::ListInterviewsRequest>,
) -> Result<Response<v1::ListInterviewsResponse>, Status> {
    let actor: Actor = caller(&request)?.actor.clone();
    let r = request.into_inner();
    let page = PageRequest::parse(r.page_size, &r.page_token)?;
    let mut v = Violations::default();
    let mut filter = InterviewFilter {
        department: (!r.department.is_empty())
            .then(|| v.check("department", department_name(&r.department)))
            .flatten(),
        ..InterviewFilter::default()
    };
    filter.from = r
        .start_time
        .as_ref()
        .and_then(|t| loop_api::time(&mut v, "start_time", Some(t)));
    filter.until = r
        .end_time
        .as_ref()
        .and_then(|t| loop_api::time(&mut v, "end_time", Some(t)));
    let before = page.after.as_deref().and_then(|key| {
        v.check(
            "page_token",
            key.split_once('/')
                .and_then(|(held, id)| {
                    let held = held.parse::<i64>().ok()?;
                    Some((
                        Timestamp::from_unix_millis(held),
                        InterviewId::parse(id).ok()?,
                    ))
                })
                .ok_or("is not a page token this server issued"),
        )
    });
    v.finish()?;
    let interviews = service
        .interviews(&actor, filter, before, page.size)
        .await
        .map_err(ApiError::from)?;
    Ok(Response::new(v1::ListInterviewsResponse {
        next_page_token: page.next_token(&interviews, |i| {
            format!("{}/{}", i.held_at.as_unix_millis(), i.id)
        }),
        interviews: interviews.iter().map(interview_to_proto).collect(),
    }))
}
