//! `ReportService`: the grid worker's side of the closed loop (reports, attachments, whistles, verification) and routing previews.

use std::sync::Arc;

use gridwhistle_domain::ReportId;
use gridwhistle_proto::v1::{self, report_service_server::ReportService};
use prost::Message as _;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};
use tracing::instrument;

use super::closed_loop as loop_api;
use super::convert::{PageRequest, Violations, caller};
use super::error::ApiError;
use super::feed::follow;
use super::pending::{BoxStream, pending};
use super::routing::{category_name, decision_to_proto, position};
use crate::closed_loop::{LoopService, ReportDraft, Verdict};
use crate::routing::Routing;
use crate::storage::{EventFilter, ReportKey};

#[derive(Debug, Clone)]
pub struct ReportApi {
    routing: Arc<Routing>,
    service: Arc<LoopService>,
    /// Turns true when the server stops, ending the watch streams.
    stop: watch::Receiver<bool>,
}

impl ReportApi {
    pub fn new(
        routing: Arc<Routing>,
        service: Arc<LoopService>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            routing,
            service,
            stop,
        }
    }
}

#[tonic::async_trait]
impl ReportService for ReportApi {
    /// Any signed-in user may preview: the answer names departments, never people.
    #[instrument(skip_all)]
    async fn preview_routing(
        &self,
        request: Request<v1::PreviewRoutingRequest>,
    ) -> Result<Response<v1::PreviewRoutingResponse>, Status> {
        caller(&request)?;
        let request = request.into_inner();
        let mut v = Violations::default();
        let position = position(&mut v, "location", request.location.as_ref());
        let category = v.check("category", category_name(&request.category));
        v.finish()?;
        let (Some(position), Some(category)) = (position, category) else {
            return Err(ApiError::field("location", "is invalid").into());
        };
        let decision = self
            .routing
            .preview(position, &category)
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::PreviewRoutingResponse {
            decision: Some(decision_to_proto(&decision)),
        }))
    }

    #[instrument(skip_all)]
    async fn create_report(
        &self,
        request: Request<v1::CreateReportRequest>,
    ) -> Result<Response<v1::CreateReportResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let request = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(
            "report_id",
            ReportId::parse(&request.report_id).map_err(|e| e.to_string()),
        );
        let Some(report) = request.report else {
            v.add("report", "is required");
            v.finish()?;
            return Err(ApiError::field("report", "is required").into());
        };
        // A retry sends the same bytes; prost encodes a message deterministically.
        let request_hash = hex_digest(&report.encode_to_vec());
        let category = v.check("report.category", category_name(&report.category));
        let location = position(&mut v, "report.location", report.location.as_ref());
        let observed_at =
            loop_api::time(&mut v, "report.observe_time", report.observe_time.as_ref());
        let description = loop_api::text(
            &mut v,
            "report.description",
            &report.description,
            loop_api::LONG_TEXT,
            true,
        );
        let risk_grade = v
            .check(
                "report.risk_grade",
                loop_api::grade_from_proto(report.risk_grade),
            )
            .flatten();
        let parties = loop_api::parties(&mut v, "report.parties", &report.parties);
        let attachments = loop_api::attachments(&mut v, "report.attachments", &report.attachments);
        v.finish()?;
        let (Some(id), Some(category), Some(location), Some(observed_at)) =
            (id, category, location, observed_at)
        else {
            return Err(ApiError::field("report", "is invalid").into());
        };
        let draft = ReportDraft {
            id,
            category,
            description,
            location,
            observed_at,
            risk_grade,
            parties,
            attachments,
            request_hash,
        };
        let (record, _replayed) = self
            .service
            .create_report(&actor, draft)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::CreateReportResponse {
            report: Some(loop_api::report_to_proto(&actor, &record)),
        }))
    }

    #[instrument(skip_all)]
    async fn get_report(
        &self,
        request: Request<v1::GetReportRequest>,
    ) -> Result<Response<v1::GetReportResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let mut v = Violations::default();
        let id = loop_api::report_name(&mut v, "name", &request.get_ref().name);
        v.finish()?;
        let id = id.ok_or_else(|| ApiError::field("name", "is invalid"))?;
        let record = self
            .service
            .get_report(&actor, id)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::GetReportResponse {
            report: Some(loop_api::report_to_proto(&actor, &record)),
        }))
    }

    #[instrument(skip_all)]
    async fn list_my_reports(
        &self,
        request: Request<v1::ListMyReportsRequest>,
    ) -> Result<Response<v1::ListMyReportsResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let request = request.into_inner();
        let page = PageRequest::parse(request.page_size, &request.page_token)?;
        let mut v = Violations::default();
        let state = v
            .check("state", loop_api::report_state_from_proto(request.state))
            .flatten();
        let after = match &page.after {
            Some(key) => v.check(
                "page_token",
                ReportId::parse(key).map_err(|_| "is not a token this server issued"),
            ),
            None => None,
        };
        v.finish()?;
        let records = self
            .service
            .list_my_reports(&actor, state, after, page.size)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ListMyReportsResponse {
            next_page_token: page.next_token(&records, |r| r.id.to_string()),
            reports: records
                .iter()
                .map(|r| loop_api::report_to_proto(&actor, r))
                .collect(),
        }))
    }

    async fn upload_attachment(
        &self,
        _r: Request<Streaming<v1::UploadAttachmentRequest>>,
    ) -> Result<Response<v1::UploadAttachmentResponse>, Status> {
        pending("ReportService.UploadAttachment")
    }

    async fn query_upload(
        &self,
        _r: Request<v1::QueryUploadRequest>,
    ) -> Result<Response<v1::QueryUploadResponse>, Status> {
        pending("ReportService.QueryUpload")
    }

    #[instrument(skip_all)]
    async fn resolve_on_site(
        &self,
        request: Request<v1::ResolveOnSiteRequest>,
    ) -> Result<Response<v1::ResolveOnSiteResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let request = request.into_inner();
        let mut v = Violations::default();
        let id = loop_api::report_name(&mut v, "name", &request.name);
        let resolution = loop_api::text(
            &mut v,
            "resolution",
            &request.resolution,
            loop_api::LONG_TEXT,
            true,
        );
        let attachments = loop_api::attachments(&mut v, "attachments", &request.attachments);
        let etag = loop_api::etag(&mut v, "etag", &request.etag);
        v.finish()?;
        let id = id.ok_or_else(|| ApiError::field("name", "is invalid"))?;
        let record = self
            .service
            .resolve_on_site(&actor, id, resolution, attachments, etag)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::ResolveOnSiteResponse {
            report: Some(loop_api::report_to_proto(&actor, &record)),
        }))
    }

    #[instrument(skip_all)]
    async fn whistle(
        &self,
        request: Request<v1::WhistleRequest>,
    ) -> Result<Response<v1::WhistleResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let request = request.into_inner();
        let mut v = Violations::default();
        let id = loop_api::report_name(&mut v, "name", &request.name);
        let kind = v.check("kind", loop_api::whistle_kind_from_proto(request.kind));
        let grade = v
            .check("risk_grade", loop_api::grade_from_proto(request.risk_grade))
            .flatten();
        let note = loop_api::text(&mut v, "note", &request.note, loop_api::SHORT_TEXT, false);
        let etag = loop_api::etag(&mut v, "etag", &request.etag);
        v.finish()?;
        let (Some(id), Some(kind)) = (id, kind) else {
            return Err(ApiError::field("name", "is invalid").into());
        };
        let record = self
            .service
            .whistle(&actor, id, kind, grade, note, etag)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::WhistleResponse {
            report: Some(loop_api::report_to_proto(&actor, &record)),
            case: loop_api::case_to_proto(&actor, &record),
        }))
    }

    #[instrument(skip_all)]
    async fn verify_resolution(
        &self,
        request: Request<v1::VerifyResolutionRequest>,
    ) -> Result<Response<v1::VerifyResolutionResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let request = request.into_inner();
        let mut v = Violations::default();
        let id = loop_api::report_name(&mut v, "name", &request.name);
        let etag = loop_api::etag(&mut v, "etag", &request.etag);
        let verdict = if request.accepted {
            match u8::try_from(request.satisfaction) {
                Ok(score @ 1..=5) => Some(Verdict::Accept {
                    satisfaction: score,
                }),
                _ => {
                    v.add("satisfaction", "must be from 1 to 5 when accepting");
                    None
                }
            }
        } else {
            let reason = loop_api::text(
                &mut v,
                "reason",
                &request.reason,
                loop_api::SHORT_TEXT,
                true,
            );
            Some(Verdict::Reject { reason })
        };
        v.finish()?;
        let (Some(id), Some(verdict)) = (id, verdict) else {
            return Err(ApiError::field("name", "is invalid").into());
        };
        let record = self
            .service
            .verify(&actor, id, verdict, etag)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::VerifyResolutionResponse {
            report: Some(loop_api::report_to_proto(&actor, &record)),
        }))
    }

    type WatchMyReportsStream = BoxStream<v1::WatchMyReportsResponse>;

    #[instrument(skip_all)]
    async fn watch_my_reports(
        &self,
        request: Request<v1::WatchMyReportsRequest>,
    ) -> Result<Response<Self::WatchMyReportsStream>, Status> {
        let actor = caller(&request)?.actor.clone();
        // Only grid workers have reports to watch.
        self.service
            .list_my_reports(&actor, None, None, 0)
            .await
            .map_err(ApiError::from)?;
        let store = self.service.store().clone();
        let start = if request.get_ref().cursor.is_empty() {
            store.event_horizon().await.map_err(ApiError::from)?
        } else {
            let mut v = Violations::default();
            let cursor = v.check("cursor", loop_api::decode_cursor(&request.get_ref().cursor));
            v.finish()?;
            cursor.ok_or_else(|| ApiError::field("cursor", "is invalid"))?
        };
        let filter = EventFilter::Author(actor.user_id);
        let reader = store.clone();
        let stream = follow(store, filter, start, self.stop.clone(), move |event| {
            let reader = reader.clone();
            let actor = actor.clone();
            async move {
                let record = reader.get_report(ReportKey::Report(event.report)).await?;
                Ok(Some(v1::WatchMyReportsResponse {
                    report: Some(loop_api::report_to_proto(&actor, &record)),
                    event: Some(loop_api::event_to_proto(&event)),
                    cursor: loop_api::encode_cursor(event.position),
                }))
            }
        });
        Ok(Response::new(stream))
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}
