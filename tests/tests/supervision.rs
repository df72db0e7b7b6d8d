//! Supervision through the API: a supervisor reassigns a disputed case by hand, and issues a supervision letter (督办函) whose reply-by date is a deadline that escalates until the department answers.

use std::time::Duration;

use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::District;
use tonic::Code;
use tonic_types::StatusExt;

const WORKER: &str = "worker.g-jianwai-1-01";
const GRID: &str = "g-jianwai-1-01";

fn duty(department: &str) -> String {
    format!(
        "duty.{}",
        department
            .strip_prefix("departments/")
            .expect("a department name")
    )
}

/// Files a neighbour dispute in the worker's grid and whistles it: the street office leads, the police assist.
async fn whistled(district: &District) -> v1::Case {
    let report = district
        .file_report(WORKER, GRID, "neighbour-dispute")
        .await;
    district
        .whistle(
            WORKER,
            &report.name,
            v1::WhistleKind::Routine,
            v1::RiskGrade::Unspecified,
        )
        .await
}

fn assignment<'a>(case: &'a v1::Case, department: &str) -> &'a v1::Assignment {
    case.assignments
        .iter()
        .find(|a| a.department == department)
        .unwrap_or_else(|| panic!("{department} is on the case"))
}

/// (stage, state) of a department's deadlines.
fn stages(case: &v1::Case, department: &str) -> Vec<(v1::DeadlineStage, v1::DeadlineState)> {
    assignment(case, department)
        .deadlines
        .iter()
        .map(|d| (d.stage(), d.state()))
        .collect()
}

fn field_of(err: &tonic::Status) -> String {
    err.get_details_bad_request()
        .map(|b| b.field_violations[0].field.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_supervisor_reassigns_a_case_withdrawing_the_lead_and_promoting_the_assist() {
    use v1::DeadlineStage::{Contact, Finish, ReportIn};
    use v1::DeadlineState::{Cancelled, Pending, Satisfied};
    for backend in backends() {
        let district = District::start(backend).await;
        let case = whistled(&district).await;
        let street = case.assignments[0].department.clone();
        let police = case.assignments[1].department.clone();
        let housing = "departments/housing".to_owned();
        // The police report in as assistants before the supervisor steps in.
        let etag = district
            .app
            .cases(&district.token(&duty(&police)).await)
            .report_in(v1::ReportInRequest {
                name: case.name.clone(),
                ..Default::default()
            })
            .await
            .expect("the police report in")
            .into_inner()
            .case
            .unwrap()
            .etag;
        district.app.clock.advance(Duration::from_secs(5 * 60));

        let supervisor = district.token("supervisor").await;
        let mut supervision = district.app.supervision(&supervisor);
        let request = |lead: &str, assists: &[&str], etag: &str| v1::ReassignCaseRequest {
            name: case.name.clone(),
            lead_department: lead.to_owned(),
            assisting_departments: assists.iter().map(|d| (*d).to_owned()).collect(),
            reason: "纠纷涉及治安，由派出所主办".to_owned(),
            etag: etag.to_owned(),
        };

        // Bad input names the field; a department that does not exist is refused before anything is written.
        for (bad, field) in [
            (request("police-01", &[], ""), "lead_department"),
            (request("departments/no-such", &[], ""), "lead_department"),
            (request(&police, &[&police], ""), "assisting_departments[0]"),
            (request(&police, &[], "not-a-version"), "etag"),
        ] {
            let err = supervision.reassign_case(bad).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{backend:?} {err:?}");
            assert_eq!(field_of(&err), field, "{err:?}");
        }
        // Only supervisors reassign.
        let err = district
            .app
            .supervision(&district.token(&duty(&street)).await)
            .reassign_case(request(&police, &[], ""))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);

        let reassigned = supervision
            .reassign_case(request(&police, &[&housing], &etag))
            .await
            .expect("the supervisor reassigns")
            .into_inner()
            .case
            .unwrap();
        assert_eq!(
            assignment(&reassigned, &street).state(),
            v1::AssignmentState::Withdrawn
        );
        assert_eq!(
            stages(&reassigned, &street),
            [
                (ReportIn, Cancelled),
                (Contact, Cancelled),
                (Finish, Cancelled)
            ]
        );
        let lead = assignment(&reassigned, &police);
        assert_eq!(
            (lead.role(), lead.state()),
            (v1::AssignmentRole::Lead, v1::AssignmentState::ReportedIn)
        );
        assert_eq!(
            stages(&reassigned, &police),
            [(ReportIn, Satisfied), (Contact, Pending), (Finish, Pending)],
            "the new lead keeps its report-in and takes the lead's stages"
        );
        let summoned = assignment(&reassigned, &housing);
        assert_eq!(
            (summoned.role(), summoned.state()),
            (v1::AssignmentRole::Assist, v1::AssignmentState::Summoned)
        );
        assert_eq!(stages(&reassigned, &housing), [(ReportIn, Pending)]);

        // The old etag is stale now; the timeline records who reassigned and why.
        let err = supervision
            .reassign_case(request(&police, &[], &etag))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Aborted);
        let view = district
            .app
            .cases(&supervisor)
            .get_case(v1::GetCaseRequest {
                name: case.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let last = view.timeline.last().unwrap();
        assert_eq!(last.kind(), v1::CaseEventKind::Reassigned);
        assert_eq!(last.department, police);
        assert!(last.text.contains("由派出所主办"), "{}", last.text);

        // The withdrawn street office can no longer work the case; the housing bureau sees it in its inbox.
        let err = district
            .app
            .cases(&district.token(&duty(&street)).await)
            .report_in(v1::ReportInRequest {
                name: case.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        let inbox = district
            .app
            .cases(&district.token(&duty(&housing)).await)
            .list_inbox(v1::ListInboxRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(inbox.cases.iter().any(|c| c.name == case.name));
    }
}
