//! `LedgerService`: the ledger of long-standing cases (积案台账) for supervisors, district leaders, departments and the grid workers whose cases are in it.

use std::sync::Arc;

use gridwhistle_domain::ledger::Colour;
use gridwhistle_domain::{Actor, LedgerEntryId};
use gridwhistle_proto::v1::{self, ledger_service_server::LedgerService as LedgerRpc};
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::admin::{department_name, user_name};
use super::closed_loop as loop_api;
use super::convert::{PageRequest, Violations, caller, request_hash, resource_id};
use super::enums::{
    colour_from_proto, level_from_proto, nature_from_proto, required_grade, state_from_proto,
};
use super::error::ApiError;
use super::ledger_view::entry_to_proto;
use super::stream::BoxStream;
use crate::ledger::{Change, LedgerError, LedgerService, NewEntry, PlannedStep, StepDue};
use crate::model::{LedgerFilter, LedgerPosition, LedgerReader};
use gridwhistle_dispatcher::policy::LONGEST_WORKING_DAYS;

/// Most steps one plan may hold.
const MAX_STEPS: usize = 50;
const TITLE_TEXT: usize = 200;

impl From<LedgerError> for ApiError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::Access(err, resource) => ApiError::access(err, resource),
            LedgerError::Field { field, reason } => ApiError::field(field, reason),
            LedgerError::Precondition(message) => {
                ApiError::precondition(super::error::reason::ENTRY_STATE, message)
            }
            LedgerError::Conflict => {
                ApiError::Conflict("entry_id was already used with a different request".to_owned())
            }
            LedgerError::Stale => ApiError::Aborted,
            LedgerError::Loop(err) => err.into(),
            LedgerError::Calendar(err) => {
                ApiError::precondition(super::error::reason::CALENDAR_MISSING, err)
            }
            LedgerError::Storage(err) => err.into(),
        }
    }
}

#[derive(Debug)]
pub struct LedgerApi {
    service: Arc<LedgerService>,
}

impl LedgerApi {
    pub fn new(service: Arc<LedgerService>) -> Self {
        Self { service }
    }

    /// Makes `change` to the entry `name` as the caller, answering the entry as they may see it.
    async fn change(
        &self,
        actor: &Actor,
        name: &str,
        etag: &str,
        change: Result<Change, ApiError>,
        mut v: Violations,
    ) -> Result<v1::LedgerEntry, Status> {
        let id = v.check("name", entry_name(name));
        let etag = loop_api::etag(&mut v, "etag", etag);
        v.finish()?;
        let (Some(id), change) = (id, change?) else {
            return Err(ApiError::field("name", "is invalid").into());
        };
        let entry = self
            .service
            .change(actor, &id, etag, change)
            .await
            .map_err(ApiError::from)?;
        Ok(entry_to_proto(actor, &entry, &[]))
    }
}

/// Parses `ledgerEntries/{entry}`.
pub(super) fn entry_name(name: &str) -> Result<LedgerEntryId, String> {
    resource_id(name, "ledgerEntries")
        .and_then(|id| LedgerEntryId::parse(id).map_err(|e| e.to_string()))
}

pub(super) fn steps(v: &mut Violations, plans: &[v1::LedgerStepPlan]) -> Vec<PlannedStep> {
    if plans.len() > MAX_STEPS {
        v.add("steps", format!("must hold at most {MAX_STEPS} steps"));
        return Vec::new();
    }
    plans
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let department = v.check(
                &format!("steps[{i}].department"),
                department_name(&p.department),
            );
            let description = loop_api::text(
                v,
                &format!("steps[{i}].description"),
                &p.description,
                loop_api::SHORT_TEXT,
                true,
            );
            let due = match (&p.due_time, p.working_days) {
                (Some(_), 0) => {
                    let at =
                        loop_api::time(v, &format!("steps[{i}].due_time"), p.due_time.as_ref());
                    at.map(StepDue::At)
                }
                (None, days) => v.check(
                    &format!("steps[{i}].working_days"),
                    u32::try_from(days)
                        .ok()
                        .filter(|d| (1..=LONGEST_WORKING_DAYS).contains(d))
                        .map(StepDue::WorkingDays)
                        .ok_or("must be set, from 1 to 3660 working days, when due_time is not"),
                ),
                (Some(_), _) => {
                    v.add(
                        &format!("steps[{i}].working_days"),
                        "must not be set with due_time",
                    );
                    None
                }
            };
            Some(PlannedStep {
                department: department?,
                description,
                due: due?,
            })
        })
        .collect()
}

