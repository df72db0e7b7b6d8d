//! `SupervisionService` for supervisors: the district's overdue work and escalations, extension decisions, reassignment, supervision letters and pushes given up on (dead letters), and the figures (`stats.rs`). Departments list their own extensions and letters here too.

use std::sync::Arc;

use gridwhistle_domain::{
    Action, Actor, CaseId, DepartmentId, EventKind, ExtensionId, LetterId, Timestamp,
};
use gridwhistle_proto::v1::{self, supervision_service_server::SupervisionService};
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::admin::department_name;
use super::closed_loop::{self as loop_api, grade_from_proto, grade_to_proto, stage_to_proto};
use super::convert::{
    PageRequest, Violations, caller, fits, number_pair, only_field, request_hash, timestamp,
};
use super::devices::{channel_to_proto, kind_to_proto};
use super::enums::{extension_state_from_proto, required_grade};
use super::error::ApiError;
use super::feed::{follow, start_at};
use super::once::{on_case, request_key};
use super::stats;
use super::stream::BoxStream;
use crate::closed_loop::{ExtensionDecision, Guard, LetterDraft, LoopService};
use crate::model::{
    Effects, EventFilter, ExtensionFilter, LetterFilter, OverdueFilter, ReportRecord,
};
use crate::stats::StatsService;

/// Most cases one supervision letter may name.
const MAX_LETTER_CASES: usize = 50;

#[derive(Debug)]
pub struct SupervisionApi {
    service: Arc<LoopService>,
    stats: Arc<StatsService>,
    stop: watch::Receiver<bool>,
}

impl SupervisionApi {
    pub fn new(
        service: Arc<LoopService>,
        stats: Arc<StatsService>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            service,
            stats,
            stop,
        }
    }
}

/// Parses `cases/{case}/extensions/{extension}`.
fn extension_name(name: &str) -> Result<(CaseId, ExtensionId), String> {
    let rest = name
        .strip_prefix("cases/")
        .ok_or("must be cases/{case}/extensions/{extension}")?;
    let (case, extension) = rest
        .split_once("/extensions/")
        .ok_or("must be cases/{case}/extensions/{extension}")?;
    Ok((
        CaseId::parse(case).map_err(|e| e.to_string())?,
        ExtensionId::parse(extension).map_err(|e| e.to_string())?,
    ))
}

/// The caller, when they may supervise.
fn supervise<T>(request: &Request<T>) -> Result<Actor, Status> {
    let actor = caller(request)?.actor.clone();
    actor
        .authorize(Action::Supervise)
        .map_err(|e| ApiError::access(e, "supervision"))?;
    Ok(actor)
}

/// Parses a `{due_ms}.{letter}` position from a page token.
fn letter_position(key: &str) -> Result<(Timestamp, LetterId), &'static str> {
    const BAD: &str = "is not a token this server issued";
    let (due, id) = key.split_once('.').ok_or(BAD)?;
    let due = due.parse::<i64>().map_err(|_| BAD)?;
    Ok((
        Timestamp::from_unix_millis(due),
        LetterId::parse(id).map_err(|_| BAD)?,
    ))
}

/// An optional `departments/{department}`: empty means none.
fn optional_department(value: &str) -> Result<Option<DepartmentId>, String> {
    if value.is_empty() {
        Ok(None)
    } else {
        department_name(value).map(Some)
    }
}

/// Parses a `{due_ms}.{id}` position from a page token.
fn overdue_position(key: &str) -> Result<(Timestamp, i64), &'static str> {
    number_pair(key)
        .map(|(due, id)| (Timestamp::from_unix_millis(due), id))
        .ok_or("is not a token this server issued")
}

