//! The ledger of long-standing cases (积案台账) through the API on both databases: a whistled case taken into the ledger as grade A with a plan across two departments and a named leader, read by each party as they may see it, its plan revised and worked, its grade lowered, closing off refused while a step is open, then asked for, approved and reopened, with every step on the timeline in order.

use std::time::Duration;

use gridwhistle_dispatcher::Clock as _;
use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::District;
use gridwhistle_tests::field_violations;
use tonic::Code;

const WORKER: &str = "worker.g-jianwai-1-01";
const LEADER: &str = "leader.politics";

fn at(district: &District, after: Duration) -> Option<prost_types::Timestamp> {
    let t = district.app.clock.now().saturating_add(after);
    Some(prost_types::Timestamp {
        seconds: t.as_unix_millis() / 1000,
        nanos: 0,
    })
}

fn step(district: &District, department: &str, what: &str, days: u64) -> v1::LedgerStepPlan {
    v1::LedgerStepPlan {
        department: format!("departments/{department}"),
        description: what.to_owned(),
        due_time: at(district, Duration::from_secs(days * 86_400)),
        working_days: 0,
    }
}

fn petitioner() -> v1::Party {
    v1::Party {
        name: "张三".to_owned(),
        phone: "13800138000".to_owned(),
        relation: "信访人".to_owned(),
        ..Default::default()
    }
}

/// Opens the ledger entry of `case` as the supervisor: grade A, led by `unit`, three steps over `unit` and `other`.
async fn open_entry(district: &District, case: &str, unit: &str, other: &str) -> v1::LedgerEntry {
    let leader = district.user_name(LEADER).await;
    district
        .app
        .ledger(&district.token("supervisor").await)
        .open_ledger_entry(v1::OpenLedgerEntryRequest {
            entry_id: uuid::Uuid::new_v4().to_string(),
            case: case.to_owned(),
            title: "楼道纠纷反复信访".to_owned(),
            summary: "邻里纠纷三年未解，多次到区信访".to_owned(),
            nature: v1::LedgerNature::FamilyAndNeighbours.into(),
            since_time: at(district, Duration::ZERO),
            complexity: v1::LedgerLevel::High.into(),
            social_impact: v1::LedgerLevel::Medium.into(),
            grade: v1::RiskGrade::A.into(),
            responsible_unit: format!("departments/{unit}"),
            responsible_person: "街道副主任".to_owned(),
            leader,
            parties: vec![petitioner()],
            steps: vec![
                step(district, unit, "约谈双方，摸清诉求", 3),
                step(district, other, "法律咨询与调解", 7),
                step(district, unit, "回访并形成结论", 14),
            ],
        })
        .await
        .expect("the supervisor opens the entry")
        .into_inner()
        .entry
        .expect("an entry")
}