#[tonic::async_trait]
impl LedgerRpc for LedgerApi {
    #[instrument(skip_all)]
    async fn open_ledger_entry(
        &self,
        request: Request<v1::OpenLedgerEntryRequest>,
    ) -> Result<Response<v1::OpenLedgerEntryResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let hash = request_hash(&r);
        let mut v = Violations::default();
        let id = v.check(
            "entry_id",
            LedgerEntryId::parse(&r.entry_id).map_err(|e| e.to_string()),
        );
        let case = (!r.case.is_empty())
            .then(|| v.check("case", loop_api::case_name(&r.case)))
            .flatten();
        let title = loop_api::text(&mut v, "title", &r.title, TITLE_TEXT, true);
        let summary = loop_api::text(&mut v, "summary", &r.summary, loop_api::LONG_TEXT, true);
        let nature = v.check("nature", nature_from_proto(r.nature));
        let since = loop_api::time(&mut v, "since_time", r.since_time.as_ref());
        let complexity = v.check("complexity", level_from_proto(r.complexity));
        let social_impact = v.check("social_impact", level_from_proto(r.social_impact));
        let grade = required_grade(&mut v, "grade", r.grade);
        let unit = v.check("responsible_unit", department_name(&r.responsible_unit));
        let responsible_person = loop_api::text(
            &mut v,
            "responsible_person",
            &r.responsible_person,
            TITLE_TEXT,
            true,
        );
        let leader = (!r.leader.is_empty())
            .then(|| v.check("leader", user_name(&r.leader)))
            .flatten();
        let parties = loop_api::parties(&mut v, "parties", &r.parties);
        let planned = steps(&mut v, &r.steps);
        v.finish()?;
        let steps = self.service.plan_steps(planned).map_err(ApiError::from)?;
        let (Some(id), Some(nature), Some(since), Some(complexity), Some(social_impact)) =
            (id, nature, since, complexity, social_impact)
        else {
            return Err(ApiError::field("entry_id", "is invalid").into());
        };
        let (Some(grade), Some(unit)) = (grade, unit) else {
            return Err(ApiError::field("grade", "is invalid").into());
        };
        let new = NewEntry {
            id,
            case,
            title,
            summary,
            nature,
            since,
            complexity,
            social_impact,
            grade,
            unit,
            responsible_person,
            leader,
            parties,
            steps,
            request_hash: hash,
        };
        let entry = self
            .service
            .open(&actor, new)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::OpenLedgerEntryResponse {
            entry: Some(entry_to_proto(&actor, &entry, &[])),
        }))
    }

    #[instrument(skip_all)]
    async fn get_ledger_entry(
        &self,
        request: Request<v1::GetLedgerEntryRequest>,
    ) -> Result<Response<v1::GetLedgerEntryResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let id = super::convert::only_field("name", entry_name(&request.get_ref().name))?;
        let (entry, timeline) = self
            .service
            .get(&actor, &id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::GetLedgerEntryResponse {
            entry: Some(entry_to_proto(&actor, &entry, &timeline)),
        }))
    }

    #[instrument(skip_all)]
    async fn list_ledger_entries(
        &self,
        request: Request<v1::ListLedgerEntriesRequest>,
    ) -> Result<Response<v1::ListLedgerEntriesResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let page = PageRequest::parse(r.page_size, &r.page_token)?;
        let mut v = Violations::default();
        let mut filter = LedgerFilter::new(LedgerReader::All);
        filter.grade = v
            .check("colour", colour_from_proto(r.colour))
            .flatten()
            .map(Colour::grade);
        filter.nature = match r.nature {
            0 => None,
            n => v.check("nature", nature_from_proto(n)),
        };
        filter.unit = (!r.responsible_unit.is_empty())
            .then(|| v.check("responsible_unit", department_name(&r.responsible_unit)))
            .flatten();
        filter.leader = (!r.leader.is_empty())
            .then(|| v.check("leader", user_name(&r.leader)))
            .flatten();
        filter.state = v.check("state", state_from_proto(r.state)).flatten();
        filter.overdue_at = r.overdue_only.then(|| self.service.now());
        let position = page
            .after
            .as_deref()
            .and_then(|key| v.check("page_token", position(key)));
        v.finish()?;
        let entries = self
            .service
            .list(&actor, filter, position.as_ref(), page.size)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ListLedgerEntriesResponse {
            next_page_token: page.next_token(&entries, |e| {
                let due = e.next_due().map_or(i64::MAX, |t| t.as_unix_millis());
                format!("{}.{due}.{}", e.grade, e.id)
            }),
            entries: entries
                .iter()
                .map(|e| entry_to_proto(&actor, e, &[]))
                .collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn count_ledger_entries(
        &self,
        request: Request<v1::CountLedgerEntriesRequest>,
    ) -> Result<Response<v1::CountLedgerEntriesResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let unit = &request.get_ref().responsible_unit;
        let unit = if unit.is_empty() {
            None
        } else {
            Some(super::convert::only_field(
                "responsible_unit",
                department_name(unit),
            )?)
        };
        let c = self
            .service
            .counts(&actor, unit.as_ref())
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::CountLedgerEntriesResponse {
            red: c.red,
            yellow: c.yellow,
            blue: c.blue,
            overdue: c.overdue,
        }))
    }

    #[instrument(skip_all)]
    async fn revise_ledger_plan(
        &self,
        request: Request<v1::ReviseLedgerPlanRequest>,
    ) -> Result<Response<v1::ReviseLedgerPlanResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let planned = steps(&mut v, &r.steps);
        let reason = loop_api::text(&mut v, "reason", &r.reason, loop_api::SHORT_TEXT, true);
        let change = self
            .service
            .plan_steps(planned)
            .map(|steps| Change::Revise { steps, reason })
            .map_err(ApiError::from);
        let entry = self.change(&actor, &r.name, &r.etag, change, v).await?;
        Ok(Response::new(v1::ReviseLedgerPlanResponse {
            entry: Some(entry),
        }))
    }

    #[instrument(skip_all)]
    async fn complete_ledger_step(
        &self,
        request: Request<v1::CompleteLedgerStepRequest>,
    ) -> Result<Response<v1::CompleteLedgerStepResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let step = v.check(
            "step",
            u32::try_from(r.step)
                .ok()
                .filter(|s| *s > 0)
                .ok_or("must be a step's number, from 1"),
        );
        let result = loop_api::text(&mut v, "result", &r.result, loop_api::LONG_TEXT, true);
        let attachments = loop_api::attachments(&mut v, "attachments", &r.attachments);
        let change = step
            .map(|step| Change::Complete {
                step,
                result,
                attachments,
            })
            .ok_or_else(|| ApiError::field("step", "is invalid"));
        let entry = self.change(&actor, &r.name, &r.etag, change, v).await?;
        Ok(Response::new(v1::CompleteLedgerStepResponse {
            entry: Some(entry),
        }))
    }

    #[instrument(skip_all)]
    async fn regrade_ledger_entry(
        &self,
        request: Request<v1::RegradeLedgerEntryRequest>,
    ) -> Result<Response<v1::RegradeLedgerEntryResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let grade = required_grade(&mut v, "grade", r.grade);
        let reason = loop_api::text(&mut v, "reason", &r.reason, loop_api::SHORT_TEXT, true);
        let change = grade
            .map(|grade| Change::Regrade { grade, reason })
            .ok_or_else(|| ApiError::field("grade", "is invalid"));
        let entry = self.change(&actor, &r.name, &r.etag, change, v).await?;
        Ok(Response::new(v1::RegradeLedgerEntryResponse {
            entry: Some(entry),
        }))
    }

    #[instrument(skip_all)]
    async fn name_ledger_leader(
        &self,
        request: Request<v1::NameLedgerLeaderRequest>,
    ) -> Result<Response<v1::NameLedgerLeaderResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let change = v
            .check("leader", user_name(&r.leader))
            .map(|leader| Change::NameLeader { leader })
            .ok_or_else(|| ApiError::field("leader", "is invalid"));
        let entry = self.change(&actor, &r.name, &r.etag, change, v).await?;
        Ok(Response::new(v1::NameLedgerLeaderResponse {
            entry: Some(entry),
        }))
    }

    #[instrument(skip_all)]
    async fn request_ledger_close_off(
        &self,
        request: Request<v1::RequestLedgerCloseOffRequest>,
    ) -> Result<Response<v1::RequestLedgerCloseOffResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let result = loop_api::text(&mut v, "result", &r.result, loop_api::LONG_TEXT, true);
        let stance = loop_api::text(
            &mut v,
            "parties_stance",
            &r.parties_stance,
            loop_api::SHORT_TEXT,
            true,
        );
        let change = Ok(Change::RequestClose { result, stance });
        let entry = self.change(&actor, &r.name, &r.etag, change, v).await?;
        Ok(Response::new(v1::RequestLedgerCloseOffResponse {
            entry: Some(entry),
        }))
    }

    #[instrument(skip_all)]
    async fn decide_ledger_close_off(
        &self,
        request: Request<v1::DecideLedgerCloseOffRequest>,
    ) -> Result<Response<v1::DecideLedgerCloseOffResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        // A refusal says why; an approval may.
        let reason = loop_api::text(
            &mut v,
            "reason",
            &r.reason,
            loop_api::SHORT_TEXT,
            !r.approve,
        );
        let change = Ok(Change::DecideClose {
            approve: r.approve,
            reason,
        });
        let entry = self.change(&actor, &r.name, &r.etag, change, v).await?;
        Ok(Response::new(v1::DecideLedgerCloseOffResponse {
            entry: Some(entry),
        }))
    }

    #[instrument(skip_all)]
    async fn record_interview(
        &self,
        request: Request<v1::RecordInterviewRequest>,
    ) -> Result<Response<v1::RecordInterviewResponse>, Status> {
        super::interviews::record(&self.service, request).await
    }

    #[instrument(skip_all)]
    async fn list_interviews(
        &self,
        request: Request<v1::ListInterviewsRequest>,
    ) -> Result<Response<v1::ListInterviewsResponse>, Status> {
        super::interviews::list(&self.service, request).await
    }

    #[instrument(skip_all)]
    async fn call_joint_meeting(
        &self,
        request: Request<v1::CallJointMeetingRequest>,
    ) -> Result<Response<v1::CallJointMeetingResponse>, Status> {
        super::meetings::call(&self.service, request).await
    }

    #[instrument(skip_all)]
    async fn get_joint_meeting(
        &self,
        request: Request<v1::GetJointMeetingRequest>,
    ) -> Result<Response<v1::GetJointMeetingResponse>, Status> {
        super::meetings::get(&self.service, request).await
    }

    #[instrument(skip_all)]
    async fn list_joint_meetings(
        &self,
        request: Request<v1::ListJointMeetingsRequest>,
    ) -> Result<Response<v1::ListJointMeetingsResponse>, Status> {
        super::meetings::list(&self.service, request).await
    }

    #[instrument(skip_all)]
    async fn decide_meeting_item(
        &self,
        request: Request<v1::DecideMeetingItemRequest>,
    ) -> Result<Response<v1::DecideMeetingItemResponse>, Status> {
        super::meetings::decide(&self.service, request).await
    }

    type ExportMeetingMinutesStream = BoxStream<v1::ExportMeetingMinutesResponse>;

    #[instrument(skip_all)]
    async fn export_meeting_minutes(
        &self,
        request: Request<v1::ExportMeetingMinutesRequest>,
    ) -> Result<Response<Self::ExportMeetingMinutesStream>, Status> {
        super::meetings::export(&self.service, request).await
    }

    #[instrument(skip_all)]
    async fn reopen_ledger_entry(
        &self,
        request: Request<v1::ReopenLedgerEntryRequest>,
    ) -> Result<Response<v1::ReopenLedgerEntryResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let reason = loop_api::text(&mut v, "reason", &r.reason, loop_api::SHORT_TEXT, true);
        let change = Ok(Change::Reopen { reason });
        let entry = self.change(&actor, &r.name, &r.etag, change, v).await?;
        Ok(Response::new(v1::ReopenLedgerEntryResponse {
            entry: Some(entry),
        }))
    }
}

/// Parses a listing's page token: `{grade}.{next due ms}.{id}`.
fn position(key: &str) -> Result<LedgerPosition, &'static str> {
    const BAD: &str = "is not a page token this server issued";
    let mut parts = key.splitn(3, '.');
    let (Some(grade), Some(due), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(BAD);
    };
    Ok(LedgerPosition {
        grade: grade.parse().map_err(|_| BAD)?,
        next_due_ms: due.parse().map_err(|_| BAD)?,
        id: LedgerEntryId::parse(id).map_err(|_| BAD)?,
    })
}
