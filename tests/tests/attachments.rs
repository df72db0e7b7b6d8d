//! Attachments read back over gRPC in the sample district: the people entitled to a report or case download its photos whole, checked and resumable; everyone else is told nothing.

use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::{
    District, duty_officer, new_report_id, photo, point_in_grid, report_at, sha256_hex,
};
use tonic::Code;
use tonic_types::StatusExt;

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";
/// A department of the district that a report in GRID never summons.
const STRANGER: &str = "duty.street-maizidian";

/// The whole answer of a refused call (but its request id), which must not tell a hidden object from a missing one.
fn answer(status: &tonic::Status) -> (Code, String, String) {
    (
        status.code(),
        status.message().to_owned(),
        gridwhistle_tests::details_but_request(status),
    )
}

fn field_of(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("field violations")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

#[tokio::test]
async fn the_entitled_download_each_others_photos_whole_and_resumed_and_others_get_not_found() {
    for backend in backends() {
        let district = District::start(backend).await;
        // Three chunks and a bit: a real multi-chunk download.
        let bytes = photo(3 * 1024 * 1024 + 12_345, 7);
        let attachment = district.upload(WORKER, &bytes).await;
        let sha = attachment.trim_start_matches("attachments/").to_owned();
        assert_eq!(sha, sha256_hex(&bytes));
        let (lat, lng) = point_in_grid(GRID);
        let mut draft = report_at(lat, lng, "neighbour-dispute");
        draft.attachments = vec![attachment.clone()];
        let report = district
            .app
            .reports(&district.token(WORKER).await)
            .create_report(v1::CreateReportRequest {
                report_id: new_report_id(),
                report: Some(draft),
            })
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        let case = district
            .whistle(
                WORKER,
                &report.name,
                v1::WhistleKind::Routine,
                v1::RiskGrade::Unspecified,
            )
            .await;
        let lead = duty_officer(&case.assignments[0].department);
        let lead_token = district.token(&lead).await;
        let on_case = format!("{}/attachments/{sha}", case.name);

        // The lead's duty officer reads what the grid worker saw, byte for byte.
        let file = district
            .app
            .attachments(&lead_token)
            .get_attachment(v1::GetAttachmentRequest {
                name: on_case.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .file
            .unwrap();
        assert_eq!(file.name, on_case);
        assert_eq!(file.sha256, sha);
        assert_eq!(file.attacher, district.user_name(WORKER).await);
        assert!(file.attach_time.is_some());
        let meta = file.attachment.unwrap();
        assert_eq!(meta.content_type, "image/jpeg");
        assert_eq!(meta.size_bytes, bytes.len() as i64);
        let downloaded = district.download(&lead_token, &on_case, 0).await.unwrap();
        assert_eq!(sha256_hex(&downloaded), sha, "{backend:?}");

        // A broken download resumes where it stopped.
        let tail = district
            .download(&lead_token, &on_case, 1_500_000)
            .await
            .unwrap();
        assert_eq!(tail, bytes[1_500_000..]);
        let past = district
            .download(&lead_token, &on_case, bytes.len() as i64)
            .await
            .unwrap_err();
        assert_eq!(field_of(&past), ["offset"]);
        let negative = district
            .download(&lead_token, &on_case, -1)
            .await
            .unwrap_err();
        assert_eq!(field_of(&negative), ["offset"]);
        let malformed = district
            .download(&lead_token, &format!("{}/photos/{sha}", case.name), 0)
            .await
            .unwrap_err();
        assert_eq!(field_of(&malformed), ["name"]);

        // An unrelated department learns nothing: its answer equals a missing case's.
        let stranger = district.token(STRANGER).await;
        let hidden = district.download(&stranger, &on_case, 0).await.unwrap_err();
        let missing_case = format!("cases/{}/attachments/{sha}", new_report_id());
        let missing = district
            .download(&stranger, &missing_case, 0)
            .await
            .unwrap_err();
        assert_eq!(hidden.code(), Code::NotFound);
        assert_eq!(answer(&hidden), answer(&missing));

        // The lead completes with a result photo; the grid worker reads it before verifying.
        let result_bytes = photo(40_000, 9);
        let result = district.upload(&lead, &result_bytes).await;
        let mut cases = district.app.cases(&lead_token);
        cases
            .report_in(v1::ReportInRequest {
                name: case.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        cases
            .complete_case(v1::CompleteCaseRequest {
                name: case.name.clone(),
                result: "已调解，杂物已清理".to_owned(),
                attachments: vec![result.clone()],
                ..Default::default()
            })
            .await
            .unwrap();
        let worker = district.token(WORKER).await;
        // The author reads the lead's result on the report itself, with its photo's name.
        let seen = district
            .app
            .reports(&worker)
            .get_report(v1::GetReportRequest {
                name: report.name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        assert_eq!(seen.state(), v1::ReportState::AwaitingVerification);
        let lead_share = seen
            .assignments
            .iter()
            .find(|a| a.role() == v1::AssignmentRole::Lead)
            .expect("the lead's share is on the report");
        assert_eq!(lead_share.department, case.assignments[0].department);
        assert_eq!(lead_share.state(), v1::AssignmentState::Completed);
        assert_eq!(lead_share.result, "已调解，杂物已清理");
        assert_eq!(lead_share.result_attachments, std::slice::from_ref(&result));
        assert!(lead_share.report_in_time.is_some() && lead_share.complete_time.is_some());
        assert!(!lead_share.deadlines.is_empty(), "the deadlines that apply");
        assert_eq!(seen.assignments.len(), case.assignments.len());
        let result_on_report = format!(
            "{}/attachments/{}",
            report.name,
            result.trim_start_matches("attachments/")
        );
        let got = district
            .download(&worker, &result_on_report, 0)
            .await
            .unwrap();
        assert_eq!(got, result_bytes);
        let supervisor = district.token("supervisor").await;
        assert_eq!(
            district
                .download(&supervisor, &result_on_report, 0)
                .await
                .unwrap(),
            result_bytes
        );

        // A file that is not on this report is not found through it, even for its author.
        let elsewhere = district.upload(WORKER, &photo(5_000, 11)).await;
        let not_on_report = format!(
            "{}/attachments/{}",
            report.name,
            elsewhere.trim_start_matches("attachments/")
        );
        let status = district
            .download(&worker, &not_on_report, 0)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
    }
}

/// A browser's upload: one chunk per unary call (gRPC-Web cannot stream a request), with the stream's checks and a resumption from the committed size.
#[tokio::test]
async fn an_upload_sent_a_chunk_per_call_is_checked_like_a_stream_and_resumes() {
    for backend in backends() {
        let district = District::start(backend).await;
        let bytes = photo(600 * 1024 + 77, 3);
        let sha256 = sha256_hex(&bytes);
        let upload_id = uuid::Uuid::new_v4().to_string();
        let mut reports = district.app.reports(&district.token(WORKER).await);
        let chunk = |offset: usize, len: usize| {
            let data = bytes[offset..(offset + len).min(bytes.len())].to_vec();
            v1::UploadAttachmentChunkRequest {
                upload_id: upload_id.clone(),
                total_size_bytes: bytes.len() as i64,
                sha256: sha256.clone(),
                offset: offset as i64,
                crc32c: gridwhistle_server::attachments::crc32c(&data),
                data,
            }
        };
        let first = reports
            .upload_attachment_chunk(chunk(0, 256 * 1024))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first.committed_size_bytes, 256 * 1024);
        assert!(first.attachment.is_none());

        // A chunk whose checksum does not match its bytes names crc32c and commits nothing.
        let mut bad = chunk(256 * 1024, 256 * 1024);
        bad.crc32c ^= 1;
        let refused = reports.upload_attachment_chunk(bad).await.unwrap_err();
        assert_eq!(field_of(&refused), ["crc32c"]);
        // A chunk from the wrong place is refused as the stream refuses it.
        let misplaced = reports
            .upload_attachment_chunk(chunk(100, 1000))
            .await
            .unwrap_err();
        assert_eq!(misplaced.code(), Code::FailedPrecondition, "{misplaced:?}");

        // The client resumes from what QueryUpload says is committed.
        let committed = reports
            .query_upload(v1::QueryUploadRequest {
                upload_id: upload_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .committed_size_bytes;
        assert_eq!(committed, 256 * 1024);
        let second = reports
            .upload_attachment_chunk(chunk(256 * 1024, 256 * 1024))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(second.committed_size_bytes, 512 * 1024);
        let last = reports
            .upload_attachment_chunk(chunk(512 * 1024, 256 * 1024))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(last.committed_size_bytes, bytes.len() as i64);
        let attachment = last.attachment.expect("the whole file arrived");
        assert_eq!(attachment.name, format!("attachments/{sha256}"));
        assert_eq!(attachment.content_type, "image/jpeg");
        // A retry of the last call answers the same attachment.
        let again = reports
            .upload_attachment_chunk(chunk(512 * 1024, 256 * 1024))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.attachment, Some(attachment));
        // Another grid worker cannot touch this upload: answered as for an upload that does not exist.
        let mut stranger = district
            .app
            .reports(&district.token("worker.g-hujialou-2-02").await);
        let hidden = stranger
            .upload_attachment_chunk(chunk(512 * 1024, 256 * 1024))
            .await
            .unwrap_err();
        let mut missing_chunk = chunk(512 * 1024, 256 * 1024);
        missing_chunk.upload_id = uuid::Uuid::new_v4().to_string();
        let missing = stranger
            .query_upload(v1::QueryUploadRequest {
                upload_id: missing_chunk.upload_id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(answer(&hidden), answer(&missing));
    }
}