#[tonic::async_trait]
impl SupervisionService for SupervisionApi {
    #[instrument(skip_all)]
    async fn list_overdue(
        &self,
        request: Request<v1::ListOverdueRequest>,
    ) -> Result<Response<v1::ListOverdueResponse>, Status> {
        let actor = supervise(&request)?;
        let r = request.into_inner();
        let page = PageRequest::parse(r.page_size, &r.page_token)?;
        let mut v = Violations::default();
        let after = page
            .after
            .as_deref()
            .and_then(|key| v.check("page_token", overdue_position(key)));
        let department = if r.department.is_empty() {
            None
        } else {
            v.check("department", department_name(&r.department))
        };
        let risk_grade = v
            .check("risk_grade", grade_from_proto(r.risk_grade))
            .flatten();
        let stage = if r.stage == i32::from(v1::DeadlineStage::Unspecified) {
            None
        } else {
            v.check("stage", loop_api::any_stage_from_proto(r.stage))
        };
        v.finish()?;
        let filter = OverdueFilter {
            department,
            risk_grade,
            stage,
        };
        let items = self
            .service
            .list_overdue(&actor, &filter, after, page.size)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ListOverdueResponse {
            next_page_token: page.next_token(&items, |o| {
                format!("{}.{}", o.due_at.as_unix_millis(), o.deadline)
            }),
            items: items
                .iter()
                .map(|o| {
                    Ok(v1::OverdueItem {
                        case: format!("cases/{}", o.case),
                        department: format!("departments/{}", o.department),
                        stage: stage_to_proto(o.stage),
                        due_time: Some(timestamp(o.due_at)),
                        risk_grade: grade_to_proto(o.risk_grade),
                        escalation_level: fits("escalation_level", o.escalation_level)?,
                        provisional: o.provisional,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
        }))
    }

    type WatchEscalationsStream = BoxStream<v1::WatchEscalationsResponse>;

    #[instrument(skip_all)]
    async fn watch_escalations(
        &self,
        request: Request<v1::WatchEscalationsRequest>,
    ) -> Result<Response<Self::WatchEscalationsStream>, Status> {
        supervise(&request)?;
        let feed = self.service.feed().clone();
        let start = start_at(&feed, &request.get_ref().cursor).await?;
        let reader = feed.clone();
        let stream = follow(
            feed,
            EventFilter::Kind(EventKind::Escalated),
            start,
            self.stop.clone(),
            move |event| {
                let reader = reader.clone();
                async move {
                    let Some(e) = reader.escalation_of(&event.report, event.sequence).await? else {
                        return Ok(None);
                    };
                    Ok(Some(v1::WatchEscalationsResponse {
                        escalation: Some(v1::Escalation {
                            case: format!("cases/{}", e.case),
                            department: event
                                .department
                                .as_ref()
                                .map(|d| format!("departments/{d}"))
                                .unwrap_or_default(),
                            stage: e
                                .stage
                                .map_or(v1::DeadlineStage::Unspecified.into(), stage_to_proto),
                            escalation_level: fits("escalation_level", e.escalation_level)?,
                            audience: e.audience,
                            due_time: e.due_at.map(timestamp),
                            fire_time: Some(timestamp(event.at)),
                        }),
                        cursor: loop_api::encode_cursor(event.position),
                    }))
                }
            },
        );
        Ok(Response::new(stream))
    }

    #[instrument(skip_all)]
    async fn decide_extension(
        &self,
        request: Request<v1::DecideExtensionRequest>,
    ) -> Result<Response<v1::DecideExtensionResponse>, Status> {
        supervise(&request)?;
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let name = v.check("name", extension_name(&r.name));
        let due = r
            .approved_due_time
            .as_ref()
            .and_then(|t| loop_api::time(&mut v, "approved_due_time", Some(t)));
        if !r.approved && r.reason.trim().is_empty() {
            v.add("reason", "is required when refusing");
        }
        let reason = loop_api::text(&mut v, "reason", &r.reason, loop_api::LONG_TEXT, false);
        let key = request_key(&mut v, &actor, "DecideExtension", &r.request_id, &r);
        v.finish()?;
        let Some((case, id)) = name else {
            return Err(ApiError::field("name", "is invalid").into());
        };
        let decision = ExtensionDecision {
            approved: r.approved,
            approved_due: due,
            reason,
        };
        let answer = |record: &ReportRecord, effects: &Effects, _| {
            Ok(v1::DecideExtensionResponse {
                extension: loop_api::extension_of(record, effects.decided_extension.as_ref()),
            })
        };
        let answer = on_case(&self.service, &actor, case, key, answer, |once| {
            self.service
                .decide_extension(&actor, case, id, decision, Guard { etag: None, once })
        })
        .await?;
        Ok(Response::new(answer))
    }

    #[instrument(skip_all)]
    async fn reassign_case(
        &self,
        request: Request<v1::ReassignCaseRequest>,
    ) -> Result<Response<v1::ReassignCaseResponse>, Status> {
        supervise(&request)?;
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let case = v.check("name", loop_api::case_name(&r.name));
        let lead = v.check("lead_department", department_name(&r.lead_department));
        let assists = v.distinct(
            "assisting_departments",
            &r.assisting_departments,
            lead.as_slice(),
            "department",
            department_name,
        );
        let reason = loop_api::text(&mut v, "reason", &r.reason, loop_api::LONG_TEXT, false);
        let etag = loop_api::etag(&mut v, "etag", &r.etag);
        let key = request_key(&mut v, &actor, "ReassignCase", &r.request_id, &r);
        v.finish()?;
        let (Some(case), Some(lead)) = (case, lead) else {
            return Err(ApiError::field("name", "is invalid").into());
        };
        let answer = |record: &ReportRecord, _: &Effects, parties| {
            Ok(v1::ReassignCaseResponse {
                case: loop_api::case_after(record, parties)?,
            })
        };
        let answer = on_case(&self.service, &actor, case, key, answer, |once| {
            self.service
                .reassign(&actor, case, lead, assists, reason, Guard { etag, once })
        })
        .await?;
        Ok(Response::new(answer))
    }

    #[instrument(skip_all)]
    async fn regrade_case(
        &self,
        request: Request<v1::RegradeCaseRequest>,
    ) -> Result<Response<v1::RegradeCaseResponse>, Status> {
        supervise(&request)?;
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let case = v.check("name", loop_api::case_name(&r.name));
        let grade = required_grade(&mut v, "risk_grade", r.risk_grade);
        let reason = loop_api::text(&mut v, "reason", &r.reason, loop_api::LONG_TEXT, true);
        let etag = loop_api::etag(&mut v, "etag", &r.etag);
        let key = request_key(&mut v, &actor, "RegradeCase", &r.request_id, &r);
        v.finish()?;
        let (Some(case), Some(grade)) = (case, grade) else {
            return Err(ApiError::field("name", "is invalid").into());
        };
        let answer = |record: &ReportRecord, _: &Effects, parties| {
            Ok(v1::RegradeCaseResponse {
                case: loop_api::case_after(record, parties)?,
            })
        };
        let answer = on_case(&self.service, &actor, case, key, answer, |once| {
            self.service
                .regrade(&actor, case, grade, reason, Guard { etag, once })
        })
        .await?;
        Ok(Response::new(answer))
    }

    #[instrument(skip_all)]
    async fn issue_supervision_letter(
        &self,
        request: Request<v1::IssueSupervisionLetterRequest>,
    ) -> Result<Response<v1::IssueSupervisionLetterResponse>, Status> {
        supervise(&request)?;
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let request_hash = request_hash(&r);
        let mut v = Violations::default();
        let id = v.check(
            "letter_id",
            LetterId::parse(&r.letter_id).map_err(|e| e.to_string()),
        );
        let department = v.check("department", department_name(&r.department));
        if r.cases.is_empty() {
            v.add("cases", "name at least one case");
        }
        if r.cases.len() > MAX_LETTER_CASES {
            v.add("cases", format!("at most {MAX_LETTER_CASES} cases"));
        }
        let cases = v.distinct("cases", &r.cases, &[], "case", loop_api::case_name);
        let text = loop_api::text(&mut v, "text", &r.text, loop_api::LONG_TEXT, true);
        let reply_due = r
            .reply_due_time
            .as_ref()
            .and_then(|t| loop_api::time(&mut v, "reply_due_time", Some(t)));
        v.finish()?;
        let (Some(id), Some(department)) = (id, department) else {
            return Err(ApiError::field("letter_id", "is invalid").into());
        };
        let letter = self
            .service
            .issue_letter(
                &actor,
                LetterDraft {
                    id,
                    department,
                    cases,
                    text,
                    reply_due,
                    request_hash,
                },
            )
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::IssueSupervisionLetterResponse {
            letter: Some(loop_api::letter_to_proto(&letter)),
        }))
    }

