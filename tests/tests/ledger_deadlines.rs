//! A ledger entry's plan steps as deadlines of the durable engine, through the API on both databases: a case that missed its finish deadline is taken into the ledger as grade A with three steps over two departments; a missed step climbs the red ladder up to the named district leader's inbox and phone; lowering the grade to B switches the remaining step to the yellow ladder (no leader's rung); closing off waits for the last step; and the entry's timeline shows every step, reminder and escalation in order.
//!
//! The engine runs on the test clock (`TestApp::engine`), and each move of the clock stops clear of the firings it passes.

use std::time::Duration;

use gridwhistle_dispatcher::Clock as _;
use gridwhistle_dispatcher::push::SenderConfig;
use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::{District, duty_officer};
use tokio_stream::StreamExt as _;
use tonic::Code;

const LEADER: &str = "leader.politics";
const OTHER: &str = "justice-01";
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

fn at(t: gridwhistle_domain::Timestamp) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.as_unix_millis() / 1000,
        nanos: 0,
    })
}

/// The case the ledger takes in: whistled as grade B, reported in by its lead, and left past its finish due time.
async fn overdue_case(district: &District) -> (v1::Case, String) {
    let (_, case) = district.whistle_dispute(v1::RiskGrade::B).await;
    let lead = case.assignments[0].department.clone();
    district
        .app
        .cases(&district.token(&duty_officer(&lead)).await)
        .report_in(v1::ReportInRequest {
            name: case.name.clone(),
            ..Default::default()
        })
        .await
        .expect("the lead reports in");
    // Three working days to finish for grade B: eight days on, it is long overdue.
    district.app.clock.advance(Duration::from_secs(8 * DAY));
    district.app.engine().await.run_due().await.unwrap();
    district.forget_tokens().await;
    let view = district
        .case_as("supervisor", &case.name)
        .await
        .case
        .unwrap();
    let finish = view.assignments[0]
        .deadlines
        .iter()
        .find(|d| d.stage() == v1::DeadlineStage::Finish)
        .expect("the lead's finish deadline");
    assert_eq!(finish.state(), v1::DeadlineState::Breached);
    let unit = lead.trim_start_matches("departments/").to_owned();
    (view, unit)
}

/// Opens the entry as the supervisor: grade A, owned by the leader, steps due 2, 4 and 10 days on (the unit's, the other department's, the unit's).
async fn open_red_entry(district: &District, case: &str, unit: &str) -> v1::LedgerEntry {
    let now = district.app.clock.now();
    let step = |department: &str, what: &str, days: u64| v1::LedgerStepPlan {
        department: format!("departments/{department}"),
        description: what.to_owned(),
        due_time: at(now.saturating_add(Duration::from_secs(days * DAY))),
        working_days: 0,
    };
    district
        .app
        .ledger(&district.token("supervisor").await)
        .open_ledger_entry(v1::OpenLedgerEntryRequest {
            entry_id: uuid::Uuid::new_v4().to_string(),
            case: case.to_owned(),
            title: "逾期未办结的邻里纠纷".to_owned(),
            summary: "超期未办结，当事人多次来访".to_owned(),
            nature: v1::LedgerNature::FamilyAndNeighbours.into(),
            since_time: at(now),
            complexity: v1::LedgerLevel::High.into(),
            social_impact: v1::LedgerLevel::High.into(),
            grade: v1::RiskGrade::A.into(),
            responsible_unit: format!("departments/{unit}"),
            responsible_person: "所长".to_owned(),
            leader: district.user_name(LEADER).await,
            parties: vec![v1::Party {
                name: "张三".to_owned(),
                phone: "13800138000".to_owned(),
                relation: "信访人".to_owned(),
                ..Default::default()
            }],
            steps: vec![
                step(unit, "约谈双方", 2),
                step(OTHER, "法律援助与调解", 4),
                step(unit, "回访并签订协议", 10),
            ],
        })
        .await
        .expect("the supervisor opens the entry")
        .into_inner()
        .entry
        .unwrap()
}

/// Moves the clock to `hours` after the entry was opened (at `opened`), and runs the engine.
async fn run_until(district: &District, opened: gridwhistle_domain::Timestamp, hours: u64) {
    let target = opened.saturating_add(Duration::from_secs(hours * HOUR));
    district.app.clock.set(target);
    district.app.engine().await.run_due().await.unwrap();
    district.forget_tokens().await;
}

