//! Deadlines through the API: a whistle starts each summoned department's stages under the policy version in force, steps satisfy them in the same change, a rejection restarts the lead's finish, and a case keeps its version after a new import.

use std::time::Duration;

use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::{District, duty_officer};

const WORKER: &str = "worker.g-jianwai-1-01";

/// Beijing local time of a timestamp, `YYYY-MM-DD HH:MM`.
fn beijing(t: &prost_types::Timestamp) -> String {
    let local = t.seconds + 8 * 3600;
    let days = local.div_euclid(86_400);
    let minutes = local.rem_euclid(86_400) / 60;
    let date = gridwhistle_dispatcher::calendar::CivilDate::from_days(days);
    format!("{date} {:02}:{:02}", minutes / 60, minutes % 60)
}

/// (stage, due in Beijing time, state) of a department's deadlines.
fn deadlines(
    case: &v1::Case,
    department: &str,
) -> Vec<(v1::DeadlineStage, String, v1::DeadlineState)> {
    case.assignments
        .iter()
        .find(|a| a.department == department)
        .expect("the department is on the case")
        .deadlines
        .iter()
        .map(|d| (d.stage(), beijing(d.due_time.as_ref().unwrap()), d.state()))
        .collect()
}

/// Files a report in the worker's grid and whistles it as a routine case of the category's grade.
async fn whistled(district: &District) -> (v1::Report, v1::Case) {
    district.whistle_dispute(v1::RiskGrade::Unspecified).await
}