    #[instrument(skip_all)]
    async fn get_department_stats(
        &self,
        request: Request<v1::GetDepartmentStatsRequest>,
    ) -> Result<Response<v1::GetDepartmentStatsResponse>, Status> {
        stats::get_department_stats(&self.stats, request).await
    }

    #[instrument(skip_all)]
    async fn list_department_stats(
        &self,
        request: Request<v1::ListDepartmentStatsRequest>,
    ) -> Result<Response<v1::ListDepartmentStatsResponse>, Status> {
        stats::list_department_stats(&self.stats, request).await
    }

    #[instrument(skip_all)]
    async fn break_down_department_stats(
        &self,
        request: Request<v1::BreakDownDepartmentStatsRequest>,
    ) -> Result<Response<v1::BreakDownDepartmentStatsResponse>, Status> {
        stats::break_down_department_stats(&self.stats, request).await
    }

    #[instrument(skip_all)]
    async fn list_department_trend(
        &self,
        request: Request<v1::ListDepartmentTrendRequest>,
    ) -> Result<Response<v1::ListDepartmentTrendResponse>, Status> {
        stats::list_department_trend(&self.stats, request).await
    }

    #[instrument(skip_all)]
    async fn list_area_stats(
        &self,
        request: Request<v1::ListAreaStatsRequest>,
    ) -> Result<Response<v1::ListAreaStatsResponse>, Status> {
        stats::list_area_stats(&self.stats, request).await
    }

