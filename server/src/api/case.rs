//! `CaseService`: the department duty console, for duty officers and department heads of the summoned departments only.

use std::sync::Arc;

use gridwhistle_domain::{Actor, CaseId, ReportId};
use gridwhistle_proto::v1::{self, case_service_server::CaseService};
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::case_filter;
use super::closed_loop as loop_api;
use super::convert::{PageRequest, Violations, caller, only_field};
use super::error::ApiError;
use super::feed::{follow, start_at};
use super::once::{Answer, AnswerRecord, Answering, on_case, once, request_key};
use super::routing::position;
use super::stream::BoxStream;
use crate::closed_loop::{CaseAction, Guard, LoopService};
use crate::model::{
    EventFilter, InboxFilter, LetterRecord, QueuePosition, ReportRecord, RequestKey,
};

#[derive(Debug, Clone)]
pub struct CaseApi {
    service: Arc<LoopService>,
    stop: watch::Receiver<bool>,
}

impl CaseApi {
    pub fn new(service: Arc<LoopService>, stop: watch::Receiver<bool>) -> Self {
        Self { service, stop }
    }

    /// Runs a department action on a case, once per request id, answered as `answer` builds it.
    async fn act<M: Answer>(
        &self,
        actor: &Actor,
        parsed: ParsedAction,
        answer: AnswerRecord<M>,
    ) -> Result<Response<M>, Status> {
        let ParsedAction {
            id,
            action,
            etag,
            key,
        } = parsed;
        let answer = on_case(&self.service, actor, id, key, answer, |once| {
            self.service.act(actor, id, action, Guard { etag, once })
        })
        .await?;
        Ok(Response::new(answer))
    }
}

fn case_of(
    actor: &gridwhistle_domain::Actor,
    record: &ReportRecord,
    now: gridwhistle_domain::Timestamp,
) -> Result<Option<v1::Case>, ApiError> {
    loop_api::case_to_proto(actor, record, now)
}

/// A department's action as parsed from its request.
struct ParsedAction {
    id: CaseId,
    action: CaseAction,
    etag: Option<i64>,
    key: Option<RequestKey>,
}

/// Parses the case name, etag and request id every action carries, with the action's own fields.
fn parse_action(
    actor: &Actor,
    method: &'static str,
    message: &impl prost::Message,
    (name, etag, request_id): (&str, &str, &str),
    fields: impl FnOnce(&mut Violations) -> Option<CaseAction>,
) -> Result<ParsedAction, ApiError> {
    let mut v = Violations::default();
    let id = v.check("name", loop_api::case_name(name));
    let etag = loop_api::etag(&mut v, "etag", etag);
    let key = request_key(&mut v, actor, method, request_id, message);
    let action = fields(&mut v);
    v.finish()?;
    match (id, action) {
        (Some(id), Some(action)) => Ok(ParsedAction {
            id,
            action,
            etag,
            key,
        }),
        _ => Err(ApiError::field("name", "is invalid")),
    }
}

/// The answer of an action that answers with the case after it.
macro_rules! with_case {
    ($message:ident) => {
        |record, _, parties| {
            Ok(v1::$message {
                case: loop_api::case_after(record, parties)?,
            })
        }
    };
}

/// Parses a `{key_ms}.{report}` position of a list in due or whistle order.
fn due_position(key: &str) -> Result<(i64, ReportId), &'static str> {
    const BAD: &str = "is not a token this server issued";
    let (due, report) = key.split_once('.').ok_or(BAD)?;
    Ok((
        due.parse().map_err(|_| BAD)?,
        ReportId::parse(report).map_err(|_| BAD)?,
    ))
}

