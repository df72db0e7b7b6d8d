//! `AttachmentService`: an attachment's metadata and its bytes in checked chunks, read through the report or case it is attached to.

use std::sync::Arc;

use gridwhistle_domain::{Actor, AttachmentId};
use gridwhistle_proto::v1::{self, attachment_service_server::AttachmentService};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::closed_loop::{attachment_to_proto, case_name, report_name};
use super::convert::{Violations, caller, fits, timestamp};
use super::error::ApiError;
use super::stream::BoxStream;
use crate::attachments::{self, BlobStore};
use crate::closed_loop::{AttachedFile, LoopService};
use crate::model::ReportKey;

/// Bytes per download chunk: large enough that framing costs little, well under a client's default 4 MiB message limit.
const DOWNLOAD_CHUNK_BYTES: usize = 1024 * 1024;

#[derive(Debug)]
pub struct AttachmentApi {
    service: Arc<LoopService>,
    blobs: Arc<dyn BlobStore>,
}

impl AttachmentApi {
    pub fn new(service: Arc<LoopService>, blobs: Arc<dyn BlobStore>) -> Self {
        Self { service, blobs }
    }

    /// The file `name` names, for `actor`.
    async fn file(&self, actor: &Actor, name: &str) -> Result<AttachedFile, ApiError> {
        let (key, digest) = attached_name(name).map_err(|e| ApiError::field("name", e))?;
        Ok(self.service.attached_file(actor, key, &digest).await?)
    }
}

const NAME_FORM: &str =
    "must be reports/{report}/attachments/{sha256} or cases/{case}/attachments/{sha256}";

/// Parses `reports/{report}/attachments/{sha256}` or `cases/{case}/attachments/{sha256}`.
fn attached_name(name: &str) -> Result<(ReportKey, AttachmentId), String> {
    let (parent, digest) = name.split_once("/attachments/").ok_or(NAME_FORM)?;
    let digest = AttachmentId::parse(digest).map_err(|e| e.to_string())?;
    let key = if parent.starts_with("reports/") {
        ReportKey::Report(report_name(parent)?)
    } else if parent.starts_with("cases/") {
        ReportKey::Case(case_name(parent)?)
    } else {
        return Err(NAME_FORM.to_owned());
    };
    Ok((key, digest))
}

fn file_to_proto(name: String, file: AttachedFile) -> Result<v1::AttachedFile, ApiError> {
    let sha256 = file.attachment.id.as_str().to_owned();
    Ok(v1::AttachedFile {
        name,
        attachment: Some(attachment_to_proto(&file.attachment)?),
        sha256,
        attacher: format!("users/{}", file.attacher),
        attach_time: Some(timestamp(file.attached_at)),
    })
}

#[tonic::async_trait]
impl AttachmentService for AttachmentApi {
    #[instrument(skip_all)]
    async fn get_attachment(
        &self,
        request: Request<v1::GetAttachmentRequest>,
    ) -> Result<Response<v1::GetAttachmentResponse>, Status> {
        let actor = caller(&request)?.actor.clone();
        let name = request.into_inner().name;
        let file = self.file(&actor, &name).await?;
        Ok(Response::new(v1::GetAttachmentResponse {
            file: Some(file_to_proto(name, file)?),
        }))
    }

    type DownloadAttachmentStream = BoxStream<v1::DownloadAttachmentResponse>;

    #[instrument(skip_all)]
    async fn download_attachment(
        &self,
        request: Request<v1::DownloadAttachmentRequest>,
    ) -> Result<Response<Self::DownloadAttachmentStream>, Status> {
        let mut v = Violations::default();
        let offset = v.check(
            "offset",
            u64::try_from(request.get_ref().offset).map_err(|_| "must not be negative"),
        );
        v.finish()?;
        let offset = offset.unwrap_or_default();
        let actor = caller(&request)?.actor.clone();
        let name = request.into_inner().name;
        let file = self.file(&actor, &name).await?;
        let size = file.attachment.size;
        if offset >= size {
            return Err(ApiError::field(
                "offset",
                format!("must be below the file's size, {size}"),
            )
            .into());
        }
        let total_size_bytes: i64 = fits("total_size_bytes", size)?;
        let sha256 = file.attachment.id.as_str().to_owned();
        let chunks = attachments::download(
            self.blobs.clone(),
            file.attachment.id,
            size,
            offset,
            DOWNLOAD_CHUNK_BYTES,
        );
        let stream = ReceiverStream::new(chunks).map(move |chunk| {
            let chunk = chunk.map_err(|err| Status::from(ApiError::internal(err)))?;
            Ok(v1::DownloadAttachmentResponse {
                // Below the size, which fits.
                offset: i64::try_from(chunk.offset).unwrap_or(i64::MAX),
                data: chunk.data,
                crc32c: chunk.crc32c,
                total_size_bytes,
                sha256: sha256.clone(),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