async fn complete(district: &District, user: &str, name: &str, step: i32) -> v1::LedgerEntry {
    district
        .app
        .ledger(&district.token(user).await)
        .complete_ledger_step(v1::CompleteLedgerStepRequest {
            name: name.to_owned(),
            step,
            result: "已办".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{user} completes step {step}: {s:?}"))
        .into_inner()
        .entry
        .unwrap()
}

/// The entry's timeline as (kind, text) pairs, read by the supervisor.
async fn timeline(district: &District, name: &str) -> Vec<(v1::LedgerEventKind, String)> {
    district
        .app
        .ledger(&district.token("supervisor").await)
        .get_ledger_entry(v1::GetLedgerEntryRequest {
            name: name.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap()
        .timeline
        .iter()
        .map(|e| (e.kind(), e.text.clone()))
        .collect()
}

/// The notifications in `user`'s inbox about `subject`, as (kind, subject).
async fn inbox(district: &District, user: &str, subject: &str) -> Vec<v1::NotificationKind> {
    district
        .app
        .devices(&district.token(user).await)
        .list_notifications(v1::ListNotificationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .notifications
        .iter()
        .filter(|n| n.subject == subject)
        .map(|n| n.kind())
        .collect()
}

#[tokio::test]
async fn a_missed_step_reaches_the_named_leader_and_a_lower_grade_switches_the_remaining_ladder() {
    use v1::LedgerEventKind as K;
    for backend in backends() {
        let district = District::start(backend).await;
        let (case, unit) = overdue_case(&district).await;
        let duty_unit = duty_officer(&format!("departments/{unit}"));
        let duty_other = duty_officer(&format!("departments/{OTHER}"));
        let entry = open_red_entry(&district, &case.name, &unit).await;
        let name = entry.name.clone();
        let opened = district.app.clock.now();
        district
            .app
            .devices(&district.token(LEADER).await)
            .register_device(v1::RegisterDeviceRequest {
                device_id: uuid::Uuid::new_v4().to_string(),
                push_token: "tok-leader".to_owned(),
                platform: v1::Platform::Ios.into(),
                channel: v1::PushChannel::Fcm.into(),
                app_version: "2.3.0".to_owned(),
                locale: "zh-CN".to_owned(),
            })
            .await
            .expect("the leader's phone registers");

        // Step 1: reminded at half its time, done before it is due.
        run_until(&district, opened, 36).await;
        complete(&district, &duty_unit, &name, 1).await;

        // Step 2 is missed: reminded twice, then the red ladder climbs to the department head, the supervisors and, four hours on, the leader who owns the entry, whose open stream hears of it.
        let mut stream = district
            .app
            .devices(&district.token(LEADER).await)
            .watch_notifications(v1::WatchNotificationsRequest::default())
            .await
            .expect("the leader watches their inbox")
            .into_inner();
        run_until(&district, opened, 4 * 24 + 5).await;
        let streamed = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("the escalation is streamed")
            .expect("the stream stays open")
            .expect("a notification");
        let notification = streamed.notification.unwrap();
        assert_eq!(
            (notification.kind(), notification.subject.as_str()),
            (v1::NotificationKind::Escalation, name.as_str())
        );
        assert_eq!(
            inbox(&district, LEADER, &name).await,
            [v1::NotificationKind::Escalation],
            "{backend:?}"
        );
        assert_eq!(
            inbox(&district, "leader.deputy", &name).await,
            [],
            "another leader hears nothing of it"
        );
        assert_eq!(
            inbox(&district, "supervisor", &name).await,
            [v1::NotificationKind::Escalation],
            "the supervisors hear of their own rung"
        );
        let sender = district.app.push_sender(SenderConfig::default()).await;
        sender.run_due().await.unwrap();
        let pushed: Vec<_> = district
            .app
            .fcm
            .accepted()
            .into_iter()
            .filter(|a| a.token == "tok-leader")
            .collect();
        assert_eq!(pushed.len(), 1, "one push to the leader's phone");
        let data = &pushed[0].body["message"]["data"];
        assert_eq!(data["subject"], name.as_str());
        assert_eq!(data["kind"], "escalation");
        let text = pushed[0].body.to_string();
        assert!(
            !text.contains("张三") && !text.contains("13800138000"),
            "nothing personal in the push: {text}"
        );
        complete(&district, &duty_other, &name, 2).await;

        // The leader lowers the grade: step 3 runs on the yellow ladder from now on (supervisors eight hours after its due time, no leader's rung).
        let lowered = district
            .app
            .ledger(&district.token(LEADER).await)
            .regrade_ledger_entry(v1::RegradeLedgerEntryRequest {
                name: name.clone(),
                grade: v1::RiskGrade::B.into(),
                reason: "当事人情绪平稳，降为黄色".to_owned(),
                ..Default::default()
            })
            .await
            .expect("the leader lowers the grade")
            .into_inner()
            .entry
            .unwrap();
        assert_eq!(lowered.colour(), v1::LedgerColour::Yellow);
        // Five hours past step 3's due time: on the red ladder the supervisors and the leader would have heard; on the yellow one only the department head has.
        run_until(&district, opened, 10 * 24 + 5).await;
        let fired: Vec<String> = timeline(&district, &name)
            .await
            .into_iter()
            .filter(|(kind, text)| *kind == K::Escalated && text.starts_with("step 3"))
            .map(|(_, text)| text)
            .collect();
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert!(fired[0].contains("department_head"), "{fired:?}");
        run_until(&district, opened, 10 * 24 + 9).await;
        assert_eq!(
            inbox(&district, LEADER, &name).await.len(),
            1,
            "the yellow ladder has no leader's rung"
        );

        // Closing off waits for the open step.
        let close = || {
            let name = name.clone();
            let user = duty_unit.clone();
            let district = &district;
            async move {
                district
                    .app
                    .ledger(&district.token(&user).await)
                    .request_ledger_close_off(v1::RequestLedgerCloseOffRequest {
                        name,
                        result: "协议已履行".to_owned(),
                        parties_stance: "双方满意，息诉罢访".to_owned(),
                        ..Default::default()
                    })
                    .await
            }
        };
        assert_eq!(close().await.unwrap_err().code(), Code::FailedPrecondition);
        complete(&district, &duty_unit, &name, 3).await;
        close().await.expect("the unit asks to close off");
        district
            .app
            .ledger(&district.token("supervisor").await)
            .decide_ledger_close_off(v1::DecideLedgerCloseOffRequest {
                name: name.clone(),
                approve: true,
                reason: "事心双解".to_owned(),
                ..Default::default()
            })
            .await
            .expect("the supervisor approves");

        let events = timeline(&district, &name).await;
        let steps: Vec<(K, &str)> = events
            .iter()
            .map(|(kind, text)| (*kind, text.get(..6).unwrap_or(text)))
            .collect();
        assert_eq!(
            steps,
            [
                (K::Opened, "opened"),
                (K::Reminder, "step 1"),
                (K::StepCompleted, "step 1"),
                (K::Reminder, "step 2"),
                (K::Reminder, "step 2"),
                (K::Escalated, "step 2"),
                (K::Escalated, "step 2"),
                (K::Escalated, "step 2"),
                (K::StepCompleted, "step 2"),
                (K::Regraded, "grade "),
                (K::Reminder, "step 3"),
                (K::Reminder, "step 3"),
                (K::Escalated, "step 3"),
                (K::Escalated, "step 3"),
                (K::StepCompleted, "step 3"),
                (K::CloseRequested, "closin"),
                (K::CloseApproved, "closed"),
            ],
            "{backend:?}: {events:#?}"
        );
        let audiences: Vec<&str> = events
            .iter()
            .filter(|(kind, _)| *kind == K::Escalated)
            .map(|(_, text)| text.rsplit("escalated to ").next().unwrap_or_default())
            .collect();
        assert!(audiences[0].starts_with("department_head"), "{audiences:?}");
        assert!(audiences[1].starts_with("supervisors"), "{audiences:?}");
        assert!(
            audiences[2].starts_with(&format!(
                "district_leader {}",
                district.user_name(LEADER).await
            )),
            "{audiences:?}"
        );
        assert!(audiences[3].starts_with("department_head"), "{audiences:?}");
        assert!(audiences[4].starts_with("supervisors"), "{audiences:?}");
    }
}

#[tokio::test]
async fn the_leader_rung_of_a_case_in_the_ledger_reaches_its_entry_s_leader() {
    for backend in backends() {
        let district = District::start(backend).await;
        // Grade A cases: their report-in ladder climbs to the district leader two hours after the due time.
        let (_, owned) = district.whistle_dispute(v1::RiskGrade::A).await;
        let (_, other) = district.whistle_dispute(v1::RiskGrade::A).await;
        district
            .app
            .ledger(&district.token("supervisor").await)
            .open_ledger_entry(v1::OpenLedgerEntryRequest {
                entry_id: uuid::Uuid::new_v4().to_string(),
                case: owned.name.clone(),
                title: "重点关注".to_owned(),
                summary: "当事人多次来访".to_owned(),
                nature: v1::LedgerNature::FamilyAndNeighbours.into(),
                since_time: at(district.app.clock.now()),
                complexity: v1::LedgerLevel::Medium.into(),
                social_impact: v1::LedgerLevel::Medium.into(),
                grade: v1::RiskGrade::A.into(),
                responsible_unit: owned.assignments[0].department.clone(),
                responsible_person: "所长".to_owned(),
                leader: district.user_name(LEADER).await,
                ..Default::default()
            })
            .await
            .expect("the case goes into the ledger");
        // Fifteen minutes to report in, then two hours to the leader's rung: nobody reports in.
        district
            .app
            .clock
            .advance(Duration::from_secs(15 * 60 + 2 * HOUR + 300));
        district.app.engine().await.run_due().await.unwrap();
        district.forget_tokens().await;
        let shares = owned.assignments.len();
        assert_eq!(
            inbox(&district, LEADER, &owned.name).await,
            vec![v1::NotificationKind::Escalation; shares],
            "{backend:?}: each department's leader rung reaches the entry's leader"
        );
        assert!(inbox(&district, LEADER, &other.name).await.is_empty());
        assert!(
            inbox(&district, "leader.deputy", &owned.name)
                .await
                .is_empty()
        );
        // The supervisors hear of both cases alike, but for the leader's rungs: those of the case no leader owns land with them.
        let supervisors_owned = inbox(&district, "supervisor", &owned.name).await.len();
        let supervisors_other = inbox(&district, "supervisor", &other.name).await.len();
        assert_eq!(supervisors_other, supervisors_owned + shares, "{backend:?}");
    }
}