#[tonic::async_trait]
impl CaseService for CaseApi {
    #[instrument(skip_all)]
    async fn list_cases(
        &self,
        request: Request<v1::ListCasesRequest>,
    ) -> Result<Response<v1::ListCasesResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let request = request.into_inner();
        let page = PageRequest::parse(request.page_size, &request.page_token)?;
        let mut v = Violations::default();
        let filter = v.check("filter", case_filter::parse_filter(&request.filter));
        let order = v.check("order_by", case_filter::parse_order(&request.order_by));
        let after = page
            .after
            .as_deref()
            .and_then(|key| v.check("page_token", due_position(key)))
            .map(|(key, report)| QueuePosition { key, report });
        v.finish()?;
        let (Some(filter), Some(order)) = (filter, order) else {
            return Err(ApiError::field("filter", "is invalid").into());
        };
        let now = self.service.now();
        let mut query = filter.at(now);
        query.order = order;
        let entries = self
            .service
            .list_cases(&actor, query, after, page.size)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ListCasesResponse {
            next_page_token: page.next_token(&entries, |(key, r)| format!("{key}.{}", r.id)),
            cases: entries
                .iter()
                .map(|(_, r)| case_of(&actor, r, now))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn list_inbox(
        &self,
        request: Request<v1::ListInboxRequest>,
    ) -> Result<Response<v1::ListInboxResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let request = request.into_inner();
        let page = PageRequest::parse(request.page_size, &request.page_token)?;
        let mut v = Violations::default();
        let state = v
            .check(
                "state",
                loop_api::assignment_state_from_proto(request.state),
            )
            .flatten();
        let risk_grade = v
            .check("risk_grade", loop_api::grade_from_proto(request.risk_grade))
            .flatten();
        let by_due = match request.order_by.trim() {
            "" => false,
            "due_time" | "due_time asc" => true,
            _ => {
                v.add("order_by", "must be empty or \"due_time\"");
                false
            }
        };
        let filter = InboxFilter { state, risk_grade };
        let now = self.service.now();
        let (cases, next_page_token) = if by_due {
            let after = page
                .after
                .as_deref()
                .and_then(|key| v.check("page_token", due_position(key)));
            v.finish()?;
            let entries = self
                .service
                .list_inbox_by_due(&actor, filter, after, page.size)
                .await
                .map_err(ApiError::from)?;
            let token = page.next_token(&entries, |(due, r)| format!("{due}.{}", r.id));
            let records: Vec<ReportRecord> = entries.into_iter().map(|(_, r)| r).collect();
            (records, token)
        } else {
            let after = page.after.as_deref().and_then(|key| {
                v.check(
                    "page_token",
                    ReportId::parse(key).map_err(|_| "is not a token this server issued"),
                )
            });
            v.finish()?;
            let records = self
                .service
                .list_inbox(&actor, filter, after, page.size)
                .await
                .map_err(ApiError::from)?;
            let token = page.next_token(&records, |r| r.id.to_string());
            (records, token)
        };
        Ok(Response::new(v1::ListInboxResponse {
            next_page_token,
            cases: cases
                .iter()
                .map(|r| case_of(&actor, r, now))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect(),
        }))
    }

    type WatchInboxStream = BoxStream<v1::WatchInboxResponse>;

    #[instrument(skip_all)]
    async fn watch_inbox(
        &self,
        request: Request<v1::WatchInboxRequest>,
    ) -> Result<Response<Self::WatchInboxStream>, Status> {
        let actor = caller(&request)?.actor.clone();
        let department = self
            .service
            .inbox_department(&actor)
            .map_err(ApiError::from)?;
        let feed = self.service.feed().clone();
        let start = start_at(&feed, &request.get_ref().cursor).await?;
        let reader = feed.clone();
        let stream = follow(
            feed,
            EventFilter::Department(department),
            start,
            self.stop.clone(),
            move |event| {
                let reader = reader.clone();
                async move {
                    let record = reader
                        .report(crate::model::ReportKey::Report(event.report))
                        .await?;
                    Ok(record.case.map(|case| v1::WatchInboxResponse {
                        case: format!("cases/{}", case.id),
                        event: Some(loop_api::event_to_proto(&event)),
                        cursor: loop_api::encode_cursor(event.position),
                    }))
                }
            },
        );
        Ok(Response::new(stream))
    }

