//! Attachments: resumable uploads checked chunk by chunk (CRC-32C) and whole (SHA-256), typed by sniffing their bytes, kept content-addressed behind the [`BlobStore`] interface, and read back in checked chunks ([`download`]).

pub mod database;

use std::fmt;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use gridwhistle_domain::{AttachmentId, UploadId};
use sha2::{Digest, Sha256};

/// Where attachment bytes live: a local directory ([`FsBlobStore`]), or the database every replica shares ([`database::DbBlobStore`]).
///
/// An upload's bytes are appended durably under its id; when complete they move to their content address.
#[tonic::async_trait]
pub trait BlobStore: fmt::Debug + Send + Sync {
    /// Writes `data` at `offset` of the upload, dropping anything after `offset` first (bytes never acknowledged), and makes it durable.
    async fn append(&self, upload: UploadId, offset: u64, data: Vec<u8>) -> std::io::Result<()>;
    /// The SHA-256 and the first bytes (for type sniffing) of an upload's bytes.
    async fn inspect(&self, upload: UploadId) -> std::io::Result<([u8; 32], Vec<u8>)>;
    /// Moves a complete upload to its content address; a blob already there is kept.
    async fn seal(&self, upload: UploadId, digest: AttachmentId) -> std::io::Result<()>;
    /// Forgets an upload's bytes.
    async fn discard(&self, upload: UploadId) -> std::io::Result<()>;
    /// A reader of a sealed blob's bytes from `offset` on; called on a blocking thread.
    fn reader(&self, digest: &AttachmentId, offset: u64) -> std::io::Result<Box<dyn Read + Send>>;
}

/// Blobs on the local filesystem: `uploads/{id}.part` while uploading, `blobs/{ab}/{sha256}` when sealed.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: Arc<PathBuf>,
}

impl FsBlobStore {
    pub fn new(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("uploads"))?;
        std::fs::create_dir_all(root.join("blobs"))?;
        Ok(Self {
            root: Arc::new(root),
        })
    }

    fn part(&self, upload: UploadId) -> PathBuf {
        self.root.join("uploads").join(format!("{upload}.part"))
    }

    fn blob(&self, digest: &AttachmentId) -> PathBuf {
        self.root
            .join("blobs")
            .join(&digest.as_str()[..2])
            .join(digest.as_str())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)?
}

/// Makes a rename or a new file's directory entry durable.
fn sync_dir(path: &std::path::Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

#[tonic::async_trait]
impl BlobStore for FsBlobStore {
    async fn append(&self, upload: UploadId, offset: u64, data: Vec<u8>) -> std::io::Result<()> {
        let path = self.part(upload);
        blocking(move || {
            let created = !path.exists();
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            file.set_len(offset)?;
            file.seek(SeekFrom::Start(offset))?;
            file.write_all(&data)?;
            file.sync_all()?;
            if created {
                sync_dir(&path)?;
            }
            Ok(())
        })
        .await
    }

    async fn inspect(&self, upload: UploadId) -> std::io::Result<([u8; 32], Vec<u8>)> {
        let path = self.part(upload);
        blocking(move || {
            let mut file = std::fs::File::open(&path)?;
            let mut hasher = Sha256::new();
            let mut head = Vec::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                if head.len() < 64 {
                    head.extend_from_slice(&buf[..n.min(64 - head.len())]);
                }
                hasher.update(&buf[..n]);
            }
            Ok((hasher.finalize().into(), head))
        })
        .await
    }

    async fn seal(&self, upload: UploadId, digest: AttachmentId) -> std::io::Result<()> {
        let part = self.part(upload);
        let blob = self.blob(&digest);
        blocking(move || {
            if let Some(dir) = blob.parent() {
                std::fs::create_dir_all(dir)?;
            }
            if blob.exists() {
                // Same digest, same bytes: the blob already there serves both uploads.
                std::fs::remove_file(&part)?;
                return Ok(());
            }
            std::fs::rename(&part, &blob)?;
            sync_dir(&blob)?;
            sync_dir(&part)
        })
        .await
    }

    async fn discard(&self, upload: UploadId) -> std::io::Result<()> {
        let part = self.part(upload);
        blocking(move || match std::fs::remove_file(&part) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        })
        .await
    }

    fn reader(&self, digest: &AttachmentId, offset: u64) -> std::io::Result<Box<dyn Read + Send>> {
        let mut file = std::fs::File::open(self.blob(digest))?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(file))
    }
}

/// One chunk of a download: where it starts, its bytes and their CRC-32C.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadChunk {
    pub offset: u64,
    pub data: Vec<u8>,
    pub crc32c: u32,
}