#[tokio::test]
async fn deadlines_start_at_the_whistle_are_met_by_the_steps_and_keep_the_case_policy_version() {
    use v1::DeadlineStage::{Contact, Finish, ReportIn};
    use v1::DeadlineState::{Breached, Pending, Satisfied};
    for backend in backends() {
        let district = District::start(backend).await;
        // The test clock stands at Monday 2 March 2026, 09:00 in Beijing.
        let (report, case) = whistled(&district).await;
        let lead = case.assignments[0].department.clone();
        let assist = case.assignments[1].department.clone();
        assert_eq!(
            deadlines(&case, &lead),
            [
                (ReportIn, "2026-03-02 09:30".to_owned(), Pending),
                // Four working hours: 09:00–12:00 and 13:30–14:30.
                (Contact, "2026-03-02 14:30".to_owned(), Pending),
                // The close of the seventh working day after Monday.
                (Finish, "2026-03-11 17:30".to_owned(), Pending),
            ],
            "{backend:?}"
        );
        assert_eq!(
            deadlines(&case, &assist),
            [(ReportIn, "2026-03-02 09:30".to_owned(), Pending)]
        );

        // Forty minutes on, nobody has reported in: both report-in deadlines read as breached.
        district.app.clock.advance(Duration::from_secs(40 * 60));
        let lead_token = district.token(&duty_officer(&lead)).await;
        let mut lead_cases = district.app.cases(&lead_token);
        let view = district
            .case_as(&duty_officer(&lead), &case.name)
            .await
            .case
            .unwrap();
        assert_eq!(deadlines(&view, &assist)[0].2, Breached);

        let reported = lead_cases
            .report_in(v1::ReportInRequest {
                name: case.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .case
            .unwrap();
        let mine = &reported
            .assignments
            .iter()
            .find(|a| a.department == lead)
            .unwrap()
            .deadlines;
        assert_eq!(mine[0].state(), Satisfied);
        assert_eq!(
            mine[0].satisfy_time.as_ref().map(beijing).as_deref(),
            Some("2026-03-02 09:40")
        );

        // A new policy version does not move the running case: version 2 finishes in one working day.
        let admin = district.token("admin").await;
        let mut current = district
            .app
            .admin(&admin)
            .get_time_limit_policies(v1::GetTimeLimitPoliciesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .policies;
        for policy in &mut current {
            for stage in &mut policy.stages {
                if stage.stage() == Finish {
                    stage.limit = Some(v1::TimeLimit {
                        amount: 1,
                        unit: v1::TimeUnit::WorkingDays.into(),
                    });
                }
            }
        }
        let version = district
            .app
            .admin(&admin)
            .import_time_limit_policies(v1::ImportTimeLimitPoliciesRequest { policies: current })
            .await
            .unwrap()
            .into_inner()
            .version;
        assert_eq!(version, 2);

        lead_cases
            .record_contact(v1::RecordContactRequest {
                name: case.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let completed = lead_cases
            .complete_case(v1::CompleteCaseRequest {
                name: case.name.clone(),
                result: "已调解".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .case
            .unwrap();
        assert_eq!(
            deadlines(&completed, &lead),
            [
                (ReportIn, "2026-03-02 09:30".to_owned(), Satisfied),
                (Contact, "2026-03-02 14:30".to_owned(), Satisfied),
                (Finish, "2026-03-11 17:30".to_owned(), Satisfied),
            ]
        );

        // Rejected on Tuesday at 10:00: the lead's finish runs again, seven working days under the case's version 1.
        district
            .app
            .clock
            .set(gridwhistle_domain::Timestamp::from_unix_millis(
                1_772_503_200_000,
            ));
        // A day later every access token has expired.
        district.forget_tokens().await;
        let worker = district.token(WORKER).await;
        district
            .app
            .reports(&worker)
            .verify_resolution(v1::VerifyResolutionRequest {
                name: report.name.clone(),
                accepted: false,
                reason: "仍有争执".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        let reopened = district
            .case_as(&duty_officer(&lead), &case.name)
            .await
            .case
            .unwrap();
        assert_eq!(
            deadlines(&reopened, &lead)[2],
            (Finish, "2026-03-12 17:30".to_owned(), Pending)
        );
        assert_eq!(
            deadlines(&reopened, &assist)[0].2,
            Breached,
            "the assisting department never reported in"
        );

        // A new whistle counts under version 2.
        let (_, second) = whistled(&district).await;
        let second_lead = second.assignments[0].department.clone();
        assert_eq!(
            deadlines(&second, &second_lead)[2],
            (Finish, "2026-03-04 17:30".to_owned(), Pending)
        );
    }
}

/// Moves the test clock to Monday 2 March 2026 at `hh:mm` in Beijing.
fn monday_at(district: &District, hh: i64, mm: i64) {
    let ms = 1_772_380_800_000 + (hh * 60 + mm) * 60_000;
    district
        .app
        .clock
        .set(gridwhistle_domain::Timestamp::from_unix_millis(ms));
}

#[tokio::test]
async fn an_unanswered_whistle_is_reminded_then_escalated_rung_by_rung_and_each_firing_happens_once()
 {
    use v1::CaseEventKind as K;
    for backend in backends() {
        let district = District::start(backend).await;
        let (report, case) = whistled(&district).await;
        let lead = case.assignments[0].department.clone();
        let assist = case.assignments[1].department.clone();
        // Two engines on one database, as two replicas would run.
        let (a, b) = (district.app.engine().await, district.app.engine().await);
        let both = || async {
            let (x, y) = tokio::join!(a.run_due(), b.run_due());
            let (x, y) = (x.unwrap(), y.unwrap());
            assert!(
                x.lateness.iter().chain(&y.lateness).all(|l| l.is_zero()),
                "{x:?} {y:?}"
            );
            x.fired + y.fired
        };

        assert_eq!(
            both().await,
            0,
            "{backend:?}: nothing is due at the whistle"
        );
        // One millisecond before half of the 30 minutes: never early.
        district
            .app
            .clock
            .set(gridwhistle_domain::Timestamp::from_unix_millis(
                1_772_380_800_000 + (9 * 60 + 15) * 60_000 - 1,
            ));
        assert_eq!(both().await, 0);
        monday_at(&district, 9, 15);
        assert_eq!(both().await, 2, "both report-in deadlines at 50%");
        monday_at(&district, 9, 24);
        assert_eq!(both().await, 2, "both at 80%");
        monday_at(&district, 9, 30);
        assert_eq!(both().await, 2, "both breached: the duty officers again");

        district.forget_tokens().await;
        district
            .app
            .cases(&district.token(&duty_officer(&lead)).await)
            .report_in(v1::ReportInRequest {
                name: case.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        monday_at(&district, 10, 0);
        assert_eq!(
            both().await,
            1,
            "only the assist's head: the lead reported in"
        );
        monday_at(&district, 11, 0);
        assert_eq!(
            both().await,
            1,
            "half the lead's four working hours to contact"
        );
        monday_at(&district, 11, 30);
        assert_eq!(
            both().await,
            1,
            "two hours after the assist's due time: supervisors"
        );

        district.forget_tokens().await;
        let view = district.case_as(&duty_officer(&lead), &case.name).await;
        let case_view = view.case.clone().unwrap();
        let assist_report_in = &case_view
            .assignments
            .iter()
            .find(|x| x.department == assist)
            .unwrap()
            .deadlines[0];
        assert_eq!(assist_report_in.escalation_level, 3);
        let fired: Vec<(K, String)> = view
            .timeline
            .iter()
            .filter(|e| matches!(e.kind(), K::Reminder | K::Escalated))
            .map(|e| (e.kind(), e.department.clone()))
            .collect();
        assert_eq!(
            fired.iter().filter(|(k, _)| *k == K::Reminder).count(),
            5,
            "{fired:?}"
        );
        assert_eq!(
            fired
                .iter()
                .filter(|(k, d)| *k == K::Escalated && *d == assist)
                .count(),
            3
        );
        assert!(
            view.timeline
                .iter()
                .any(|e| e.text.contains("escalated to supervisors")),
            "{:?}",
            view.timeline
        );

        let id = gridwhistle_domain::ReportId::parse(report.name.strip_prefix("reports/").unwrap())
            .unwrap();
        let outbox = district
            .app
            .database
            .store()
            .await
            .outbox()
            .of_report(&id)
            .await
            .unwrap();
        let firings: Vec<_> = outbox
            .iter()
            .filter(|(_, kind, ..)| kind == "reminder" || kind == "escalation")
            .collect();
        assert_eq!(firings.len(), 9, "one notification per firing: {outbox:?}");
        assert!(
            outbox
                .iter()
                .filter(|(_, kind, ..)| kind == "case_assigned")
                .all(|(audience, ..)| audience == "duty_officers"),
            "the whistle told the summoned departments' duty officers: {outbox:?}"
        );
        let supervisors: Vec<_> = outbox
            .iter()
            .filter(|(audience, ..)| audience == "supervisors")
            .collect();
        assert_eq!(supervisors.len(), 1);
        assert_eq!(
            supervisors[0].2.as_deref(),
            assist.strip_prefix("departments/"),
            "the escalation names the department it is about, though supervisors are district-wide"
        );

        // Supervisors see it: the overdue list, and the escalations replayed from the start of the log.
        let mut supervision = district
            .app
            .supervision(&district.token("supervisor").await);
        let overdue = supervision
            .list_overdue(v1::ListOverdueRequest::default())
            .await
            .unwrap()
            .into_inner()
            .items;
        assert_eq!(overdue.len(), 1, "{overdue:?}");
        assert_eq!(overdue[0].case, case.name);
        assert_eq!(overdue[0].department, assist);
        assert_eq!(overdue[0].stage(), v1::DeadlineStage::ReportIn);
        assert_eq!(overdue[0].escalation_level, 3);
        assert_eq!(overdue[0].risk_grade(), v1::RiskGrade::C);
        let none = supervision
            .list_overdue(v1::ListOverdueRequest {
                stage: v1::DeadlineStage::Contact.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .items;
        assert!(none.is_empty());
        let mut escalations = supervision
            .watch_escalations(v1::WatchEscalationsRequest {
                cursor: "0.0".to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut seen = Vec::new();
        while seen.len() < 4 {
            let next = tokio::time::timeout(Duration::from_secs(10), escalations.message())
                .await
                .expect("the escalations keep coming")
                .unwrap()
                .unwrap()
                .escalation
                .unwrap();
            seen.push((next.department, next.escalation_level, next.audience));
        }
        // The two 09:30 firings may commit in either order.
        seen.sort();
        let mut expected = vec![
            (lead.clone(), 1, "duty_officers".to_owned()),
            (assist.clone(), 1, "duty_officers".to_owned()),
            (assist.clone(), 2, "department_head".to_owned()),
            (assist.clone(), 3, "supervisors".to_owned()),
        ];
        expected.sort();
        assert_eq!(seen, expected);
        let denied = district
            .app
            .supervision(&district.token(&duty_officer(&lead)).await)
            .list_overdue(v1::ListOverdueRequest::default())
            .await
            .unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);

        // The afternoon: the lead's contact deadline runs its course, the assist's last rung repeats.
        monday_at(&district, 13, 42);
        assert_eq!(both().await, 1, "80% of the lead's contact time");
        monday_at(&district, 14, 30);
        assert_eq!(
            both().await,
            1,
            "the lead's contact is due: its duty officers"
        );
        monday_at(&district, 15, 30);
        assert_eq!(
            both().await,
            2,
            "the lead's head, and the assist's supervisors again (first repeat)"
        );
        // Completing the case ends the lead's contact and finish: its 18:30 rung never fires.
        district.forget_tokens().await;
        district
            .app
            .cases(&district.token(&duty_officer(&lead)).await)
            .complete_case(v1::CompleteCaseRequest {
                name: case.name.clone(),
                result: "已调解".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        monday_at(&district, 18, 30);
        assert_eq!(both().await, 0, "cancelled by completion");
        monday_at(&district, 19, 30);
        assert_eq!(both().await, 1, "second repeat");
        monday_at(&district, 23, 30);
        assert_eq!(both().await, 1, "third and last repeat");
        monday_at(&district, 23, 59);
        assert_eq!(both().await, 0, "the ladder is exhausted");
        district.forget_tokens().await;
        let view = district
            .case_as(&duty_officer(&lead), &case.name)
            .await
            .case
            .unwrap();
        assert_eq!(
            deadlines(&view, &assist)[0].2,
            v1::DeadlineState::Breached,
            "still pending, and past due"
        );
        let levels: Vec<i32> = view
            .assignments
            .iter()
            .find(|a| a.department == assist)
            .unwrap()
            .deadlines
            .iter()
            .map(|d| d.escalation_level)
            .collect();
        assert_eq!(levels, [6], "three rungs and three repeats");
        let lead_states: Vec<v1::DeadlineState> = deadlines(&view, &lead)
            .into_iter()
            .map(|(_, _, state)| state)
            .collect();
        assert_eq!(
            lead_states,
            [
                v1::DeadlineState::Satisfied,
                v1::DeadlineState::Cancelled,
                v1::DeadlineState::Satisfied
            ]
        );
    }
}

#[tokio::test]
async fn an_approved_extension_moves_the_due_time_and_a_refusal_or_a_second_decision_does_not() {
    use v1::DeadlineStage::Finish;
    use v1::DeadlineState::Pending;
    for backend in backends() {
        let district = District::start(backend).await;
        let (_, case) = whistled(&district).await;
        let lead = case.assignments[0].department.clone();
        let mut lead_cases = district
            .app
            .cases(&district.token(&duty_officer(&lead)).await);
        let ask = |seconds: i64| v1::RequestExtensionRequest {
            request_id: String::new(),
            name: case.name.clone(),
            stage: Finish.into(),
            requested_due_time: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            reason: "需协调物业".to_owned(),
        };
        // Friday 20 March 2026, 17:30 in Beijing.
        let requested = lead_cases
            .request_extension(ask(1_773_999_000))
            .await
            .unwrap()
            .into_inner()
            .extension
            .unwrap();

        // The request is on the supervisors' list of pending extensions, and on its department's own list only.
        let pending = |token: String| {
            let mut supervision = district.app.supervision(&token);
            async move {
                supervision
                    .list_extensions(v1::ListExtensionsRequest {
                        state: v1::ExtensionState::Pending.into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .extensions
                    .into_iter()
                    .map(|x| x.name)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            pending(district.token("supervisor").await).await,
            std::slice::from_ref(&requested.name)
        );
        assert_eq!(
            pending(district.token(&duty_officer(&lead)).await).await,
            std::slice::from_ref(&requested.name)
        );
        assert!(
            pending(district.token("duty.street-maizidian").await)
                .await
                .is_empty()
        );

        let denied = district
            .app
            .supervision(&district.token(&duty_officer(&lead)).await)
            .decide_extension(v1::DecideExtensionRequest {
                name: requested.name.clone(),
                approved: true,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{backend:?}");

        let mut supervision = district
            .app
            .supervision(&district.token("supervisor").await);
        let approved = supervision
            .decide_extension(v1::DecideExtensionRequest {
                name: requested.name.clone(),
                approved: true,
                reason: "同意，请按期办结".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .extension
            .unwrap();
        assert_eq!(approved.state(), v1::ExtensionState::Approved);
        let again = supervision
            .decide_extension(v1::DecideExtensionRequest {
                name: requested.name.clone(),
                approved: false,
                reason: "改变主意".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(again.code(), tonic::Code::FailedPrecondition);
        assert!(pending(district.token("supervisor").await).await.is_empty());
        let decided = supervision
            .list_extensions(v1::ListExtensionsRequest {
                department: lead.clone(),
                state: v1::ExtensionState::Approved.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .extensions;
        assert_eq!(decided, std::slice::from_ref(&approved));

        // The request reached the supervisors' inbox, and the decision the department's, once each.
        let subject = case.name.clone();
        let kinds_in = |token: String| {
            let mut devices = district.app.devices(&token);
            let subject = subject.clone();
            async move {
                devices
                    .list_notifications(v1::ListNotificationsRequest::default())
                    .await
                    .unwrap()
                    .into_inner()
                    .notifications
                    .into_iter()
                    .filter(|n| n.subject == subject)
                    .map(|n| n.kind())
                    .collect::<Vec<_>>()
            }
        };
        let supervisors = kinds_in(district.token("supervisor").await).await;
        assert_eq!(
            supervisors
                .iter()
                .filter(|k| **k == v1::NotificationKind::ExtensionRequested)
                .count(),
            1,
            "{supervisors:?}"
        );
        let officers = kinds_in(district.token(&duty_officer(&lead)).await).await;
        assert_eq!(
            officers
                .iter()
                .filter(|k| **k == v1::NotificationKind::ExtensionDecided)
                .count(),
            1,
            "{officers:?}"
        );

        let view = district.case_as(&duty_officer(&lead), &case.name).await;
        assert_eq!(
            deadlines(&view.case.unwrap(), &lead)[2],
            (Finish, "2026-03-20 17:30".to_owned(), Pending)
        );
        assert!(view.timeline.iter().any(|e| {
            e.kind() == v1::CaseEventKind::ExtensionDecided
                && e.text
                    .contains("approved: due 2026-03-20 17:30 (同意，请按期办结)")
        }));

        // A refusal needs a reason and leaves the due time where it is.
        let second = lead_cases
            .request_extension(ask(1_774_603_800))
            .await
            .unwrap()
            .into_inner()
            .extension
            .unwrap();
        let no_reason = supervision
            .decide_extension(v1::DecideExtensionRequest {
                name: second.name.clone(),
                approved: false,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(no_reason.code(), tonic::Code::InvalidArgument);
        supervision
            .decide_extension(v1::DecideExtensionRequest {
                name: second.name.clone(),
                approved: false,
                reason: "期限足够".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        let view = district.case_as(&duty_officer(&lead), &case.name).await;
        assert_eq!(
            deadlines(&view.case.unwrap(), &lead)[2].1,
            "2026-03-20 17:30"
        );
    }
}

#[tokio::test]
async fn on_postgresql_claimed_rows_are_skipped_until_the_claim_runs_out() {
    let Some(backend) = backends()
        .into_iter()
        .find(|b| *b == gridwhistle_tests::Backend::Postgres)
    else {
        return;
    };
    let district = District::start(backend).await;
    whistled(&district).await;
    monday_at(&district, 9, 15);
    let now = gridwhistle_dispatcher::Clock::now(district.app.clock.as_ref());
    // A replica claims both due reminders and dies before firing them.
    let store = district.app.database.store().await;
    let window = Duration::from_secs(60);
    let claimed = store
        .deadlines()
        .claim_due(
            gridwhistle_server::storage::Lease {
                owner: "replica-that-died",
                until: now
                    .saturating_add(window + gridwhistle_server::deadline_engine::CLAIM_LEASE),
            },
            now,
            now.saturating_add(window),
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let engine = district.app.engine().await;
    assert_eq!(
        engine.run_due().await.unwrap().fired,
        0,
        "claimed elsewhere"
    );
    // Once the claim has run out, the living engine takes the rows over, late but once.
    district.app.clock.set(now.saturating_add(
        window + gridwhistle_server::deadline_engine::CLAIM_LEASE + Duration::from_millis(1),
    ));
    let pass = engine.run_due().await.unwrap();
    assert_eq!(pass.fired, 2);
    assert!(pass.lateness.iter().all(|l| *l > Duration::from_secs(90)));
    assert_eq!(engine.run_due().await.unwrap().fired, 0);
}

/// The department's nearest due time in a case as the console shows it: its pending deadlines' earliest.
fn nearest_due(case: &v1::Case, department: &str) -> i64 {
    case.assignments
        .iter()
        .filter(|a| a.department == department)
        .flat_map(|a| &a.deadlines)
        .filter(|d| {
            matches!(
                d.state(),
                v1::DeadlineState::Pending | v1::DeadlineState::Breached
            )
        })
        .map(|d| d.due_time.as_ref().map_or(i64::MAX, |t| t.seconds))
        .min()
        .unwrap_or(i64::MAX)
}

#[tokio::test]
async fn the_inbox_lists_by_the_departments_nearest_due_time_page_by_page() {
    for backend in backends() {
        let district = District::start(backend).await;
        // A routine case first, then a grade-A one with tighter limits: case order and due order differ.
        let (_, routine) = district.whistle_dispute(v1::RiskGrade::C).await;
        let (_, urgent) = district.whistle_dispute(v1::RiskGrade::A).await;
        let lead = routine.assignments[0].department.clone();
        assert_eq!(lead, urgent.assignments[0].department);
        let mut cases = district
            .app
            .cases(&district.token(&duty_officer(&lead)).await);
        let by_due = |page_token: String, page_size: i32| v1::ListInboxRequest {
            order_by: "due_time".to_owned(),
            page_size,
            page_token,
            ..Default::default()
        };
        let whole = cases
            .list_inbox(by_due(String::new(), 0))
            .await
            .unwrap()
            .into_inner()
            .cases;
        let dues: Vec<i64> = whole.iter().map(|c| nearest_due(c, &lead)).collect();
        assert_eq!(whole.len(), 2, "{backend:?}");
        assert!(dues.windows(2).all(|w| w[0] <= w[1]), "{dues:?}");
        assert_eq!(whole[0].name, urgent.name, "the grade-A case is due first");

        // Page by page gives the same order.
        let mut paged = Vec::new();
        let mut token = String::new();
        loop {
            let page = cases
                .list_inbox(by_due(token, 1))
                .await
                .unwrap()
                .into_inner();
            paged.extend(page.cases.into_iter().map(|c| c.name));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(
            paged,
            whole.iter().map(|c| c.name.clone()).collect::<Vec<_>>()
        );

        let err = cases
            .list_inbox(v1::ListInboxRequest {
                order_by: "priority".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("order_by"), "{}", err.message());
    }
}
