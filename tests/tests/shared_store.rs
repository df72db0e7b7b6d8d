//! Attachments every replica can serve (`--attachment-store database`), on every backend: half a photo uploaded through one server is resumed through a second server on the same database (each with a data directory of its own), and the photo downloads through the first with the same SHA-256; a file uploaded twice is stored once.

use gridwhistle_proto::v1;
use gridwhistle_server::ServerConfig;
use gridwhistle_server::config::AttachmentStore;
use gridwhistle_tests::database::{TestDatabase, backends};
use gridwhistle_tests::district::{District, photo, point_in_grid, report_at, sha256_hex};
use gridwhistle_tests::spawn_app_with;

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";
const CHUNK: usize = 256 * 1024;

/// A replica of the demo district on `database`, keeping attachments in the database.
async fn replica(database: &TestDatabase) -> District {
    let mut config = ServerConfig::with_defaults(database.url().to_owned());
    config.demo = true;
    config.push.sender = false;
    config.attachment_store = AttachmentStore::Database;
    District::on(spawn_app_with(database.clone(), config).await)
}

/// Sends `bytes[from..to]` of the upload `id` (the whole file is `bytes`) in chunks; answers the committed size the server reports.
async fn send(
    district: &District,
    id: &str,
    bytes: &[u8],
    from: usize,
    to: usize,
) -> v1::UploadAttachmentResponse {
    let chunks: Vec<v1::UploadAttachmentRequest> = (from..to)
        .step_by(CHUNK)
        .map(|at| {
            let data = &bytes[at..(at + CHUNK).min(to)];
            v1::UploadAttachmentRequest {
                upload_id: id.to_owned(),
                total_size_bytes: i64::try_from(bytes.len()).unwrap(),
                sha256: sha256_hex(bytes),
                offset: i64::try_from(at).unwrap(),
                data: data.to_vec(),
                crc32c: gridwhistle_server::attachments::crc32c(data),
            }
        })
        .collect();
    district
        .app
        .reports(&district.token(WORKER).await)
        .upload_attachment(tokio_stream::iter(chunks))
        .await
        .expect("the chunks are accepted")
        .into_inner()
}

#[tokio::test]
async fn half_a_photo_uploaded_through_one_replica_is_resumed_through_another_and_downloads_from_the_first()
 {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let first = replica(&database).await;
        let second = replica(&database).await;
        let bytes = photo(5 * CHUNK + 4321, 21);
        let id = uuid::Uuid::new_v4().to_string();
        let half = 3 * CHUNK;
        let sent = send(&first, &id, &bytes, 0, half).await;
        assert_eq!(sent.committed_size_bytes, i64::try_from(half).unwrap());
        assert!(
            sent.attachment.is_none(),
            "half a file is not an attachment yet"
        );

        // The phone's connection moves to the other replica, which knows where the upload stands.
        let asked = second
            .app
            .reports(&second.token(WORKER).await)
            .query_upload(v1::QueryUploadRequest {
                upload_id: id.clone(),
            })
            .await
            .expect("the other replica knows the upload")
            .into_inner();
        assert_eq!(asked.committed_size_bytes, i64::try_from(half).unwrap());
        let done = send(&second, &id, &bytes, half, bytes.len()).await;
        let attachment = done.attachment.expect("the whole file arrived").name;
        assert_eq!(
            attachment.trim_start_matches("attachments/"),
            sha256_hex(&bytes),
            "{backend:?}"
        );

        // Filed through the second replica, downloaded through the first.
        let (lat, lng) = point_in_grid(GRID);
        let mut draft = report_at(lat, lng, "neighbour-dispute");
        draft.attachments = vec![attachment.clone()];
        let report = second.file(WORKER, draft).await;
        let sha = sha256_hex(&bytes);
        let name = format!("{}/attachments/{sha}", report.name);
        let token = first.token(WORKER).await;
        let read = first
            .download(&token, &name, 0)
            .await
            .expect("the photo downloads");
        assert_eq!(sha256_hex(&read), sha, "{backend:?}: the same bytes");
        // From the middle of a chunk, as a resumed download asks.
        let offset = 2 * CHUNK + 100;
        let rest = first
            .download(&token, &name, i64::try_from(offset).unwrap())
            .await
            .expect("the rest downloads");
        assert_eq!(rest, bytes[offset..], "{backend:?}");

        // The same file uploaded again through the first replica is the same attachment.
        let again = first.upload(WORKER, &bytes).await;
        assert_eq!(again, attachment);
    }
}
