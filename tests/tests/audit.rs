//! The audit of personal data: every answer that shows a case's parties unmasked leaves a row (who, which case, which call, its request id, when) that admins list; the grid worker reading their own report and callers who see the parties masked leave none; and when the row cannot be written the data is withheld.

use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::District;
use sea_orm::ConnectionTrait as _;
use tonic::Code;
use tonic_types::StatusExt as _;

const WORKER: &str = "worker.g-jianwai-1-01";

/// `GetCase` as `username`, with the request id `request_id`.
async fn get_case(
    district: &District,
    username: &str,
    case: &str,
    request_id: &str,
) -> Result<v1::Case, tonic::Status> {
    let mut request = tonic::Request::new(v1::GetCaseRequest {
        name: case.to_owned(),
    });
    request
        .metadata_mut()
        .insert("x-request-id", request_id.parse().unwrap());
    let token = district.token(username).await;
    Ok(district
        .app
        .cases(&token)
        .get_case(request)
        .await?
        .into_inner()
        .case
        .expect("a case"))
}

async fn reveals(
    district: &District,
    request: v1::ListPartyRevealsRequest,
) -> Result<Vec<v1::PartyReveal>, tonic::Status> {
    let token = district.token("admin").await;
    Ok(district
        .app
        .audit(&token)
        .list_party_reveals(request)
        .await?
        .into_inner()
        .party_reveals)
}

/// Runs `statement` on the test's database beside the server.
async fn on_database(district: &District, statement: &str) {
    let db = sea_orm::Database::connect(district.app.database.url())
        .await
        .unwrap();
    db.execute_unprepared(statement).await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn parties_shown_unmasked_are_audited_before_the_answer_leaves() {
    for backend in backends() {
        let district = District::start(backend).await;
        let (report, case) = district.whistle_dispute(v1::RiskGrade::Unspecified).await;
        let lead = case.assignments[0]
            .department
            .trim_start_matches("departments/")
            .to_owned();
        let duty = format!("duty.{lead}");

        // The lead department's officer sees the parties unmasked; the supervisor masked; the author their own.
        let seen = get_case(&district, &duty, &case.name, "audit-1")
            .await
            .unwrap();
        assert!(!seen.parties.is_empty() && !seen.parties[0].masked);
        let supervised = get_case(&district, "supervisor", &case.name, "audit-2")
            .await
            .unwrap();
        assert!(supervised.parties[0].masked);
        let own = district
            .app
            .reports(&district.token(WORKER).await)
            .get_report(v1::GetReportRequest {
                name: report.name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .report
            .unwrap();
        assert!(!own.parties[0].masked);

        // Only the officer's answer left a row, naming who, which case, which call and its request id.
        let all = reveals(&district, v1::ListPartyRevealsRequest::default())
            .await
            .unwrap();
        let officer = district.user_name(&duty).await;
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].user, officer);
        assert_eq!(all[0].subject, case.name);
        assert_eq!(all[0].method, "/gridwhistle.v1.CaseService/GetCase");
        assert_eq!(all[0].request_id, "audit-1");
        assert!(all[0].name.starts_with("partyReveals/"));
        assert!(all[0].reveal_time.is_some());

        // A listing of the department's cases shows the parties again: another row, newest first.
        let token = district.token(&duty).await;
        let listed = district
            .app
            .cases(&token)
            .list_cases(v1::ListCasesRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(listed.cases.iter().any(|c| c.name == case.name));
        let by_subject = reveals(
            &district,
            v1::ListPartyRevealsRequest {
                subject: case.name.clone(),
                user: officer.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(by_subject.len(), 2);
        assert_eq!(
            by_subject[0].method,
            "/gridwhistle.v1.CaseService/ListCases"
        );
        let paged = district
            .app
            .audit(&district.token("admin").await)
            .list_party_reveals(v1::ListPartyRevealsRequest {
                page_size: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(paged.party_reveals, by_subject[..1]);
        let next = reveals(
            &district,
            v1::ListPartyRevealsRequest {
                page_size: 1,
                page_token: paged.next_page_token,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(next, by_subject[1..]);

        // With the audit's table out of reach, the parties are withheld: the officer gets UNAVAILABLE, the supervisor (masked) still an answer.
        on_database(
            &district,
            "ALTER TABLE party_reveals RENAME TO party_reveals_away",
        )
        .await;
        let withheld = get_case(&district, &duty, &case.name, "audit-3")
            .await
            .unwrap_err();
        assert_eq!(withheld.code(), Code::Unavailable, "{withheld:?}");
        assert!(!withheld.message().contains("张三丰"));
        get_case(&district, "supervisor", &case.name, "audit-4")
            .await
            .unwrap();
        on_database(
            &district,
            "ALTER TABLE party_reveals_away RENAME TO party_reveals",
        )
        .await;
        get_case(&district, &duty, &case.name, "audit-5")
            .await
            .unwrap();
        assert_eq!(
            reveals(&district, v1::ListPartyRevealsRequest::default())
                .await
                .unwrap()
                .len(),
            3
        );
    }
}

#[tokio::test]
async fn only_admins_list_reveals_and_a_bad_filter_names_its_field() {
    let district = District::start(backends()[0]).await;
    let token = district.token("supervisor").await;
    let refused = district
        .app
        .audit(&token)
        .list_party_reveals(v1::ListPartyRevealsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    for (request, field) in [
        (
            v1::ListPartyRevealsRequest {
                subject: "cases/not-a-case".to_owned(),
                ..Default::default()
            },
            "subject",
        ),
        (
            v1::ListPartyRevealsRequest {
                user: "departments/police".to_owned(),
                ..Default::default()
            },
            "user",
        ),
        (
            v1::ListPartyRevealsRequest {
                start_time: Some(prost_types::Timestamp {
                    seconds: 20,
                    nanos: 0,
                }),
                end_time: Some(prost_types::Timestamp {
                    seconds: 10,
                    nanos: 0,
                }),
                ..Default::default()
            },
            "end_time",
        ),
        (
            v1::ListPartyRevealsRequest {
                page_token: "bm90IG91cnM".to_owned(),
                ..Default::default()
            },
            "page_token",
        ),
    ] {
        let status = reveals(&district, request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let violations = status
            .get_details_bad_request()
            .expect("field violations")
            .field_violations;
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].field, field);
    }
}
