//! The attachment store in the database (`--attachment-store database`): every replica on the same database serves every upload and file, so an upload started on one replica resumes on another and a photo stored through one downloads from any.
//!
//! An upload's chunks are rows written in the transaction that makes them durable (`store.blobs()`); sealing moves them under the file's digest inside the database; a download reads one chunk row at a time.

use std::io::Read;

use gridwhistle_domain::{AttachmentId, UploadId};
use sha2::{Digest as _, Sha256};

use super::BlobStore;
use crate::storage::Store;

/// Chunks an upload's digest is computed over at a time: a few megabytes in memory at most.
const INSPECT_PAGE: u64 = 16;

/// The attachment store kept in the database of `store`.
#[derive(Debug, Clone)]
pub struct DbBlobStore {
    store: Store,
}

impl DbBlobStore {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn io(err: crate::storage::StorageError) -> std::io::Error {
    std::io::Error::other(err)
}

#[tonic::async_trait]
impl BlobStore for DbBlobStore {
    async fn append(&self, upload: UploadId, offset: u64, data: Vec<u8>) -> std::io::Result<()> {
        let offset = i64::try_from(offset).map_err(std::io::Error::other)?;
        self.store
            .blobs()
            .append(&upload.to_string(), offset, data)
            .await
            .map_err(io)
    }

    async fn inspect(&self, upload: UploadId) -> std::io::Result<([u8; 32], Vec<u8>)> {
        let upload = upload.to_string();
        let mut hasher = Sha256::new();
        let mut head = Vec::new();
        let mut from = 0;
        loop {
            let page = self
                .store
                .blobs()
                .upload_chunks(&upload, from, INSPECT_PAGE)
                .await
                .map_err(io)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            from = last + 1;
            for (_, data) in &page {
                if head.len() < 64 {
                    head.extend_from_slice(&data[..data.len().min(64 - head.len())]);
                }
                hasher.update(data);
            }
        }
        Ok((hasher.finalize().into(), head))
    }

    async fn seal(&self, upload: UploadId, digest: AttachmentId) -> std::io::Result<()> {
        self.store
            .blobs()
            .seal(&upload.to_string(), digest.as_str())
            .await
            .map_err(io)
    }

    async fn discard(&self, upload: UploadId) -> std::io::Result<()> {
        self.store
            .blobs()
            .discard(&upload.to_string())
            .await
            .map_err(io)
    }

    fn reader(&self, digest: &AttachmentId, offset: u64) -> std::io::Result<Box<dyn Read + Send>> {
        let runtime = tokio::runtime::Handle::current();
        let offset = i64::try_from(offset).map_err(std::io::Error::other)?;
        let first = runtime
            .block_on(
                self.store
                    .blobs()
                    .blob_chunk(digest.as_str(), offset, false),
            )
            .map_err(io)?
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        let skip = usize::try_from(offset - first.0).map_err(std::io::Error::other)?;
        Ok(Box::new(ChunkReader {
            store: self.store.clone(),
            runtime,
            digest: digest.as_str().to_owned(),
            start: first.0,
            data: first.1,
            at: skip,
        }))
    }
}

/// Reads a stored file chunk row by chunk row, on a blocking thread.
struct ChunkReader {
    store: Store,
    runtime: tokio::runtime::Handle,
    digest: String,
    /// Where the chunk in hand starts in the file.
    start: i64,
    data: Vec<u8>,
    /// How far into the chunk in hand reading has come.
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.data.len() {
            let next = self
                .runtime
                .block_on(
                    self.store
                        .blobs()
                        .blob_chunk(&self.digest, self.start, true),
                )
                .map_err(io)?;
            let Some((start, data)) = next else {
                return Ok(0);
            };
            (self.start, self.data, self.at) = (start, data, 0);
        }
        let n = buf.len().min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