    #[instrument(skip_all)]
    async fn get_case(
        &self,
        request: Request<v1::GetCaseRequest>,
    ) -> Result<Response<v1::GetCaseResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let id = only_field("name", loop_api::case_name(&request.get_ref().name))?;
        let view = self
            .service
            .get_case(&actor, id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::GetCaseResponse {
            case: case_of(&actor, &view.report, self.service.now())?,
            timeline: view.timeline.iter().map(loop_api::event_to_proto).collect(),
        }))
    }

    #[instrument(skip_all)]
    async fn report_in(
        &self,
        request: Request<v1::ReportInRequest>,
    ) -> Result<Response<v1::ReportInResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let parsed = parse_action(
            &actor,
            "ReportIn",
            &r,
            (&r.name, &r.etag, &r.request_id),
            |v| {
                let on_scene = match &r.location {
                    Some(_) => Some(position(v, "location", r.location.as_ref())?),
                    None => None,
                };
                Some(CaseAction::ReportIn { on_scene })
            },
        )?;
        self.act(&actor, parsed, with_case!(ReportInResponse)).await
    }

    #[instrument(skip_all)]
    async fn record_contact(
        &self,
        request: Request<v1::RecordContactRequest>,
    ) -> Result<Response<v1::RecordContactResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let parsed = parse_action(
            &actor,
            "RecordContact",
            &r,
            (&r.name, &r.etag, &r.request_id),
            |v| {
                let contact_time = match &r.contact_time {
                    Some(t) => Some(loop_api::time(v, "contact_time", Some(t))?),
                    None => None,
                };
                let note = loop_api::text(v, "note", &r.note, loop_api::SHORT_TEXT, false);
                Some(CaseAction::RecordContact { contact_time, note })
            },
        )?;
        self.act(&actor, parsed, with_case!(RecordContactResponse))
            .await
    }

    #[instrument(skip_all)]
    async fn post_progress(
        &self,
        request: Request<v1::PostProgressRequest>,
    ) -> Result<Response<v1::PostProgressResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let parsed = parse_action(
            &actor,
            "PostProgress",
            &r,
            (&r.name, &r.etag, &r.request_id),
            |v| {
                let text = loop_api::text(v, "text", &r.text, loop_api::LONG_TEXT, true);
                let attachments = loop_api::attachments(v, "attachments", &r.attachments);
                Some(CaseAction::PostProgress { text, attachments })
            },
        )?;
        self.act(&actor, parsed, with_case!(PostProgressResponse))
            .await
    }

    #[instrument(skip_all)]
    async fn return_case(
        &self,
        request: Request<v1::ReturnCaseRequest>,
    ) -> Result<Response<v1::ReturnCaseResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let parsed = parse_action(
            &actor,
            "ReturnCase",
            &r,
            (&r.name, &r.etag, &r.request_id),
            |v| {
                let reason = loop_api::text(v, "reason", &r.reason, loop_api::SHORT_TEXT, true);
                Some(CaseAction::Return { reason })
            },
        )?;
        self.act(&actor, parsed, with_case!(ReturnCaseResponse))
            .await
    }

    #[instrument(skip_all)]
    async fn request_extension(
        &self,
        request: Request<v1::RequestExtensionRequest>,
    ) -> Result<Response<v1::RequestExtensionResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let parsed = parse_action(
            &actor,
            "RequestExtension",
            &r,
            (&r.name, "", &r.request_id),
            |v| {
                let stage = v.check("stage", loop_api::stage_from_proto(r.stage));
                let due = loop_api::time(v, "requested_due_time", r.requested_due_time.as_ref());
                let reason = loop_api::text(v, "reason", &r.reason, loop_api::SHORT_TEXT, true);
                Some(CaseAction::RequestExtension {
                    stage: stage?,
                    requested_due: due?,
                    reason,
                })
            },
        )?;
        self.act(&actor, parsed, |record, effects, _| {
            Ok(v1::RequestExtensionResponse {
                extension: loop_api::extension_of(record, effects.extension.as_ref()),
            })
        })
        .await
    }

    #[instrument(skip_all)]
    async fn complete_case(
        &self,
        request: Request<v1::CompleteCaseRequest>,
    ) -> Result<Response<v1::CompleteCaseResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let parsed = parse_action(
            &actor,
            "CompleteCase",
            &r,
            (&r.name, &r.etag, &r.request_id),
            |v| {
                let result = loop_api::text(v, "result", &r.result, loop_api::LONG_TEXT, true);
                let attachments = loop_api::attachments(v, "attachments", &r.attachments);
                Some(CaseAction::Complete {
                    result,
                    attachments,
                })
            },
        )?;
        self.act(&actor, parsed, with_case!(CompleteCaseResponse))
            .await
    }

    #[instrument(skip_all)]
    async fn acknowledge_supervision_letter(
        &self,
        request: Request<v1::AcknowledgeSupervisionLetterRequest>,
    ) -> Result<Response<v1::AcknowledgeSupervisionLetterResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let r = request.into_inner();
        let mut v = Violations::default();
        let id = v.check("name", loop_api::letter_name(&r.name));
        let reply = loop_api::text(&mut v, "reply", &r.reply, loop_api::LONG_TEXT, true);
        let key = request_key(
            &mut v,
            &actor,
            "AcknowledgeSupervisionLetter",
            &r.request_id,
            &r,
        );
        v.finish()?;
        let Some(id) = id else {
            return Err(ApiError::field("name", "is invalid").into());
        };
        let answering = Answering {
            render: Arc::new(|letter: &LetterRecord, _| {
                Ok(v1::AcknowledgeSupervisionLetterResponse {
                    letter: Some(loop_api::letter_to_proto(letter)),
                })
            }),
            parties: Box::new(|_| Vec::new()),
        };
        let current = || async {
            self.service.get_letter(&actor, &id).await?;
            Ok(Vec::new())
        };
        let answer = once(&self.service, key, answering, current, |once| {
            self.service.answer_letter(&actor, id, reply, once)
        })
        .await?;
        Ok(Response::new(answer))
    }
}