    #[instrument(skip_all)]
    async fn list_shortfalls(
        &self,
        request: Request<v1::ListShortfallsRequest>,
    ) -> Result<Response<v1::ListShortfallsResponse>, Status> {
        stats::list_shortfalls(&self.stats, request).await
    }

    type ExportStatsStream = BoxStream<v1::ExportStatsResponse>;

    #[instrument(skip_all)]
    async fn export_stats(
        &self,
        request: Request<v1::ExportStatsRequest>,
    ) -> Result<Response<Self::ExportStatsStream>, Status> {
        stats::export_stats(&self.stats, request).await
    }

    #[instrument(skip_all)]
    async fn list_dead_letters(
        &self,
        request: Request<v1::ListDeadLettersRequest>,
    ) -> Result<Response<v1::ListDeadLettersResponse>, Status> {
        let actor = supervise(&request)?;
        let r = request.into_inner();
        let page = PageRequest::parse(r.page_size, &r.page_token)?;
        let dead = self
            .service
            .dead_letters(&actor, page.after.as_deref(), page.size)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ListDeadLettersResponse {
            next_page_token: page.next_token(&dead, |d| d.id.clone()),
            dead_letters: dead
                .iter()
                .map(|d| {
                    Ok(v1::DeadLetter {
                        notification: format!("notifications/{}", d.notification),
                        kind: kind_to_proto(d.kind).into(),
                        subject: d.subject.clone(),
                        department: d
                            .department
                            .as_ref()
                            .map(|d| format!("departments/{d}"))
                            .unwrap_or_default(),
                        audience: d.audience.clone(),
                        channel: channel_to_proto(d.channel).into(),
                        attempts: fits("attempts", d.attempts)?,
                        last_error: d.last_error.clone().unwrap_or_default(),
                        create_time: Some(timestamp(d.created_at)),
                        dead_time: Some(timestamp(d.dead_at)),
                    })
                })
                .collect::<Result<_, ApiError>>()?,
        }))
    }

    #[instrument(skip_all)]
    async fn list_extensions(
        &self,
        request: Request<v1::ListExtensionsRequest>,
    ) -> Result<Response<v1::ListExtensionsResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let page = PageRequest::parse(r.page_size, &r.page_token)?;
        let after = page
            .after
            .as_deref()
            .and_then(|key| v.check("page_token", ExtensionId::parse(key)));
        let filter = ExtensionFilter {
            department: v
                .check("department", optional_department(&r.department))
                .flatten(),
            state: v
                .check("state", extension_state_from_proto(r.state))
                .flatten(),
        };
        v.finish()?;
        let extensions = self
            .service
            .list_extensions(&actor, filter, after, page.size)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ListExtensionsResponse {
            next_page_token: page.next_token(&extensions, |(_, x)| x.id.to_string()),
            extensions: extensions
                .iter()
                .map(|(case, x)| loop_api::extension_to_proto(case, x))
                .collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn list_supervision_letters(
        &self,
        request: Request<v1::ListSupervisionLettersRequest>,
    ) -> Result<Response<v1::ListSupervisionLettersResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let page = PageRequest::parse(r.page_size, &r.page_token)?;
        let after = page
            .after
            .as_deref()
            .and_then(|key| v.check("page_token", letter_position(key)));
        let filter = LetterFilter {
            department: v
                .check("department", optional_department(&r.department))
                .flatten(),
            unanswered_only: r.unanswered_only,
        };
        v.finish()?;
        let letters = self
            .service
            .list_letters(&actor, filter, after, page.size)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ListSupervisionLettersResponse {
            next_page_token: page.next_token(&letters, |l| {
                format!("{}.{}", l.reply_due.as_unix_millis(), l.id)
            }),
            letters: letters.iter().map(loop_api::letter_to_proto).collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn get_supervision_letter(
        &self,
        request: Request<v1::GetSupervisionLetterRequest>,
    ) -> Result<Response<v1::GetSupervisionLetterResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let id = only_field("name", loop_api::letter_name(&request.get_ref().name))?;
        let letter = self
            .service
            .get_letter(&actor, &id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::GetSupervisionLetterResponse {
            letter: Some(loop_api::letter_to_proto(&letter)),
        }))
    }
}
