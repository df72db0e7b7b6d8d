//! The closed loop over gRPC in the sample district: report → whistle → departments report in, work and complete → the grid worker rejects, then accepts; the timeline and both streams see every step.

use std::time::Duration;

use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::{
    District, duty_officer, new_report_id, photo, point_in_grid, report_at,
};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";

use v1::CaseEventKind as K;

/// Reads `n` messages from a stream, failing rather than hanging when they do not come.
async fn take<T>(stream: &mut tonic::Streaming<T>, n: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} stream messages arrived", out.len()))
            .expect("the stream stays open")
            .expect("a stream message");
        out.push(next);
    }
    out
}

async fn file_report(district: &District, category: &str) -> v1::Report {
    district.file_report(WORKER, GRID, category).await
}

#[tokio::test]
async fn the_whole_loop_runs_with_rework_and_every_step_is_on_the_timeline_and_the_streams() {
    for backend in backends() {
        let district = District::start(backend).await;
        let worker = district.token(WORKER).await;
        let mut reports = district.app.reports(&worker);
        let mut my_stream = reports
            .watch_my_reports(v1::WatchMyReportsRequest::default())
            .await
            .unwrap()
            .into_inner();

        let report = file_report(&district, "neighbour-dispute").await;
        assert_eq!(report.state(), v1::ReportState::Open);
        assert_eq!(report.grid, format!("grids/{GRID}"));
        assert!(!report.parties[0].masked, "the author sees the parties");

        let whistled = reports
            .whistle(v1::WhistleRequest {
                name: report.name.clone(),
                kind: v1::WhistleKind::Routine.into(),
                note: "需要派出所协助".to_owned(),
                etag: report.etag.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let case = whistled.case.unwrap();
        assert_eq!(case.state(), v1::CaseState::Open);
        assert_eq!(
            case.risk_grade(),
            v1::RiskGrade::C,
            "the category's default grade"
        );
        let departments: Vec<(String, v1::AssignmentRole)> = case
            .assignments
            .iter()
            .map(|a| (a.department.clone(), a.role()))
            .collect();
        assert_eq!(departments.len(), 2, "{departments:?}");
        let lead = departments[0].0.clone();
        let assist = departments[1].0.clone();
        assert_eq!(departments[0].1, v1::AssignmentRole::Lead);
        assert!(lead.starts_with("departments/street-"), "{lead}");
        assert!(assist.starts_with("departments/police-"), "{assist}");
        let lead_token = district.token(&duty_officer(&lead)).await;
        let assist_token = district.token(&duty_officer(&assist)).await;
        let mut lead_cases = district.app.cases(&lead_token);
        let mut assist_cases = district.app.cases(&assist_token);

        // The lead's console connects now; the assistant's later, from the start of the log, and must miss nothing.
        let mut lead_stream = lead_cases
            .watch_inbox(v1::WatchInboxRequest::default())
            .await
            .unwrap()
            .into_inner();

        let inbox = lead_cases
            .list_inbox(v1::ListInboxRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(inbox.cases.len(), 1);
        assert!(
            !inbox.cases[0].parties[0].masked,
            "the lead must contact the parties"
        );

        let name = case.name.clone();
        lead_cases
            .report_in(v1::ReportInRequest {
                name: name.clone(),
                location: report.location,
                ..Default::default()
            })
            .await
            .unwrap();
        assist_cases
            .report_in(v1::ReportInRequest {
                name: name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        // The contact's time is the department's to give, but not ahead of the clock nor before the whistle.
        let now = gridwhistle_dispatcher::Clock::now(district.app.clock.as_ref());
        let at = |ms: i64| prost_types::Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: 0,
        };
        for (when, reason) in [
            (now.as_unix_millis() + 3_600_000, "future"),
            (
                now.as_unix_millis() - 3_600_000,
                "before the case was whistled",
            ),
        ] {
            let err = lead_cases
                .record_contact(v1::RecordContactRequest {
                    name: name.clone(),
                    note: "电话联系双方".to_owned(),
                    contact_time: Some(at(when)),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument);
            assert_eq!(
                gridwhistle_tests::field_violations(&err),
                vec!["contact_time"]
            );
            assert!(err.message().contains(reason), "{}", err.message());
        }
        let contact_time = at(now.as_unix_millis());
        lead_cases
            .record_contact(v1::RecordContactRequest {
                name: name.clone(),
                note: "电话联系双方".to_owned(),
                contact_time: Some(contact_time),
                ..Default::default()
            })
            .await
            .unwrap();
        assist_cases
            .post_progress(v1::PostProgressRequest {
                name: name.clone(),
                text: "民警到场调解".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        let extension = lead_cases
            .request_extension(v1::RequestExtensionRequest {
                request_id: String::new(),
                name: name.clone(),
                stage: v1::DeadlineStage::Finish.into(),
                requested_due_time: Some(prost_types::Timestamp {
                    seconds: 1_800_000_000,
                    nanos: 0,
                }),
                reason: "需协调物业".to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .extension
            .unwrap();
        assert_eq!(extension.state(), v1::ExtensionState::Pending);
        assert!(extension.name.starts_with(&format!("{name}/extensions/")));
        let completed = lead_cases
            .complete_case(v1::CompleteCaseRequest {
                name: name.clone(),
                result: "杂物已清理".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .case
            .unwrap();
        assert_eq!(completed.state(), v1::CaseState::AwaitingVerification);

        let current = reports
            .get_report(v1::GetReportRequest {
                name: report.name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        assert_eq!(current.state(), v1::ReportState::AwaitingVerification);
        let rejected = reports
            .verify_resolution(v1::VerifyResolutionRequest {
                name: report.name.clone(),
                accepted: false,
                reason: "楼道仍有杂物".to_owned(),
                etag: current.etag.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        assert_eq!(rejected.state(), v1::ReportState::Whistled);

        let reworked = lead_cases
            .complete_case(v1::CompleteCaseRequest {
                name: name.clone(),
                result: "已彻底清理并张贴告示".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .case
            .unwrap();
        assert_eq!(reworked.rework_count, 1);
        let closed = reports
            .verify_resolution(v1::VerifyResolutionRequest {
                name: report.name.clone(),
                accepted: true,
                satisfaction: 5,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        assert_eq!(closed.state(), v1::ReportState::Closed);
        assert_eq!(closed.satisfaction, 5, "the author sees their rating");

        let view = lead_cases
            .get_case(v1::GetCaseRequest { name: name.clone() })
            .await
            .unwrap()
            .into_inner();
        let closed_case = view.case.clone().unwrap();
        assert_eq!(closed_case.state(), v1::CaseState::Closed);
        assert_eq!(closed_case.satisfaction, 5);
        let lead_share = closed_case
            .assignments
            .iter()
            .find(|a| a.department == lead)
            .unwrap();
        assert_eq!(
            lead_share.contact_time,
            Some(contact_time),
            "the contact's time is stored and shown"
        );
        let timeline: Vec<(i64, K, String)> = view
            .timeline
            .iter()
            .map(|e| (e.sequence, e.kind(), e.department.clone()))
            .collect();
        let expected = vec![
            (1, K::Reported, String::new()),
            (2, K::Whistled, String::new()),
            (3, K::ReportedIn, lead.clone()),
            (4, K::ReportedIn, assist.clone()),
            (5, K::Contacted, lead.clone()),
            (6, K::Progress, assist.clone()),
            (7, K::ExtensionRequested, lead.clone()),
            (8, K::Completed, lead.clone()),
            (9, K::Rejected, lead.clone()),
            (10, K::Completed, lead.clone()),
            (11, K::Verified, String::new()),
        ];
        assert_eq!(timeline, expected);
        assert_eq!(closed.etag, "11");

        // The grid worker's stream saw every event of the report, in order.
        let mine = take(&mut my_stream, expected.len()).await;
        let kinds: Vec<K> = mine
            .iter()
            .map(|m| m.event.as_ref().unwrap().kind())
            .collect();
        assert_eq!(kinds, expected.iter().map(|e| e.1).collect::<Vec<_>>());
        assert_eq!(
            mine.last().unwrap().report.as_ref().unwrap().state(),
            v1::ReportState::Closed
        );

        // The lead's stream started after the whistle: it saw every later event.
        let seen = take(&mut lead_stream, expected.len() - 2).await;
        let kinds: Vec<K> = seen
            .iter()
            .map(|m| m.event.as_ref().unwrap().kind())
            .collect();
        assert_eq!(kinds, expected[2..].iter().map(|e| e.1).collect::<Vec<_>>());
        assert!(seen.iter().all(|m| m.case == name));

        // A console that reconnects with its cursor resumes exactly after it.
        let resume_after = seen[5].cursor.clone();
        let mut resumed = lead_cases
            .watch_inbox(v1::WatchInboxRequest {
                cursor: resume_after,
            })
            .await
            .unwrap()
            .into_inner();
        let rest = take(&mut resumed, expected.len() - 2 - 6).await;
        let kinds: Vec<K> = rest
            .iter()
            .map(|m| m.event.as_ref().unwrap().kind())
            .collect();
        assert_eq!(kinds, expected[8..].iter().map(|e| e.1).collect::<Vec<_>>());

        // The assistant's console, from the very start of the log, gets the whole timeline.
        let mut from_start = assist_cases
            .watch_inbox(v1::WatchInboxRequest {
                cursor: "0.0".to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let all = take(&mut from_start, expected.len()).await;
        assert_eq!(all[0].event.as_ref().unwrap().kind(), K::Reported);
    }
}

#[tokio::test]
async fn create_report_is_idempotent_on_its_id_and_refuses_a_different_payload() {
    let district = District::start(gridwhistle_tests::Backend::Sqlite).await;
    let token = district.token(WORKER).await;
    let mut reports = district.app.reports(&token);
    let (lat, lng) = point_in_grid(GRID);
    let id = new_report_id();
    let request = v1::CreateReportRequest {
        report_id: id.clone(),
        report: Some(report_at(lat, lng, "neighbour-dispute")),
    };
    let first = reports
        .create_report(request.clone())
        .await
        .unwrap()
        .into_inner();
    reports
        .resolve_on_site(v1::ResolveOnSiteRequest {
            name: format!("reports/{id}"),
            resolution: "当场调解".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    let retry = reports
        .create_report(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry, first, "a retry returns the first response");

    let mut changed = request.clone();
    changed.report.as_mut().unwrap().description = "另一件事".to_owned();
    let err = reports.create_report(changed).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(
        err.message().contains("different payload"),
        "{}",
        err.message()
    );

    let mine = reports
        .list_my_reports(v1::ListMyReportsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.reports.len(), 1);
    assert_eq!(mine.reports[0].state(), v1::ReportState::ResolvedOnSite);
}

#[tokio::test]
async fn bad_reports_are_refused_naming_every_offending_field() {
    let district = District::start(gridwhistle_tests::Backend::Sqlite).await;
    let token = district.token(WORKER).await;
    let mut report = report_at(f64::NAN, 200.0, "no-such-category");
    report.location.as_mut().unwrap().coordinate_system = 0;
    report.location.as_mut().unwrap().accuracy_meters = -1.0;
    report.description = " ".to_owned();
    report.parties[0].phone = "12345".to_owned();
    report.parties[0].id_number = "110105194912310021".to_owned();
    report.observe_time = None;
    let err = district
        .app
        .reports(&token)
        .create_report(v1::CreateReportRequest {
            report_id: "67e55044-10b1-426f-9247-bb680e5fe0c8".to_owned(),
            report: Some(report),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        gridwhistle_tests::field_violations(&err),
        [
            "report_id",
            "report.location.latitude",
            "report.location.longitude",
            "report.location.coordinate_system",
            "report.location.accuracy_meters",
            "report.observe_time",
            "report.description",
            "report.parties[0].phone",
            "report.parties[0].id_number",
        ]
    );
    // Nothing was written.
    let mine = district
        .app
        .reports(&token)
        .list_my_reports(v1::ListMyReportsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(mine.reports.is_empty());

    // The clock and the catalogue are checked too.
    let (lat, lng) = point_in_grid(GRID);
    let mut future = report_at(lat, lng, "neighbour-dispute");
    future.observe_time.as_mut().unwrap().seconds += 3600;
    for (report, field) in [
        (future, "report.observe_time"),
        (report_at(lat, lng, "no-such-category"), "report.category"),
    ] {
        let err = district
            .app
            .reports(&token)
            .create_report(v1::CreateReportRequest {
                report_id: new_report_id(),
                report: Some(report),
            })
            .await
            .unwrap_err();
        let violations = err.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations[0].field, field, "{violations:?}");
    }
}

#[tokio::test]
async fn parties_are_masked_for_supervisors_and_shown_to_the_summoned_departments() {
    let district = District::start(gridwhistle_tests::Backend::Sqlite).await;
    let report = file_report(&district, "neighbour-dispute").await;
    let case = district
        .whistle(
            WORKER,
            &report.name,
            v1::WhistleKind::Emergency,
            v1::RiskGrade::A,
        )
        .await;
    assert_eq!(case.risk_grade(), v1::RiskGrade::A);
    let supervisor = district.token("supervisor").await;
    let seen = district
        .app
        .cases(&supervisor)
        .get_case(v1::GetCaseRequest {
            name: case.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let party = &seen.parties[0];
    assert!(party.masked);
    assert_eq!(
        (
            party.name.as_str(),
            party.phone.as_str(),
            party.id_number.as_str()
        ),
        ("张**", "138****8000", "110105********002X")
    );
    let lead = duty_officer(&case.assignments[0].department);
    let lead_token = district.token(&lead).await;
    let shown = district
        .app
        .cases(&lead_token)
        .get_case(v1::GetCaseRequest {
            name: case.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(shown.parties[0].phone, "13800138000");
}

#[tokio::test]
async fn a_returned_case_is_rerouted_without_that_department_and_illegal_steps_change_nothing() {
    let district = District::start(gridwhistle_tests::Backend::Sqlite).await;
    let report = file_report(&district, "neighbour-dispute").await;
    let case = district
        .whistle(
            WORKER,
            &report.name,
            v1::WhistleKind::Routine,
            v1::RiskGrade::Unspecified,
        )
        .await;
    let lead = case.assignments[0].department.clone();
    let lead_token = district.token(&duty_officer(&lead)).await;
    let mut cases = district.app.cases(&lead_token);

    let err = cases
        .complete_case(v1::CompleteCaseRequest {
            name: case.name.clone(),
            result: "done".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("report in"), "{}", err.message());

    let stale = cases
        .report_in(v1::ReportInRequest {
            name: case.name.clone(),
            etag: "1".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    let returned = cases
        .return_case(v1::ReturnCaseRequest {
            request_id: String::new(),
            name: case.name.clone(),
            reason: "不属于本街道".to_owned(),
            etag: case.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let states: Vec<(String, v1::AssignmentRole, v1::AssignmentState)> = returned
        .assignments
        .iter()
        .map(|a| (a.department.clone(), a.role(), a.state()))
        .collect();
    assert!(
        states.contains(&(
            lead.clone(),
            v1::AssignmentRole::Lead,
            v1::AssignmentState::Returned
        )),
        "{states:?}"
    );
    let new_lead = states
        .iter()
        .find(|(d, role, state)| {
            *role == v1::AssignmentRole::Lead
                && *state == v1::AssignmentState::Summoned
                && *d != lead
        })
        .unwrap_or_else(|| panic!("a new lead was summoned: {states:?}"));
    assert!(
        returned
            .routing
            .as_ref()
            .unwrap()
            .explanation
            .contains(&new_lead.0["departments/".len()..]),
        "{:?}",
        returned.routing
    );
    // The answer to the return is already the returning department's view: the parties masked.
    assert!(
        returned.parties.iter().all(|p| p.masked),
        "{:?}",
        returned.parties
    );
    // The returning department still reads the case, with the parties masked from the return on, but may no longer act on it.
    let view = district
        .case_as(&duty_officer(&lead), &case.name)
        .await
        .case
        .unwrap();
    assert!(!view.parties.is_empty());
    for party in &view.parties {
        assert!(party.masked, "{party:?}");
        assert_ne!(party.phone, "13800138000");
        assert_ne!(party.id_number, "11010519491231002X");
    }
    // The new lead needs them to contact the parties, and sees them whole.
    let new_lead_view = district
        .case_as(&duty_officer(&new_lead.0), &case.name)
        .await;
    assert!(
        new_lead_view
            .case
            .unwrap()
            .parties
            .iter()
            .all(|p| !p.masked && p.phone == "13800138000")
    );
    let err = cases
        .report_in(v1::ReportInRequest {
            name: case.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}

fn crc32c(data: &[u8]) -> u32 {
    gridwhistle_server::attachments::crc32c(data)
}

fn chunk(
    upload_id: &str,
    total: usize,
    sha256: &str,
    offset: usize,
    data: &[u8],
) -> v1::UploadAttachmentRequest {
    v1::UploadAttachmentRequest {
        upload_id: upload_id.to_owned(),
        total_size_bytes: total as i64,
        sha256: sha256.to_owned(),
        offset: offset as i64,
        data: data.to_vec(),
        crc32c: crc32c(data),
    }
}

#[tokio::test]
async fn an_upload_resumes_after_a_broken_stream_and_the_report_references_it() {
    use sha2::Digest as _;
    let district = District::start(gridwhistle_tests::Backend::Sqlite).await;
    let token = district.token(WORKER).await;
    let mut reports = district.app.reports(&token);
    let bytes = photo(300_000, 0);
    let sha = gridwhistle_server::attachments::hex(&sha2::Sha256::digest(&bytes));
    let upload_id = uuid::Uuid::new_v4().to_string();
    const CHUNK: usize = 64 * 1024;

    // The first stream sends two chunks and then breaks: the client side fails mid-stream.
    let (tx, rx) = tokio::sync::mpsc::channel::<v1::UploadAttachmentRequest>(4);
    let broken = {
        let mut reports = reports.clone();
        tokio::spawn(async move {
            reports
                .upload_attachment(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
        })
    };
    tx.send(chunk(&upload_id, bytes.len(), &sha, 0, &bytes[..CHUNK]))
        .await
        .unwrap();
    tx.send(chunk(
        &upload_id,
        bytes.len(),
        &sha,
        CHUNK,
        &bytes[CHUNK..2 * CHUNK],
    ))
    .await
    .unwrap();
    // Wait until the server has committed both chunks, then cut the connection.
    let mut committed = 0;
    for _ in 0..500 {
        committed = reports
            .query_upload(v1::QueryUploadRequest {
                upload_id: upload_id.clone(),
            })
            .await
            .map(|r| r.into_inner().committed_size_bytes)
            .unwrap_or(0);
        if committed == (2 * CHUNK) as i64 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(committed, (2 * CHUNK) as i64);
    broken.abort();
    drop(tx);

    // A chunk at the wrong offset or with a bad checksum is refused, and the committed size stays.
    let err = reports
        .upload_attachment(tokio_stream::iter(vec![chunk(
            &upload_id,
            bytes.len(),
            &sha,
            0,
            &bytes[..10],
        )]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let mut bad = chunk(
        &upload_id,
        bytes.len(),
        &sha,
        2 * CHUNK,
        &bytes[2 * CHUNK..3 * CHUNK],
    );
    bad.crc32c ^= 1;
    let err = reports
        .upload_attachment(tokio_stream::iter(vec![bad]))
        .await
        .unwrap_err();
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "crc32c"
    );

    // Resume from the committed size.
    let status = reports
        .query_upload(v1::QueryUploadRequest {
            upload_id: upload_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.committed_size_bytes, (2 * CHUNK) as i64);
    assert_eq!(status.total_size_bytes, bytes.len() as i64);
    let rest: Vec<v1::UploadAttachmentRequest> = bytes[2 * CHUNK..]
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, data)| chunk(&upload_id, bytes.len(), &sha, 2 * CHUNK + i * CHUNK, data))
        .collect();
    let done = reports
        .upload_attachment(tokio_stream::iter(rest))
        .await
        .unwrap()
        .into_inner();
    let attachment = done.attachment.unwrap();
    assert_eq!(attachment.name, format!("attachments/{sha}"));
    assert_eq!(attachment.content_type, "image/jpeg");
    assert_eq!(attachment.size_bytes, bytes.len() as i64);

    // The report references the uploaded photo; an unknown one is refused by name.
    let (lat, lng) = point_in_grid(GRID);
    let mut report = report_at(lat, lng, "neighbour-dispute");
    report.attachments = vec![attachment.name.clone()];
    let filed = reports
        .create_report(v1::CreateReportRequest {
            report_id: new_report_id(),
            report: Some(report.clone()),
        })
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(filed.attachments, vec![attachment.name]);
    report.attachments = vec![format!("attachments/{}", "ab".repeat(32))];
    let err = reports
        .create_report(v1::CreateReportRequest {
            report_id: new_report_id(),
            report: Some(report),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "report.attachments"
    );

    // Bytes that are not a photo or video are refused after the digest checks out.
    let text = b"not a photo at all".to_vec();
    let text_sha = gridwhistle_server::attachments::hex(&sha2::Sha256::digest(&text));
    let err = reports
        .upload_attachment(tokio_stream::iter(vec![chunk(
            &uuid::Uuid::new_v4().to_string(),
            text.len(),
            &text_sha,
            0,
            &text,
        )]))
        .await
        .unwrap_err();
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "data"
    );
}

#[tokio::test]
async fn an_upload_refused_at_its_end_stays_refused_on_every_later_call() {
    use sha2::Digest as _;
    for backend in backends() {
        let district = District::start(backend).await;
        let token = district.token(WORKER).await;
        let mut reports = district.app.reports(&token);
        let photo = photo(1_000, 0);
        let text = b"not a photo at all".to_vec();
        let cases = [
            // The SHA-256 of other bytes: the digest does not match what arrived.
            (
                photo.clone(),
                gridwhistle_server::attachments::hex(&sha2::Sha256::digest(b"other")),
                "sha256",
            ),
            // The right digest of bytes that are no photo or video.
            (
                text.clone(),
                gridwhistle_server::attachments::hex(&sha2::Sha256::digest(&text)),
                "data",
            ),
        ];
        for (bytes, sha, field) in cases {
            let upload_id = uuid::Uuid::new_v4().to_string();
            let refused = upload_once(&mut reports, &upload_id, &bytes, &sha, 0)
                .await
                .unwrap_err();
            assert_eq!(refused.code(), Code::InvalidArgument, "{backend:?}");
            assert_eq!(
                refused.get_details_bad_request().unwrap().field_violations[0].field,
                field
            );
            // Asking after it, or resuming at any offset, names the refusal; nothing answers INTERNAL.
            let asked = reports
                .query_upload(v1::QueryUploadRequest {
                    upload_id: upload_id.clone(),
                })
                .await
                .unwrap_err();
            assert_eq!(
                asked.code(),
                Code::FailedPrecondition,
                "{backend:?} {field}"
            );
            assert!(asked.message().contains("refused"), "{}", asked.message());
            for offset in [0, bytes.len()] {
                let resumed = upload_once(&mut reports, &upload_id, &bytes, &sha, offset)
                    .await
                    .unwrap_err();
                assert_eq!(
                    resumed.code(),
                    Code::FailedPrecondition,
                    "{backend:?} {field}"
                );
                assert_eq!(resumed.message(), asked.message());
            }
        }
        // A new upload_id takes the same photo with its right digest.
        let sha = gridwhistle_server::attachments::hex(&sha2::Sha256::digest(&photo));
        let done = upload_once(
            &mut reports,
            &uuid::Uuid::new_v4().to_string(),
            &photo,
            &sha,
            0,
        )
        .await
        .unwrap()
        .into_inner();
        assert!(done.attachment.is_some(), "{backend:?}");
    }
}

/// Sends the rest of `bytes` from `offset` in one chunk on one stream.
async fn upload_once(
    reports: &mut v1::report_service_client::ReportServiceClient<gridwhistle_tests::Authed>,
    upload_id: &str,
    bytes: &[u8],
    sha: &str,
    offset: usize,
) -> Result<tonic::Response<v1::UploadAttachmentResponse>, tonic::Status> {
    reports
        .upload_attachment(tokio_stream::iter(vec![chunk(
            upload_id,
            bytes.len(),
            sha,
            offset,
            &bytes[offset..],
        )]))
        .await
}
