//! `ReportService`: the grid worker's side of the closed loop (reports, attachments, whistles, verification) and routing previews.

use std::sync::Arc;

use gridwhistle_domain::{Action, AttachmentId, ReportId, UploadId};
use gridwhistle_proto::v1::{self, report_service_server::ReportService};
use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};
use tracing::instrument;

use super::closed_loop as loop_api;
use super::convert::{PageRequest, Violations, caller, only_field, request_hash};
use super::error::ApiError;
use super::feed::{follow, start_at};
use super::pending::BoxStream;
use super::routing::{category_name, decision_to_proto, position};
use crate::attachments::{self, BlobStore};
use crate::closed_loop::{LoopService, ReportDraft, Verdict};
use crate::routing::Routing;
use crate::storage::{AttachmentRecord, EventFilter, ReportKey};

/// Where uploads go and how large one may be.
#[derive(Debug, Clone)]
pub struct Uploads {
    pub blobs: Arc<dyn BlobStore>,
    pub max_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct ReportApi {
    routing: Arc<Routing>,
    service: Arc<LoopService>,
    uploads: Uploads,
    /// Turns true when the server stops, ending the watch streams.
    stop: watch::Receiver<bool>,
}

impl ReportApi {
    pub fn new(
        routing: Arc<Routing>,
        service: Arc<LoopService>,
        uploads: Uploads,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            routing,
            service,
            uploads,
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
        let request_hash = request_hash(&report);
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
        let id = only_field("name", loop_api::report_name(&request.get_ref().name))?;
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

    #[instrument(skip_all)]
    async fn upload_attachment(
        &self,
        request: Request<Streaming<v1::UploadAttachmentRequest>>,
    ) -> Result<Response<v1::UploadAttachmentResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        actor
            .authorize(Action::UploadAttachment)
            .map_err(|e| ApiError::access(e, "upload"))?;
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| ApiError::field("upload_id", "is required in the first message"))?;
        let mut v = Violations::default();
        let id = v.check("upload_id", UploadId::parse(&first.upload_id));
        let total = match u64::try_from(first.total_size_bytes) {
            Ok(n) if (1..=self.uploads.max_bytes).contains(&n) => Some(n),
            _ => {
                v.add(
                    "total_size_bytes",
                    format!("must be from 1 to {} bytes", self.uploads.max_bytes),
                );
                None
            }
        };
        let digest = v.check("sha256", AttachmentId::parse(&first.sha256));
        v.finish()?;
        let (Some(id), Some(total), Some(digest)) = (id, total, digest) else {
            return Err(ApiError::field("upload_id", "is invalid").into());
        };
        let store = self.service.store();
        let upload = store
            .start_upload(id, actor.user_id, total, digest.clone(), self.service.now())
            .await
            .map_err(ApiError::from)?;
        if upload.owner != actor.user_id {
            return Err(ApiError::NotFound { resource: "upload" }.into());
        }
        if upload.total_size != total || upload.sha256 != digest {
            return Err(ApiError::FailedPrecondition(
                "upload_id was started with another total_size_bytes or sha256".to_owned(),
            )
            .into());
        }
        if let Some(reason) = &upload.refused {
            return Err(refused(reason).into());
        }
        if upload.completed {
            return self.upload_answer(upload.committed_size, &digest).await;
        }
        let mut committed = upload.committed_size;
        let mut message = Some(first);
        loop {
            if let Some(chunk) = message.take().filter(|m| !m.data.is_empty()) {
                self.commit_chunk(id, total, committed, chunk).await?;
                committed = store
                    .get_upload(id)
                    .await
                    .map_err(ApiError::from)?
                    .map_or(committed, |u| u.committed_size);
            }
            if committed == total {
                break;
            }
            match stream.message().await? {
                Some(next) => message = Some(next),
                None => {
                    return Ok(Response::new(v1::UploadAttachmentResponse {
                        committed_size_bytes: loop_api::size(committed),
                        attachment: None,
                    }));
                }
            }
        }
        self.seal_upload(id, &digest, total).await?;
        self.upload_answer(total, &digest).await
    }

