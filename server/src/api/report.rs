//! `ReportService`: the grid worker's side of the closed loop (reports, attachments, whistles, verification) and routing previews.

use std::sync::Arc;

use gridwhistle_domain::{Actor, AttachmentId, ReportId, UploadId};
use gridwhistle_proto::v1::{self, report_service_server::ReportService};
use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};
use tracing::instrument;

use super::closed_loop as loop_api;
use super::convert::{PageRequest, Violations, caller, only_field, request_hash};
use super::error::ApiError;
use super::feed::{follow, start_at};
use super::once::{on_report, request_key};
use super::routing::{category_name, decision_to_proto, position};
use super::stream::BoxStream;
use crate::closed_loop::{Guard, LoopService, Verdict};
use crate::model::{Effects, EventFilter, NewReport, ReportKey, ReportRecord};
use crate::routing::Routing;
use crate::storage::AttachmentRecord;
use crate::uploads::{Chunk, Progress, UploadError, UploadService};

#[derive(Debug, Clone)]
pub struct ReportApi {
    routing: Arc<Routing>,
    service: Arc<LoopService>,
    uploads: UploadService,
    /// Turns true when the server stops, ending the watch streams.
    stop: watch::Receiver<bool>,
}

impl ReportApi {
    pub fn new(
        routing: Arc<Routing>,
        service: Arc<LoopService>,
        uploads: UploadService,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            routing,
            service,
            uploads,
            stop,
        }
    }

    /// Starts or resumes the upload a message names, its id, declared size and digest checked (a bad one named): answers them with the bytes committed so far, or the attachment once complete.
    async fn open_upload(
        &self,
        actor: &Actor,
        upload_id: &str,
        total_size_bytes: i64,
        sha256: &str,
    ) -> Result<(UploadId, u64, AttachmentId, Progress), ApiError> {
        let mut v = Violations::default();
        let id = v.check("upload_id", UploadId::parse(upload_id));
        let total = v.check(
            "total_size_bytes",
            self.uploads.check_size(total_size_bytes),
        );
        let digest = v.check("sha256", AttachmentId::parse(sha256));
        v.finish()?;
        let (Some(id), Some(total), Some(digest)) = (id, total, digest) else {
            return Err(ApiError::field("upload_id", "is invalid"));
        };
        let now = self.service.now();
        let started = self
            .uploads
            .start(actor, id, total, digest.clone(), now)
            .await?;
        Ok((id, total, digest, started))
    }

    /// Commits a chunk's bytes (if any) after the `committed` ones and seals the upload when they were the last: answers the committed size, and the attachment once sealed.
    async fn take_chunk(
        &self,
        id: UploadId,
        total: u64,
        digest: &AttachmentId,
        mut committed: u64,
        chunk: Chunk,
    ) -> Result<(u64, Option<AttachmentRecord>), ApiError> {
        if !chunk.data.is_empty() {
            committed = self.uploads.append(id, total, committed, chunk).await?;
        }
        if committed < total {
            return Ok((committed, None));
        }
        let sealed = self
            .uploads
            .seal(id, digest, total, self.service.now())
            .await?;
        Ok((total, Some(sealed)))
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
        let draft = NewReport {
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
            report: Some(loop_api::report_to_proto(
                &actor,
                &record,
                self.service.now(),
            )?),
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
            report: Some(loop_api::report_to_proto(
                &actor,
                &record,
                self.service.now(),
            )?),
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
                .map(|r| loop_api::report_to_proto(&actor, r, self.service.now()))
                .collect::<Result<_, _>>()?,
        }))
    }

    #[instrument(skip_all)]
    async fn upload_attachment(
        &self,
        request: Request<Streaming<v1::UploadAttachmentRequest>>,
    ) -> Result<Response<v1::UploadAttachmentResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        UploadService::authorize(&actor).map_err(ApiError::from)?;
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| ApiError::field("upload_id", "is required in the first message"))?;
        let (id, total, digest, started) = self
            .open_upload(
                &actor,
                &first.upload_id,
                first.total_size_bytes,
                &first.sha256,
            )
            .await?;
        let mut committed = match started {
            Progress::Complete(attachment) => return Ok(upload_answer(total, Some(&attachment))?),
            Progress::Open { committed } => committed,
        };
        let mut message = first;
        loop {
            let chunk = Chunk {
                offset: message.offset,
                data: message.data,
                crc32c: message.crc32c,
            };
            let sealed;
            (committed, sealed) = self
                .take_chunk(id, total, &digest, committed, chunk)
                .await?;
            if let Some(attachment) = sealed {
                return Ok(upload_answer(total, Some(&attachment))?);
            }
            match stream.message().await? {
                Some(next) => message = next,
                None => return Ok(upload_answer(committed, None)?),
            }
        }
    }

    #[instrument(skip_all)]
    async fn upload_attachment_chunk(
        &self,
        request: Request<v1::UploadAttachmentChunkRequest>,
    ) -> Result<Response<v1::UploadAttachmentChunkResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        UploadService::authorize(&actor).map_err(ApiError::from)?;
        let m = request.into_inner();
        let (id, total, digest, started) = self
            .open_upload(&actor, &m.upload_id, m.total_size_bytes, &m.sha256)
            .await?;
        let committed = match started {
            Progress::Complete(attachment) => return Ok(chunk_answer(total, Some(&attachment))?),
            Progress::Open { committed } => committed,
        };
        let chunk = Chunk {
            offset: m.offset,
            data: m.data,
            crc32c: m.crc32c,
        };
        let (committed, sealed) = self
            .take_chunk(id, total, &digest, committed, chunk)
            .await?;
        Ok(chunk_answer(committed, sealed.as_ref())?)
    }

    #[instrument(skip_all)]
    async fn query_upload(
        &self,
        request: Request<v1::QueryUploadRequest>,
    ) -> Result<Response<v1::QueryUploadResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        UploadService::authorize(&actor).map_err(ApiError::from)?;
        let id = only_field("upload_id", UploadId::parse(&request.get_ref().upload_id))?;
        let upload = self
            .uploads
            .query(&actor, id)
            .await
            .map_err(ApiError::from)?;
        let attachment = if upload.completed {
            let attachment = self
                .uploads
                .attachment(&upload.sha256)
                .await
                .map_err(ApiError::from)?;
            Some(loop_api::attachment_to_proto(&attachment)?)
        } else {
            None
        };
        Ok(Response::new(v1::QueryUploadResponse {
            committed_size_bytes: loop_api::size(upload.committed_size)?,
            total_size_bytes: loop_api::size(upload.total_size)?,
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
        let key = request_key(
            &mut v,
            &actor,
            "ResolveOnSite",
            &request.request_id,
            &request,
        );
        v.finish()?;
        let id = id.ok_or_else(|| ApiError::field("name", "is invalid"))?;
        let answer = |record: &ReportRecord, _: &Effects, parties| {
            Ok(v1::ResolveOnSiteResponse {
                report: loop_api::report_after(record, parties)?,
            })
        };
        on_report(&self.service, &actor, id, key, answer, |once| {
            self.service
                .resolve_on_site(&actor, id, resolution, attachments, Guard { etag, once })
        })
        .await
        .map(Response::new)
        .map_err(Status::from)
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
        let key = request_key(&mut v, &actor, "Whistle", &request.request_id, &request);
        v.finish()?;
        let (Some(id), Some(kind)) = (id, kind) else {
            return Err(ApiError::field("name", "is invalid").into());
        };
        let answer = |record: &ReportRecord, _: &Effects, parties: Vec<v1::Party>| {
            Ok(v1::WhistleResponse {
                case: loop_api::case_after(record, parties.clone())?,
                report: loop_api::report_after(record, parties)?,
            })
        };
        on_report(&self.service, &actor, id, key, answer, |once| {
            self.service
                .whistle(&actor, id, kind, grade, note, Guard { etag, once })
        })
        .await
        .map(Response::new)
        .map_err(Status::from)
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
        let key = request_key(
            &mut v,
            &actor,
            "VerifyResolution",
            &request.request_id,
            &request,
        );
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
        let answer = |record: &ReportRecord, _: &Effects, parties| {
            Ok(v1::VerifyResolutionResponse {
                report: loop_api::report_after(record, parties)?,
            })
        };
        on_report(&self.service, &actor, id, key, answer, |once| {
            self.service
                .verify(&actor, id, verdict, Guard { etag, once })
        })
        .await
        .map(Response::new)
        .map_err(Status::from)
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
        let feed = self.service.feed().clone();
        let start = start_at(&feed, &request.get_ref().cursor).await?;
        let filter = EventFilter::Author(actor.user_id);
        let reader = feed.clone();
        let service = self.service.clone();
        let stream = follow(feed, filter, start, self.stop.clone(), move |event| {
            let reader = reader.clone();
            let actor = actor.clone();
            let now = service.now();
            async move {
                let record = reader.report(ReportKey::Report(event.report)).await?;
                Ok(Some(v1::WatchMyReportsResponse {
                    report: Some(loop_api::report_to_proto(&actor, &record, now)?),
                    event: Some(loop_api::event_to_proto(&event)),
                    cursor: loop_api::encode_cursor(event.position),
                }))
            }
        });
        Ok(Response::new(stream))
    }
}

/// The answer to an upload stream: the committed size, and the attachment once the whole file is in.
fn chunk_answer(
    committed: u64,
    attachment: Option<&AttachmentRecord>,
) -> Result<Response<v1::UploadAttachmentChunkResponse>, ApiError> {
    let answer = upload_answer(committed, attachment)?.into_inner();
    Ok(Response::new(v1::UploadAttachmentChunkResponse {
        committed_size_bytes: answer.committed_size_bytes,
        attachment: answer.attachment,
    }))
}

fn upload_answer(
    committed: u64,
    attachment: Option<&AttachmentRecord>,
) -> Result<Response<v1::UploadAttachmentResponse>, ApiError> {
    Ok(Response::new(v1::UploadAttachmentResponse {
        committed_size_bytes: loop_api::size(committed)?,
        attachment: attachment.map(loop_api::attachment_to_proto).transpose()?,
    }))
}

impl From<UploadError> for ApiError {
    fn from(err: UploadError) -> Self {
        match err {
            UploadError::Access(e) => ApiError::access(e, "upload"),
            UploadError::BadSize { .. } => ApiError::field("total_size_bytes", err),
            UploadError::NotFound => ApiError::NotFound { resource: "upload" },
            UploadError::Mismatch | UploadError::BadOffset { .. } | UploadError::Refused(_) => {
                ApiError::precondition(super::error::reason::UPLOAD_STATE, err)
            }
            UploadError::BadChecksum => {
                ApiError::field("crc32c", "does not match the chunk's data")
            }
            UploadError::PastEnd => ApiError::field("data", "runs past total_size_bytes"),
            UploadError::Raced => ApiError::Aborted,
            UploadError::RefusedNow { field, reason } => ApiError::field(
                field,
                format!("{reason}; send the file again under a new upload_id"),
            ),
            UploadError::AttachmentMissing => ApiError::NotFound {
                resource: "attachment",
            },
            UploadError::Blob(_) => ApiError::internal(err),
            UploadError::Storage(e) => ApiError::from(e),
        }
    }
}
