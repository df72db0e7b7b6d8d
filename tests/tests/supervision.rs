//! Supervision through the API: a supervisor reassigns a disputed case by hand, and issues a supervision letter (督办函) whose reply-by date is a deadline that escalates until the department answers.

use std::time::Duration;

use gridwhistle_dispatcher::Clock as _;
use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::{District, duty_officer};
use tonic::Code;
use tonic_types::StatusExt;

/// Files a neighbour dispute in the worker's grid and whistles it: the street office leads, the police assist.
async fn whistled(district: &District) -> v1::Case {
    district.whistle_dispute(v1::RiskGrade::Unspecified).await.1
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
            .cases(&district.token(&duty_officer(&police)).await)
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
            request_id: String::new(),
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
            .supervision(&district.token(&duty_officer(&street)).await)
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
            .cases(&district.token(&duty_officer(&street)).await)
            .report_in(v1::ReportInRequest {
                name: case.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        let inbox = district
            .app
            .cases(&district.token(&duty_officer(&housing)).await)
            .list_inbox(v1::ListInboxRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(inbox.cases.iter().any(|c| c.name == case.name));
    }
}

/// A timeline's events of one kind, as (department, text).
fn events_of(view: &v1::GetCaseResponse, kind: v1::CaseEventKind) -> Vec<(String, String)> {
    view.timeline
        .iter()
        .filter(|e| e.kind() == kind)
        .map(|e| (e.department.clone(), e.text.clone()))
        .collect()
}

/// The letter-reply deadline of `department` on `case`, as (state, escalation level).
fn letter_deadline(case: &v1::Case, department: &str) -> Option<(v1::DeadlineState, i32)> {
    assignment(case, department)
        .deadlines
        .iter()
        .find(|d| d.stage() == v1::DeadlineStage::LetterReply)
        .map(|d| (d.state(), d.escalation_level))
}

#[tokio::test]
async fn a_supervision_letter_lands_on_its_cases_escalates_past_its_reply_date_and_is_answered_once()
 {
    use v1::CaseEventKind as K;
    for backend in backends() {
        let district = District::start(backend).await;
        let first = whistled(&district).await;
        let second = whistled(&district).await;
        let street = first.assignments[0].department.clone();
        let police = first.assignments[1].department.clone();
        let supervisor = district.token("supervisor").await;
        let mut supervision = district.app.supervision(&supervisor);
        let now = district.app.clock.now();
        let letter_id = uuid::Uuid::new_v4().to_string();
        // Reply within two hours of the test clock (Monday 09:00).
        let issue = |id: &str, department: &str, cases: Vec<String>, text: &str| {
            v1::IssueSupervisionLetterRequest {
                letter_id: id.to_owned(),
                department: department.to_owned(),
                cases,
                text: text.to_owned(),
                reply_due_time: Some(prost_types::Timestamp {
                    seconds: now.as_unix_millis() / 1000 + 2 * 3600,
                    nanos: 0,
                }),
            }
        };
        let both = vec![first.name.clone(), second.name.clone()];
        const TEXT: &str = "两起邻里纠纷久拖未决，请于两小时内书面说明";

        for (bad, field) in [
            (
                issue("not-a-uuid", &street, both.clone(), TEXT),
                "letter_id",
            ),
            (
                issue(&letter_id, "street-x", both.clone(), TEXT),
                "department",
            ),
            (issue(&letter_id, &street, vec![], TEXT), "cases"),
            (
                issue(
                    &letter_id,
                    &street,
                    vec![first.name.clone(), first.name.clone()],
                    TEXT,
                ),
                "cases[1]",
            ),
            (issue(&letter_id, &street, both.clone(), ""), "text"),
            (
                issue(&letter_id, "departments/no-such", both.clone(), TEXT),
                "department",
            ),
            (
                issue(&letter_id, "departments/housing", both.clone(), TEXT),
                "cases[0]",
            ),
        ] {
            let err = supervision.issue_supervision_letter(bad).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{backend:?} {err:?}");
            assert_eq!(field_of(&err), field, "{err:?}");
        }
        let mut past = issue(&letter_id, &street, both.clone(), TEXT);
        past.reply_due_time = Some(prost_types::Timestamp {
            seconds: now.as_unix_millis() / 1000 - 60,
            nanos: 0,
        });
        let err = supervision
            .issue_supervision_letter(past)
            .await
            .unwrap_err();
        assert_eq!(field_of(&err), "reply_due_time");
        let err = district
            .app
            .supervision(&district.token(&duty_officer(&street)).await)
            .issue_supervision_letter(issue(&letter_id, &street, both.clone(), TEXT))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);

        let letter = supervision
            .issue_supervision_letter(issue(&letter_id, &street, both.clone(), TEXT))
            .await
            .expect("the supervisor issues the letter")
            .into_inner()
            .letter
            .unwrap();
        assert_eq!(letter.name, format!("supervisionLetters/{letter_id}"));
        assert_eq!(
            (letter.department.as_str(), letter.cases.clone()),
            (street.as_str(), both.clone())
        );
        assert!(letter.acknowledge_time.is_none());
        // A retry answers the same letter; the id with another text is refused.
        let again = supervision
            .issue_supervision_letter(issue(&letter_id, &street, both.clone(), TEXT))
            .await
            .unwrap()
            .into_inner()
            .letter
            .unwrap();
        assert_eq!(again, letter);
        let err = supervision
            .issue_supervision_letter(issue(&letter_id, &street, both.clone(), "另一份"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");

        // On both timelines once; the reply date is a deadline on the first case.
        for case in [&first, &second] {
            let view = district.case_as("supervisor", &case.name).await;
            let letters = events_of(&view, K::SupervisionLetter);
            assert_eq!(letters.len(), 1, "{backend:?}");
            assert_eq!(letters[0].0, street);
            assert!(letters[0].1.contains(&letter.name) && letters[0].1.contains(TEXT));
        }
        let view = district.case_as("supervisor", &first.name).await;
        assert_eq!(
            letter_deadline(view.case.as_ref().unwrap(), &street),
            Some((v1::DeadlineState::Pending, 0))
        );

        // Two hours on, unanswered: the reply deadline escalates to the department head.
        district.app.clock.advance(Duration::from_secs(2 * 3600));
        district.app.engine().await.run_due().await.unwrap();
        district.forget_tokens().await;
        let supervisor = district.token("supervisor").await;
        let mut supervision = district.app.supervision(&supervisor);
        let overdue = supervision
            .list_overdue(v1::ListOverdueRequest {
                stage: v1::DeadlineStage::LetterReply.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .items;
        assert_eq!(overdue.len(), 1, "{overdue:?}");
        assert_eq!(
            (
                overdue[0].case.as_str(),
                overdue[0].department.as_str(),
                overdue[0].escalation_level
            ),
            (first.name.as_str(), street.as_str(), 1)
        );
        let mut escalations = supervision
            .watch_escalations(v1::WatchEscalationsRequest {
                cursor: "0.0".to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let letter_rung = loop {
            let next = tokio::time::timeout(Duration::from_secs(10), escalations.message())
                .await
                .expect("the escalations keep coming")
                .unwrap()
                .unwrap()
                .escalation
                .unwrap();
            if next.stage() == v1::DeadlineStage::LetterReply {
                break next;
            }
        };
        assert_eq!(
            (
                letter_rung.department.as_str(),
                letter_rung.audience.as_str()
            ),
            (street.as_str(), "department_head")
        );

        // Only the letter's department answers it; a retry with the same reply is answered as stored.
        let answer = |reply: &str| v1::AcknowledgeSupervisionLetterRequest {
            request_id: String::new(),
            name: letter.name.clone(),
            reply: reply.to_owned(),
        };
        let err = district
            .app
            .cases(&district.token(&duty_officer(&police)).await)
            .acknowledge_supervision_letter(answer("与我无关"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let err = district
            .app
            .cases(&supervisor)
            .acknowledge_supervision_letter(answer("代答"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        let mut street_cases = district
            .app
            .cases(&district.token(&duty_officer(&street)).await);
        // The street office finds the letter on its list of unanswered letters, and reads it by name.
        let mut street_supervision = district
            .app
            .supervision(&district.token(&duty_officer(&street)).await);
        let unanswered = |department: &str| v1::ListSupervisionLettersRequest {
            department: department.to_owned(),
            unanswered_only: true,
            ..Default::default()
        };
        let listed = street_supervision
            .list_supervision_letters(unanswered(""))
            .await
            .unwrap()
            .into_inner()
            .letters;
        assert_eq!(listed, std::slice::from_ref(&letter));
        let read = street_supervision
            .get_supervision_letter(v1::GetSupervisionLetterRequest {
                name: letter.name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .letter;
        assert_eq!(read.as_ref(), Some(&letter));
        // The police, not the letter's department, see nothing of it.
        let mut police_supervision = district
            .app
            .supervision(&district.token(&duty_officer(&police)).await);
        assert!(
            police_supervision
                .list_supervision_letters(unanswered(&street))
                .await
                .unwrap()
                .into_inner()
                .letters
                .is_empty()
        );
        let err = police_supervision
            .get_supervision_letter(v1::GetSupervisionLetterRequest {
                name: letter.name.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let err = street_cases
            .acknowledge_supervision_letter(answer(""))
            .await
            .unwrap_err();
        assert_eq!(field_of(&err), "reply");
        const REPLY: &str = "已约谈双方，拟于周三前调解完毕";
        let answered = street_cases
            .acknowledge_supervision_letter(answer(REPLY))
            .await
            .expect("the street office answers")
            .into_inner()
            .letter
            .unwrap();
        assert_eq!(answered.reply, REPLY);
        assert!(answered.acknowledge_time.is_some());
        let retried = street_cases
            .acknowledge_supervision_letter(answer(REPLY))
            .await
            .unwrap()
            .into_inner()
            .letter
            .unwrap();
        assert_eq!(retried, answered);
        let err = street_cases
            .acknowledge_supervision_letter(answer("改口"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        // Answered, it leaves the unanswered list and shows its answer on the supervisor's list.
        assert!(
            street_supervision
                .list_supervision_letters(unanswered(""))
                .await
                .unwrap()
                .into_inner()
                .letters
                .is_empty()
        );
        let all = district
            .app
            .supervision(&supervisor)
            .list_supervision_letters(v1::ListSupervisionLettersRequest::default())
            .await
            .unwrap()
            .into_inner()
            .letters;
        assert_eq!(all, std::slice::from_ref(&answered));

        let view = district.case_as("supervisor", &first.name).await;
        assert_eq!(
            letter_deadline(view.case.as_ref().unwrap(), &street),
            Some((v1::DeadlineState::Satisfied, 1))
        );
        for case in [&first, &second] {
            let view = district.case_as("supervisor", &case.name).await;
            assert_eq!(events_of(&view, K::SupervisionLetterAnswered).len(), 1);
        }
        // Answered: nothing more escalates for the letter.
        district
            .app
            .clock
            .advance(Duration::from_secs(3 * 24 * 3600));
        district.app.engine().await.run_due().await.unwrap();
        district.forget_tokens().await;
        let view = district.case_as("supervisor", &first.name).await;
        assert_eq!(
            letter_deadline(view.case.as_ref().unwrap(), &street),
            Some((v1::DeadlineState::Satisfied, 1))
        );
    }
}

#[tokio::test]
async fn a_regraded_case_keeps_what_fired_and_escalates_by_the_new_grades_ladder() {
    for backend in backends() {
        let district = District::start(backend).await;
        let (_, case) = district.whistle_dispute(v1::RiskGrade::C).await;
        let lead = case.assignments[0].department.clone();
        let engine = district.app.engine().await;
        // Grade C: each share's 30-minute report-in (the lead's and the assist's) fires its reminders at 15 and 24 minutes and its first rung at 30.
        district.app.clock.advance(Duration::from_secs(31 * 60));
        district.forget_tokens().await;
        assert_eq!(engine.run_due().await.unwrap().fired, 2 * 3, "{backend:?}");
        let mut supervision = district
            .app
            .supervision(&district.token("supervisor").await);
        let request = v1::RegradeCaseRequest {
            name: case.name.clone(),
            risk_grade: v1::RiskGrade::A.into(),
            reason: "当事人情绪激动，有升级风险".to_owned(),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        };
        let regraded = supervision
            .regrade_case(request.clone())
            .await
            .expect("the supervisor raises the grade")
            .into_inner()
            .case
            .unwrap();
        assert_eq!(regraded.risk_grade(), v1::RiskGrade::A);
        let retried = supervision.regrade_case(request.clone()).await.unwrap();
        assert_eq!(
            retried.into_inner().case.unwrap(),
            regraded,
            "a retry answers the first time"
        );
        let same = supervision
            .regrade_case(v1::RegradeCaseRequest {
                request_id: String::new(),
                ..request
            })
            .await
            .unwrap_err();
        assert_eq!(same.code(), Code::InvalidArgument);
        assert_eq!(field_of(&same), "risk_grade");

        // Grade A's ladder reaches the department head 15 minutes after the due time (grade C's at 30): nothing fired twice.
        district.app.clock.advance(Duration::from_secs(15 * 60));
        district.forget_tokens().await;
        assert_eq!(engine.run_due().await.unwrap().fired, 2, "{backend:?}");
        let seen = district.case_as("supervisor", &case.name).await;
        let report_in = *assignment(seen.case.as_ref().unwrap(), &lead)
            .deadlines
            .iter()
            .find(|d| d.stage() == v1::DeadlineStage::ReportIn)
            .unwrap();
        assert_eq!(report_in.escalation_level, 2);
        assert_eq!(
            report_in.due_time,
            assignment(&case, &lead).deadlines[0].due_time,
            "the due time stays"
        );
        let kinds: Vec<v1::CaseEventKind> = seen.timeline.iter().map(|e| e.kind()).collect();
        let regrade_at = kinds
            .iter()
            .position(|k| *k == v1::CaseEventKind::Regraded)
            .expect("the regrade is on the timeline");
        assert!(
            seen.timeline[regrade_at].text.contains("C → A"),
            "{}",
            seen.timeline[regrade_at].text
        );
        assert_eq!(
            kinds[regrade_at + 1..],
            [v1::CaseEventKind::Escalated, v1::CaseEventKind::Escalated],
            "{backend:?}"
        );
    }
}
