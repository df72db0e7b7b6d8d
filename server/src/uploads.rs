//! Resumable attachment uploads as a service: starting or resuming an upload, appending checked chunks durably, sealing the whole file under its digest, and asking where an upload stands.
//!
//! The gRPC layer reads the stream and converts messages; everything here is about the upload itself, on the store and the [`BlobStore`].

use std::sync::Arc;

use gridwhistle_domain::{AccessError, Action, Actor, AttachmentId, UploadId};

use crate::attachments::{self, BlobStore};
use crate::storage::{AttachmentRecord, StorageError, Store, UploadRecord};

/// Why an upload step was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("uploads are not for this role")]
    Access(#[source] AccessError),
    #[error("must be from 1 to {max} bytes")]
    BadSize { max: u64 },
    /// The upload is missing, or another user's: the two answer alike.
    #[error("upload not found")]
    NotFound,
    #[error("upload_id was started with another total_size_bytes or sha256")]
    Mismatch,
    #[error(
        "offset must equal the committed size, {committed}; ask QueryUpload after a broken stream"
    )]
    BadOffset { committed: u64 },
    #[error("crc32c does not match the chunk's data")]
    BadChecksum,
    #[error("data runs past total_size_bytes")]
    PastEnd,
    /// Another stream moved the committed size first.
    #[error("the upload moved on under this stream")]
    Raced,
    /// The whole file was refused now: `field` names what was wrong.
    #[error("{field} {reason}")]
    RefusedNow {
        field: &'static str,
        reason: &'static str,
    },
    /// The upload was refused before; every later call says why.
    #[error("the upload was refused: its file {0}; send the file again under a new upload_id")]
    Refused(String),
    #[error("the sealed file's attachment is missing")]
    AttachmentMissing,
    #[error("attachment storage failed")]
    Blob(#[source] std::io::Error),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why an upload is refused at its end.
const REFUSED_DIGEST: &str = "does not match the bytes received";
const REFUSED_TYPE: &str = "is not a JPEG, PNG, HEIC or MP4 file";

/// Where an upload stands after it was started or resumed.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Bytes up to `committed` are durable; send the rest from there.
    Open { committed: u64 },
    /// The whole file arrived and was sealed.
    Complete(AttachmentRecord),
}

/// One chunk as the client sent it.
#[derive(Debug)]
pub struct Chunk {
    /// Where the data starts, as sent: it must equal the committed size.
    pub offset: i64,
    pub data: Vec<u8>,
    pub crc32c: u32,
}

/// Uploads: where their bytes go and how large one may be.
#[derive(Debug, Clone)]
pub struct UploadService {
    store: Store,
    blobs: Arc<dyn BlobStore>,
    max_bytes: u64,
}

impl UploadService {
    pub fn new(store: Store, blobs: Arc<dyn BlobStore>, max_bytes: u64) -> Self {
        Self {
            store,
            blobs,
            max_bytes,
        }
    }

    /// Refuses a role that may not upload, before anything is read.
    pub fn authorize(actor: &Actor) -> Result<(), UploadError> {
        actor
            .authorize(Action::UploadAttachment)
            .map_err(UploadError::Access)
    }

    /// Checks a declared size against the limit.
    pub fn check_size(&self, total: i64) -> Result<u64, UploadError> {
        u64::try_from(total)
            .ok()
            .filter(|n| (1..=self.max_bytes).contains(n))
            .ok_or(UploadError::BadSize {
                max: self.max_bytes,
            })
    }

    /// Starts the upload `id`, or resumes it when the same user started it with the same size and digest.
    pub async fn start(
        &self,
        actor: &Actor,
        id: UploadId,
        total: u64,
        digest: AttachmentId,
        now: gridwhistle_domain::Timestamp,
    ) -> Result<Progress, UploadError> {
        let upload = self
            .store
            .uploads()
            .start_upload(id, actor.user_id, total, digest.clone(), now)
            .await?;
        if upload.owner != actor.user_id {
            return Err(UploadError::NotFound);
        }
        if upload.total_size != total || upload.sha256 != digest {
            return Err(UploadError::Mismatch);
        }
        self.progress(upload).await
    }

    /// Where the caller's upload `id` stands.
    pub async fn query(&self, actor: &Actor, id: UploadId) -> Result<UploadRecord, UploadError> {
        let upload = self
            .store
            .uploads()
            .get_upload(id)
            .await?
            .filter(|u| u.owner == actor.user_id)
            .ok_or(UploadError::NotFound)?;
        if let Some(reason) = &upload.refused {
            return Err(UploadError::Refused(reason.clone()));
        }
        Ok(upload)
    }

    /// The attachment of a complete upload.
    pub async fn attachment(&self, digest: &AttachmentId) -> Result<AttachmentRecord, UploadError> {
        self.store
            .uploads()
            .get_attachment(digest)
            .await?
            .ok_or(UploadError::AttachmentMissing)
    }

    async fn progress(&self, upload: UploadRecord) -> Result<Progress, UploadError> {
        if let Some(reason) = upload.refused {
            return Err(UploadError::Refused(reason));
        }
        if upload.completed {
            return Ok(Progress::Complete(self.attachment(&upload.sha256).await?));
        }
        Ok(Progress::Open {
            committed: upload.committed_size,
        })
    }

    /// Checks one chunk, appends it durably, then records the new committed size; returns it.
    pub async fn append(
        &self,
        id: UploadId,
        total: u64,
        committed: u64,
        chunk: Chunk,
    ) -> Result<u64, UploadError> {
        if u64::try_from(chunk.offset).ok() != Some(committed) {
            return Err(UploadError::BadOffset { committed });
        }
        if attachments::crc32c(&chunk.data) != chunk.crc32c {
            return Err(UploadError::BadChecksum);
        }
        let end = committed + chunk.data.len() as u64;
        if end > total {
            return Err(UploadError::PastEnd);
        }
        self.blobs
            .append(id, committed, chunk.data)
            .await
            .map_err(UploadError::Blob)?;
        if !self
            .store
            .uploads()
            .commit_upload(id, committed, end)
            .await?
        {
            return Err(UploadError::Raced);
        }
        Ok(self
            .store
            .uploads()
            .get_upload(id)
            .await?
            .map_or(end, |u| u.committed_size))
    }

    /// Checks the whole file's digest and type, then files it under its digest.
    ///
    /// A file refused here finishes the upload as refused, recorded before its bytes are discarded: a crash between the two leaves a stray part file, never a committed size over bytes that are gone.
    pub async fn seal(
        &self,
        id: UploadId,
        digest: &AttachmentId,
        total: u64,
        now: gridwhistle_domain::Timestamp,
    ) -> Result<AttachmentRecord, UploadError> {
        let (actual, head) = self.blobs.inspect(id).await.map_err(UploadError::Blob)?;
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
                self.store.uploads().refuse_upload(id, reason).await?;
                self.blobs.discard(id).await.map_err(UploadError::Blob)?;
                return Err(UploadError::RefusedNow { field, reason });
            }
        };
        self.blobs
            .seal(id, digest.clone())
            .await
            .map_err(UploadError::Blob)?;
        let record = AttachmentRecord {
            id: digest.clone(),
            content_type: content_type.to_owned(),
            size: total,
            created_at: now,
        };
        self.store.uploads().complete_upload(id, &record).await?;
        self.attachment(digest).await
    }
}