/// Chunks a download ahead of the network: enough to keep one chunk in flight while the next is read.
const READ_AHEAD: usize = 2;

/// Streams the sealed blob `digest` of `size` bytes from `offset` in chunks of `chunk` bytes, read on a blocking thread
/// ahead of the receiver; stops as soon as the receiver is dropped. A blob shorter than `size` ends with an error.
pub fn download(
    blobs: Arc<dyn BlobStore>,
    digest: AttachmentId,
    size: u64,
    offset: u64,
    chunk: usize,
) -> tokio::sync::mpsc::Receiver<std::io::Result<DownloadChunk>> {
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let result = (|| {
            let mut reader = blobs.reader(&digest, offset)?;
            let mut at = offset;
            while at < size {
                let want = usize::try_from(size - at).map_or(chunk, |left| left.min(chunk));
                let mut data = vec![0u8; want];
                reader.read_exact(&mut data)?;
                let crc32c = crc32c(&data);
                let next = DownloadChunk {
                    offset: at,
                    data,
                    crc32c,
                };
                at += want as u64;
                if tx.blocking_send(Ok(next)).is_err() {
                    // The caller went away: nothing more to read.
                    return Ok(());
                }
            }
            Ok(())
        })();
        if let Err(err) = result {
            let _ = tx.blocking_send(Err(err));
        }
    });
    rx
}

/// The content types an attachment may have, recognised from its first bytes.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Some("image/png");
    }
    // ISO base media files: a box size, then `ftyp` and the major brand.
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                Some("image/heic")
            }
            b"isom" | b"iso2" | b"iso4" | b"iso5" | b"iso6" | b"mp41" | b"mp42" | b"avc1"
            | b"M4V " | b"dash" => Some("video/mp4"),
            _ => None,
        };
    }
    None
}

/// CRC-32C (Castagnoli) of a chunk, as clients compute it.
pub fn crc32c(data: &[u8]) -> u32 {
    // The SSE 4.2 / ARMv8 CRC instruction where the CPU has it (tens of GB/s), a table otherwise.
    crc32c::crc32c(data)
}

/// Lower-case hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_sniffed_from_magic_numbers_not_names() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Some("image/heic"));
        assert_eq!(sniff(b"\0\0\0\x20ftypisom\0\0\x02\0"), Some("video/mp4"));
        assert_eq!(sniff(b"\0\0\0\x20ftypqt  \0\0\x02\0"), None);
        assert_eq!(sniff(b"%PDF-1.7"), None);
        assert_eq!(sniff(b"MZ\x90\0"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn crc32c_matches_the_published_check_value() {
        // The check value of CRC-32C over "123456789" (RFC 3720).
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[tokio::test]
    async fn an_upload_resumes_over_an_unacknowledged_tail_and_seals_under_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::new(dir.path().to_owned()).unwrap();
        let upload = UploadId::generate();
        store.append(upload, 0, b"hello ".to_vec()).await.unwrap();
        // A chunk whose commit was never acknowledged is overwritten on resume.
        store.append(upload, 6, b"XXXX".to_vec()).await.unwrap();
        store.append(upload, 6, b"world".to_vec()).await.unwrap();
        let (digest, head) = store.inspect(upload).await.unwrap();
        assert_eq!(head, b"hello world");
        let id = AttachmentId::parse(&hex(&digest)).unwrap();
        assert_eq!(hex(&Sha256::digest(b"hello world")), id.as_str());
        store.seal(upload, id.clone()).await.unwrap();
        let sealed = dir
            .path()
            .join("blobs")
            .join(&id.as_str()[..2])
            .join(id.as_str());
        assert_eq!(std::fs::read(sealed).unwrap(), b"hello world");

        // Read back whole in chunks of 4, and resumed from byte 5.
        let blobs: Arc<dyn BlobStore> = Arc::new(store);
        let mut whole = Vec::new();
        let mut rx = download(blobs.clone(), id.clone(), 11, 0, 4);
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk.unwrap();
            assert_eq!(chunk.offset, whole.len() as u64);
            assert_eq!(chunk.crc32c, crc32c(&chunk.data));
            whole.extend(chunk.data);
        }
        assert_eq!(whole, b"hello world");
        let mut rx = download(blobs.clone(), id.clone(), 11, 5, 4);
        let first = rx.recv().await.unwrap().unwrap();
        assert_eq!((first.offset, &first.data[..]), (5, &b" wor"[..]));
        // A blob shorter than its record ends the download with an error, not with short data.
        let mut rx = download(blobs, id, 20, 8, 64);
        assert!(rx.recv().await.unwrap().is_err());
        assert!(rx.recv().await.is_none());
    }
}