#[tokio::test]
async fn an_entry_is_planned_worked_regraded_and_closed_off_with_its_timeline() {
    for backend in backends() {
        let district = District::start(backend).await;
        let (report, case) = district.whistle_dispute(v1::RiskGrade::B).await;
        let unit = case.assignments[0]
            .department
            .trim_start_matches("departments/")
            .to_owned();
        let other = "justice-01";
        let entry = open_entry(&district, &case.name, &unit, other).await;
        assert_eq!(entry.colour(), v1::LedgerColour::Red, "{backend:?}");
        assert_eq!(entry.case, case.name);
        assert_eq!(entry.steps.len(), 3);
        assert_eq!(entry.next_due_time, entry.steps[0].due_time);
        assert!(entry.parties[0].masked, "a supervisor sees parties masked");
        let name = entry.name.clone();

        // Each party reads it as they may.
        let get = |user: &'static str| {
            let name = name.clone();
            let district = &district;
            async move {
                district
                    .app
                    .ledger(&district.token(user).await)
                    .get_ledger_entry(v1::GetLedgerEntryRequest { name })
                    .await
            }
        };
        let seen = get(LEADER).await.unwrap().into_inner().entry.unwrap();
        assert!(
            !seen.parties[0].masked,
            "the leader who owns it sees parties"
        );
        let duty_other = format!("duty.{other}");
        let duty_unit = format!("duty.{unit}");
        for user in [duty_unit.as_str(), duty_other.as_str()] {
            let token = district.token(user).await;
            let seen = district
                .app
                .ledger(&token)
                .get_ledger_entry(v1::GetLedgerEntryRequest { name: name.clone() })
                .await
                .unwrap_or_else(|s| panic!("{user} reads the entry: {s:?}"))
                .into_inner()
                .entry
                .unwrap();
            assert!(!seen.parties[0].masked, "{user} meets the parties");
        }
        assert!(
            get(WORKER)
                .await
                .unwrap()
                .into_inner()
                .entry
                .unwrap()
                .parties[0]
                .masked
        );
        let stranger = district
            .app
            .ledger(&district.token("duty.urban-05").await)
            .get_ledger_entry(v1::GetLedgerEntryRequest { name: name.clone() })
            .await
            .unwrap_err();
        assert_eq!(stranger.code(), Code::NotFound);
        let deputy = district
            .app
            .ledger(&district.token("leader.deputy").await)
            .get_ledger_entry(v1::GetLedgerEntryRequest { name: name.clone() })
            .await
            .unwrap_err();
        assert_eq!(deputy.code(), Code::NotFound, "another leader's entry");

        // A case is in the ledger once.
        let again = district
            .app
            .ledger(&district.token("supervisor").await)
            .open_ledger_entry(v1::OpenLedgerEntryRequest {
                entry_id: uuid::Uuid::new_v4().to_string(),
                ..request_like(&entry)
            })
            .await
            .unwrap_err();
        assert_eq!(again.code(), Code::InvalidArgument);
        assert_eq!(field_violations(&again), ["case"]);

        let lists = district.app.ledger(&district.token("supervisor").await);
        check_lists(lists, &name, &unit).await;

        // The unit works step 1; the other department may read but not work it.
        let refused = district
            .app
            .ledger(&district.token(&duty_other).await)
            .complete_ledger_step(v1::CompleteLedgerStepRequest {
                name: name.clone(),
                step: 1,
                result: "越权".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        district.app.clock.advance(Duration::from_secs(86_400));
        district.forget_tokens().await;
        let done = district
            .app
            .ledger(&district.token(&duty_unit).await)
            .complete_ledger_step(v1::CompleteLedgerStepRequest {
                name: name.clone(),
                etag: entry.etag.clone(),
                step: 1,
                result: "已约谈双方".to_owned(),
                attachments: Vec::new(),
            })
            .await
            .expect("the unit completes step 1")
            .into_inner()
            .entry
            .unwrap();
        assert_eq!(done.steps[0].state(), v1::LedgerStepState::Done);
        assert_eq!(done.next_due_time, done.steps[1].due_time);
        let stale = district
            .app
            .ledger(&district.token(LEADER).await)
            .regrade_ledger_entry(v1::RegradeLedgerEntryRequest {
                name: name.clone(),
                etag: entry.etag.clone(),
                grade: v1::RiskGrade::B.into(),
                reason: "矛盾缓和".to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(stale.code(), Code::Aborted, "a stale etag");

        // The leader lowers the grade and revises the rest of the plan.
        let leader = district.app.ledger(&district.token(LEADER).await);
        regrade_and_revise(leader, &district, &name, &unit, other).await;

        // Closing off is refused while a step is open.
        let close = |user: String, result: &'static str| {
            let name = name.clone();
            let district = &district;
            async move {
                district
                    .app
                    .ledger(&district.token(&user).await)
                    .request_ledger_close_off(v1::RequestLedgerCloseOffRequest {
                        name,
                        result: result.to_owned(),
                        parties_stance: "双方满意，息诉罢访".to_owned(),
                        ..Default::default()
                    })
                    .await
            }
        };
        let early = close(duty_unit.clone(), "尚未办完").await.unwrap_err();
        assert_eq!(early.code(), Code::FailedPrecondition);
        assert!(
            early.message().contains("still open"),
            "{}",
            early.message()
        );
        for (user, number) in [(duty_other.clone(), 4), (duty_unit.clone(), 5)] {
            district
                .app
                .ledger(&district.token(&user).await)
                .complete_ledger_step(v1::CompleteLedgerStepRequest {
                    name: name.clone(),
                    step: number,
                    result: "已办结".to_owned(),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|s| panic!("{user} completes step {number}: {s:?}"));
        }
        let asked = close(duty_unit.clone(), "调解协议已履行").await.unwrap();
        let asked = asked.into_inner().entry.unwrap();
        assert_eq!(asked.state(), v1::LedgerState::CloseRequested);
        assert_eq!(asked.next_due_time, None);
        let supervisor = district.app.ledger(&district.token("supervisor").await);
        approve_and_reopen(supervisor, &name).await;

        let timeline = get("supervisor")
            .await
            .unwrap()
            .into_inner()
            .entry
            .unwrap()
            .timeline;
        let kinds: Vec<v1::LedgerEventKind> = timeline.iter().map(|e| e.kind()).collect();
        use v1::LedgerEventKind as K;
        assert_eq!(
            kinds,
            [
                K::Opened,
                K::StepCompleted,
                K::Regraded,
                K::PlanRevised,
                K::StepCompleted,
                K::StepCompleted,
                K::CloseRequested,
                K::CloseApproved,
                K::Reopened,
            ],
            "{backend:?}"
        );
        assert_eq!(
            timeline.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            (1..=9).collect::<Vec<_>>()
        );
        assert!(
            timeline[3].text.contains("replaced: [step 2"),
            "{}",
            timeline[3].text
        );
        assert!(
            timeline
                .iter()
                .all(|e| !e.text.contains("13800138000") && !e.text.contains("张三")),
            "no party on the timeline"
        );
        let _ = report;
        interviews(&district, &unit, other, &name).await;
    }
}

/// The supervisor calls in the unit's head over the entry and a letter; who reads which interviews.
async fn interviews(district: &District, unit: &str, other: &str, entry: &str) {
    let supervisor = district.token("supervisor").await;
    let (_, case) = district.whistle_dispute(v1::RiskGrade::C).await;
    let letter = district
        .app
        .supervision(&supervisor)
        .issue_supervision_letter(v1::IssueSupervisionLetterRequest {
            letter_id: uuid::Uuid::new_v4().to_string(),
            department: format!("departments/{unit}"),
            cases: vec![case.name.clone()],
            text: "请说明办理进展".to_owned(),
            reply_due_time: at(district, Duration::from_secs(86_400)),
        })
        .await
        .expect("a letter")
        .into_inner()
        .letter
        .unwrap()
        .name;
    let request = v1::RecordInterviewRequest {
        interview_id: uuid::Uuid::new_v4().to_string(),
        department: format!("departments/{unit}"),
        person: "街道办事处主任".to_owned(),
        reason: "积案化解进度滞后，督办函逾期未复".to_owned(),
        supervision_letters: vec![letter.clone()],
        ledger_entries: vec![entry.to_owned()],
        outcome: "承诺十日内完成回访".to_owned(),
        held_time: at(district, Duration::ZERO),
    };
    let mut ledger = district.app.ledger(&supervisor);
    let recorded = ledger
        .record_interview(request.clone())
        .await
        .expect("the supervisor records the interview")
        .into_inner()
        .interview
        .unwrap();
    let again = ledger.record_interview(request.clone()).await.unwrap();
    assert_eq!(
        again.into_inner().interview.unwrap(),
        recorded,
        "a retry answers the same interview"
    );
    let wrong = ledger
        .record_interview(v1::RecordInterviewRequest {
            interview_id: uuid::Uuid::new_v4().to_string(),
            department: format!("departments/{other}"),
            ledger_entries: Vec::new(),
            ..request.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&wrong),
        ["supervision_letters[0]"],
        "a letter to another department"
    );
    let list = |user: String, department: String| async move {
        district
            .app
            .ledger(&district.token(&user).await)
            .list_interviews(v1::ListInterviewsRequest {
                department,
                ..Default::default()
            })
            .await
    };
    for user in [
        format!("head.{unit}"),
        LEADER.to_owned(),
        "admin".to_owned(),
    ] {
        let seen = list(user.clone(), String::new())
            .await
            .unwrap()
            .into_inner()
            .interviews;
        assert_eq!(
            seen.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            [recorded.name.as_str()],
            "{user}"
        );
    }
    let theirs = list(format!("head.{other}"), format!("departments/{unit}"))
        .await
        .unwrap_err();
    assert_eq!(
        theirs.code(),
        Code::NotFound,
        "another department's interviews"
    );
    let own = list(format!("head.{other}"), String::new()).await.unwrap();
    assert!(own.into_inner().interviews.is_empty());
}

/// A request to open another entry of the same case as `entry`.
fn request_like(entry: &v1::LedgerEntry) -> v1::OpenLedgerEntryRequest {
    v1::OpenLedgerEntryRequest {
        entry_id: String::new(),
        case: entry.case.clone(),
        title: entry.title.clone(),
        summary: entry.summary.clone(),
        nature: entry.nature,
        since_time: entry.since_time,
        complexity: entry.complexity,
        social_impact: entry.social_impact,
        grade: entry.grade,
        responsible_unit: entry.responsible_unit.clone(),
        responsible_person: entry.responsible_person.clone(),
        leader: String::new(),
        parties: Vec::new(),
        steps: Vec::new(),
    }
}

async fn check_lists(
    mut ledger: v1::ledger_service_client::LedgerServiceClient<gridwhistle_tests::Authed>,
    name: &str,
    unit: &str,
) {
    let list = |colour: v1::LedgerColour, unit: &str| v1::ListLedgerEntriesRequest {
        colour: colour.into(),
        responsible_unit: unit.to_owned(),
        ..Default::default()
    };
    let red = ledger
        .list_ledger_entries(list(v1::LedgerColour::Red, &format!("departments/{unit}")))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(
        red.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        [name]
    );
    let blue = ledger
        .list_ledger_entries(list(v1::LedgerColour::Blue, ""))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(blue.is_empty());
    let counts = ledger
        .count_ledger_entries(v1::CountLedgerEntriesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (counts.red, counts.yellow, counts.blue, counts.overdue),
        (1, 0, 0, 0)
    );
}

async fn regrade_and_revise(
    mut leader: v1::ledger_service_client::LedgerServiceClient<gridwhistle_tests::Authed>,
    district: &District,
    name: &str,
    unit: &str,
    other: &str,
) {
    let lowered = leader
        .regrade_ledger_entry(v1::RegradeLedgerEntryRequest {
            name: name.to_owned(),
            grade: v1::RiskGrade::B.into(),
            reason: "矛盾缓和".to_owned(),
            ..Default::default()
        })
        .await
        .expect("the leader lowers the grade")
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(lowered.colour(), v1::LedgerColour::Yellow);
    let past = leader
        .revise_ledger_plan(v1::ReviseLedgerPlanRequest {
            name: name.to_owned(),
            steps: vec![v1::LedgerStepPlan {
                due_time: at(district, Duration::ZERO),
                ..step(district, unit, "回访", 1)
            }],
            reason: "调整".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(field_violations(&past), ["steps[0].due_time"]);
    // A step is due at a time or after a count of working days, one of the two.
    let unclear = leader
        .revise_ledger_plan(v1::ReviseLedgerPlanRequest {
            name: name.to_owned(),
            steps: vec![
                v1::LedgerStepPlan {
                    working_days: 3,
                    ..step(district, unit, "回访", 1)
                },
                v1::LedgerStepPlan {
                    due_time: None,
                    ..step(district, unit, "回访", 1)
                },
            ],
            reason: "调整".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&unclear),
        ["steps[0].working_days", "steps[1].working_days"]
    );
    let revised = leader
        .revise_ledger_plan(v1::ReviseLedgerPlanRequest {
            name: name.to_owned(),
            etag: lowered.etag.clone(),
            steps: vec![
                step(district, other, "法律咨询与调解", 7),
                v1::LedgerStepPlan {
                    due_time: None,
                    working_days: 5,
                    ..step(district, unit, "回访并签订息访协议", 0)
                },
            ],
            reason: "联合会审后调整".to_owned(),
        })
        .await
        .expect("the leader revises the plan")
        .into_inner()
        .entry
        .unwrap();
    // Five working days after Tuesday 3 March 2026: the close of Tuesday 10 March, 17:30 in Beijing.
    assert_eq!(
        revised.steps[4].due_time.as_ref().map(|t| t.seconds),
        Some(1_773_135_000)
    );
    let states: Vec<(i32, v1::LedgerStepState, i32)> = revised
        .steps
        .iter()
        .map(|s| (s.number, s.state(), s.revision))
        .collect();
    use v1::LedgerStepState as S;
    assert_eq!(
        states,
        [
            (1, S::Done, 1),
            (2, S::Superseded, 1),
            (3, S::Superseded, 1),
            (4, S::Open, 2),
            (5, S::Open, 2),
        ]
    );
}

async fn approve_and_reopen(
    mut supervisor: v1::ledger_service_client::LedgerServiceClient<gridwhistle_tests::Authed>,
    name: &str,
) {
    let refusal_without_reason = supervisor
        .decide_ledger_close_off(v1::DecideLedgerCloseOffRequest {
            name: name.to_owned(),
            approve: false,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(field_violations(&refusal_without_reason), ["reason"]);
    let closed = supervisor
        .decide_ledger_close_off(v1::DecideLedgerCloseOffRequest {
            name: name.to_owned(),
            approve: true,
            reason: "事心双解，同意销号".to_owned(),
            ..Default::default()
        })
        .await
        .expect("the supervisor approves")
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(closed.state(), v1::LedgerState::Closed);
    assert!(closed.close_time.is_some());
    let reopened = supervisor
        .reopen_ledger_entry(v1::ReopenLedgerEntryRequest {
            name: name.to_owned(),
            reason: "信访人再次到访".to_owned(),
            ..Default::default()
        })
        .await
        .expect("the supervisor reopens it")
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(reopened.state(), v1::LedgerState::Open);
}

/// Opens an entry of its own as the supervisor: `grade`, responsible `unit`, a step per (department, days from now).
async fn entry_of(
    district: &District,
    grade: v1::RiskGrade,
    unit: &str,
    steps: &[(&str, u64)],
) -> v1::LedgerEntry {
    district
        .app
        .ledger(&district.token("supervisor").await)
        .open_ledger_entry(v1::OpenLedgerEntryRequest {
            entry_id: uuid::Uuid::new_v4().to_string(),
            title: "积案".to_owned(),
            summary: "多年信访".to_owned(),
            nature: v1::LedgerNature::LawRelated.into(),
            since_time: at(district, Duration::ZERO),
            complexity: v1::LedgerLevel::Medium.into(),
            social_impact: v1::LedgerLevel::Low.into(),
            grade: grade.into(),
            responsible_unit: format!("departments/{unit}"),
            responsible_person: "负责人".to_owned(),
            parties: vec![petitioner()],
            steps: steps
                .iter()
                .map(|(department, days)| step(district, department, "化解", *days))
                .collect(),
            ..Default::default()
        })
        .await
        .expect("the supervisor opens the entry")
        .into_inner()
        .entry
        .unwrap()
}

#[tokio::test]
async fn a_joint_meeting_puts_the_urgent_entries_and_orphan_cases_on_its_agenda_and_decides_them() {
    use v1::AgendaReason as R;
    for backend in backends() {
        let district = District::start(backend).await;
        let (x, y) = ("street-jianwai", "justice-01");
        let red = entry_of(&district, v1::RiskGrade::A, x, &[(x, 10)]).await;
        let overdue = entry_of(&district, v1::RiskGrade::B, x, &[(x, 2)]).await;
        let crossing = entry_of(&district, v1::RiskGrade::C, x, &[(x, 20), (y, 25)]).await;
        let quiet = entry_of(&district, v1::RiskGrade::C, x, &[(x, 20)]).await;
        let closed = entry_of(&district, v1::RiskGrade::A, x, &[]).await;
        let supervisor = district.token("supervisor").await;
        let mut ledger = district.app.ledger(&supervisor);
        district
            .app
            .ledger(&district.token(&format!("duty.{x}")).await)
            .request_ledger_close_off(v1::RequestLedgerCloseOffRequest {
                name: closed.name.clone(),
                result: "已化解".to_owned(),
                parties_stance: "满意".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        ledger
            .decide_ledger_close_off(v1::DecideLedgerCloseOffRequest {
                name: closed.name.clone(),
                approve: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let (_, orphan) = district.whistle_dispute(v1::RiskGrade::B).await;
        let orphan = district.returned_by_everyone(&orphan.name).await;
        assert_eq!(orphan.state(), v1::CaseState::AwaitingSupervisor);
        district.app.clock.advance(Duration::from_secs(3 * 86_400));
        district.forget_tokens().await;

        let supervisor = district.token("supervisor").await;
        let mut ledger = district.app.ledger(&supervisor);
        let call = v1::CallJointMeetingRequest {
            meeting_id: uuid::Uuid::new_v4().to_string(),
            month: "2026-03".to_owned(),
            title: "三月联席会议".to_owned(),
        };
        let meeting = ledger
            .call_joint_meeting(call.clone())
            .await
            .expect("the supervisor calls the meeting")
            .into_inner()
            .meeting
            .unwrap();
        let agenda: Vec<(String, Vec<R>)> = meeting
            .items
            .iter()
            .map(|i| {
                let subject = if i.case.is_empty() {
                    &i.ledger_entry
                } else {
                    &i.case
                };
                (subject.clone(), i.reasons().collect())
            })
            .collect();
        assert_eq!(
            agenda,
            [
                (red.name.clone(), vec![R::Red]),
                (overdue.name.clone(), vec![R::OverdueSteps]),
                (crossing.name.clone(), vec![R::CrossDepartment]),
                (orphan.name.clone(), vec![R::ReturnedByAll]),
            ],
            "{backend:?}: neither the quiet entry {} nor the closed one {}",
            quiet.name,
            closed.name
        );
        assert!(
            meeting.items[2].detail.contains(y),
            "{}",
            meeting.items[2].detail
        );
        let again = ledger.call_joint_meeting(call).await.unwrap();
        assert_eq!(
            again.into_inner().meeting.unwrap(),
            meeting,
            "a retry answers the same meeting"
        );

        // The meeting gives the crossing entry to the justice office with a new plan, and the orphan case to the street.
        let decide = |number: i32, lead: &str, steps: Vec<v1::LedgerStepPlan>| {
            v1::DecideMeetingItemRequest {
                name: meeting.name.clone(),
                number,
                lead_department: format!("departments/{lead}"),
                assisting_departments: vec![format!(
                    "departments/{}",
                    if lead == x { y } else { x }
                )],
                decision: "由司法所牵头，街道配合".to_owned(),
                steps,
            }
        };
        let plan = vec![step(&district, y, "法律援助与调解", 15)];
        ledger
            .decide_meeting_item(decide(3, y, plan))
            .await
            .expect("the meeting decides item 3");
        let entry = ledger
            .get_ledger_entry(v1::GetLedgerEntryRequest {
                name: crossing.name.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .entry
            .unwrap();
        assert_eq!(entry.responsible_unit, format!("departments/{y}"));
        let open: Vec<(i32, String)> = entry
            .steps
            .iter()
            .filter(|s| s.state() == v1::LedgerStepState::Open)
            .map(|s| (s.number, s.department.clone()))
            .collect();
        assert_eq!(open, [(3, format!("departments/{y}"))]);
        assert_eq!(
            entry.timeline.last().unwrap().kind(),
            v1::LedgerEventKind::Reassigned
        );
        let decided = ledger
            .decide_meeting_item(decide(4, x, Vec::new()))
            .await
            .expect("the meeting decides item 4")
            .into_inner()
            .meeting
            .unwrap();
        assert_eq!(decided.items[3].lead_department, format!("departments/{x}"));
        let case = district
            .case_as("supervisor", &orphan.name)
            .await
            .case
            .unwrap();
        assert_eq!(case.state(), v1::CaseState::Open, "the case is reassigned");
        let twice = ledger
            .decide_meeting_item(decide(4, x, Vec::new()))
            .await
            .unwrap_err();
        assert_eq!(twice.code(), Code::FailedPrecondition);

        // Leaders read the minutes; departments do not.
        let read = district
            .app
            .ledger(&district.token(LEADER).await)
            .get_joint_meeting(v1::GetJointMeetingRequest {
                name: meeting.name.clone(),
            })
            .await
            .unwrap();
        assert_eq!(read.into_inner().meeting.unwrap().items.len(), 4);
        let refused = district
            .app
            .ledger(&district.token(&format!("duty.{x}")).await)
            .get_joint_meeting(v1::GetJointMeetingRequest {
                name: meeting.name.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        let mut parts = ledger
            .export_meeting_minutes(v1::ExportMeetingMinutesRequest {
                name: meeting.name.clone(),
                format: v1::ExportFormat::Csv.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut csv = Vec::new();
        while let Some(part) = parts.message().await.unwrap() {
            csv.extend(part.data);
        }
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.starts_with('\u{feff}'), "a byte-order mark");
        assert!(
            csv.contains("上会原因") && csv.contains("由司法所牵头"),
            "{csv}"
        );
        assert!(
            !csv.contains("张三") && !csv.contains("13800138000"),
            "no party in the minutes"
        );
    }
}