    #[instrument(skip_all)]
    async fn query_upload(
        &self,
        request: Request<v1::QueryUploadRequest>,
    ) -> Result<Response<v1::QueryUploadResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        actor
            .authorize(Action::UploadAttachment)
            .map_err(|e| ApiError::access(e, "upload"))?;
        let id = only_field("upload_id", UploadId::parse(&request.get_ref().upload_id))?;
        let store = self.service.store();
        let upload = store
            .get_upload(id)
            .await
            .map_err(ApiError::from)?
            .filter(|u| u.owner == actor.user_id)
            .ok_or(ApiError::NotFound { resource: "upload" })?;
        if let Some(reason) = &upload.refused {
            return Err(refused(reason).into());
        }
        let attachment = if upload.completed {
            store
                .get_attachment(&upload.sha256)
                .await
                .map_err(ApiError::from)?
                .map(|a| loop_api::attachment_to_proto(&a))
        } else {
            None
        };
        Ok(Response::new(v1::QueryUploadResponse {
            committed_size_bytes: loop_api::size(upload.committed_size),
            total_size_bytes: loop_api::size(upload.total_size),
            attachment,
        }))
    }

    #[instrument(skip_all)]
    async fn resolve_on_site(
        &self,
        request: Request<v1::ResolveOnSiteRequest>,
    ) -> Result<Response<v1::ResolveOnSiteResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let request = request.into_inner();
        let mut v = Violations::default();
        let id = v.check("name", loop_api::report_name(&request.name));
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
        let id = v.check("name", loop_api::report_name(&request.name));
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
            case: loop_api::case_to_proto(&actor, &record, self.service.now()),
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
        let id = v.check("name", loop_api::report_name(&request.name));
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
        let start = start_at(&store, &request.get_ref().cursor).await?;
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

/// Why an upload is refused at its end.
const REFUSED_DIGEST: &str = "does not match the bytes received";
const REFUSED_TYPE: &str = "is not a JPEG, PNG, HEIC or MP4 file";

/// The answer to any call on an upload refused at its end.
fn refused(reason: &str) -> ApiError {
    ApiError::FailedPrecondition(format!(
        "the upload was refused: its file {reason}; send the file again under a new upload_id"
    ))
}

impl ReportApi {
    /// Checks one chunk, appends it durably, then records the new committed size.
    async fn commit_chunk(
        &self,
        id: UploadId,
        total: u64,
        committed: u64,
        chunk: v1::UploadAttachmentRequest,
    ) -> Result<(), ApiError> {
        if u64::try_from(chunk.offset).ok() != Some(committed) {
            return Err(ApiError::FailedPrecondition(format!(
                "offset must equal the committed size, {committed}; ask QueryUpload after a broken stream"
            )));
        }
        if attachments::crc32c(&chunk.data) != chunk.crc32c {
            return Err(ApiError::field("crc32c", "does not match the chunk's data"));
        }
        let end = committed + chunk.data.len() as u64;
        if end > total {
            return Err(ApiError::field("data", "runs past total_size_bytes"));
        }
        self.uploads
            .blobs
            .append(id, committed, chunk.data)
            .await
            .map_err(ApiError::internal)?;
        if !self
            .service
            .store()
            .commit_upload(id, committed, end)
            .await?
        {
            return Err(ApiError::Aborted);
        }
        Ok(())
    }

    /// Checks the whole file's digest and type, then files it under its digest.
    async fn seal_upload(
        &self,
        id: UploadId,
        digest: &AttachmentId,
        total: u64,
    ) -> Result<(), ApiError> {
        let blobs = &self.uploads.blobs;
        let (actual, head) = blobs.inspect(id).await.map_err(ApiError::internal)?;
        let checked = match (
            attachments::hex(&actual) == digest.as_str(),
            attachments::sniff(&head),
        ) {
            (false, _) => Err(("sha256", REFUSED_DIGEST)),
            (true, None) => Err(("data", REFUSED_TYPE)),
            (true, Some(content_type)) => Ok(content_type),
        };
        let content_type = match checked {
            Ok(content_type) => content_type,
            Err((field, reason)) => {
                // Refused durably first: a crash before the discard leaves a stray part file, never a size that covers no bytes.
                self.service.store().refuse_upload(id, reason).await?;
                blobs.discard(id).await.map_err(ApiError::internal)?;
                return Err(ApiError::field(
                    field,
                    format!("{reason}; send the file again under a new upload_id"),
                ));
            }
        };
        blobs
            .seal(id, digest.clone())
            .await
            .map_err(ApiError::internal)?;
        let record = AttachmentRecord {
            id: digest.clone(),
            content_type: content_type.to_owned(),
            size: total,
            created_at: self.service.now(),
        };
        self.service.store().complete_upload(id, &record).await?;
        Ok(())
    }

    async fn upload_answer(
        &self,
        committed: u64,
        digest: &AttachmentId,
    ) -> Result<Response<v1::UploadAttachmentResponse>, Status> {
        let attachment = self
            .service
            .store()
            .get_attachment(digest)
            .await
            .map_err(ApiError::from)?
            .ok_or(ApiError::NotFound {
                resource: "attachment",
            })?;
        Ok(Response::new(v1::UploadAttachmentResponse {
            committed_size_bytes: loop_api::size(committed),
            attachment: Some(loop_api::attachment_to_proto(&attachment)),
        }))
    }
}
