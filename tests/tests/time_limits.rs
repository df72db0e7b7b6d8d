//! Time-limit policies and the working calendar through the admin API: shipped defaults, versioned imports, named validation errors, calendar years, and the refusal to count working time on a year the calendar lacks.

use gridwhistle_domain::{Binding, Timestamp};
use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::{District, new_report_id, point_in_grid, report_at};
use gridwhistle_tests::{TestDatabase, field_violations, spawn_app_on};
use tonic::Code;

fn minutes(m: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: m * 60,
        nanos: 0,
    })
}

fn stage(stage: v1::DeadlineStage, amount: i64, unit: v1::TimeUnit) -> v1::StagePolicy {
    v1::StagePolicy {
        stage: stage.into(),
        limit: Some(v1::TimeLimit {
            amount,
            unit: unit.into(),
        }),
        reminder_fractions: vec![0.5, 0.8],
        ladder: vec![
            v1::LadderStep {
                after: minutes(0),
                audience: v1::EscalationAudience::DutyOfficers.into(),
                ..Default::default()
            },
            v1::LadderStep {
                after: minutes(120),
                audience: v1::EscalationAudience::Supervisors.into(),
                repeat_count: 3,
                repeat_interval: minutes(240),
            },
        ],
    }
}

fn policies() -> Vec<v1::TimeLimitPolicy> {
    vec![
        v1::TimeLimitPolicy {
            category: "categories/-".to_owned(),
            stages: vec![
                stage(v1::DeadlineStage::ReportIn, 20, v1::TimeUnit::Minutes),
                stage(v1::DeadlineStage::Finish, 5, v1::TimeUnit::WorkingDays),
            ],
            ..Default::default()
        },
        v1::TimeLimitPolicy {
            category: "categories/noise".to_owned(),
            risk_grade: v1::RiskGrade::A.into(),
            stages: vec![stage(
                v1::DeadlineStage::Finish,
                4,
                v1::TimeUnit::WorkingHours,
            )],
            ..Default::default()
        },
    ]
}

#[tokio::test]
async fn the_shipped_defaults_are_version_one_and_imports_add_versions() {
    for backend in backends() {
        let app = spawn_app_on(TestDatabase::create(backend).await).await;
        let mut admin = app.admin(&app.admin_token().await);

        let defaults = admin
            .get_time_limit_policies(v1::GetTimeLimitPoliciesRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(defaults.version, 1, "{backend:?}");
        let base = &defaults.policies[0];
        assert_eq!(base.category, "categories/-");
        let report_in = base
            .stages
            .iter()
            .find(|s| s.stage() == v1::DeadlineStage::ReportIn)
            .unwrap();
        assert_eq!(
            report_in.limit,
            Some(v1::TimeLimit {
                amount: 30,
                unit: v1::TimeUnit::Minutes.into()
            }),
            "Beijing's 30 minutes to report in"
        );
        let emergency = defaults
            .policies
            .iter()
            .find(|p| {
                p.whistle_kind() == v1::WhistleKind::Emergency
                    && p.risk_grade() == v1::RiskGrade::Unspecified
            })
            .unwrap();
        let finish = emergency
            .stages
            .iter()
            .find(|s| s.stage() == v1::DeadlineStage::Finish)
            .unwrap();
        assert_eq!(
            finish.limit,
            Some(v1::TimeLimit {
                amount: 2,
                unit: v1::TimeUnit::Hours.into()
            }),
            "12345's two hours for emergencies"
        );

        let imported = admin
            .import_time_limit_policies(v1::ImportTimeLimitPoliciesRequest {
                policies: policies(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(imported.version, 2);
        let current = admin
            .get_time_limit_policies(v1::GetTimeLimitPoliciesRequest { version: 0 })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(current.version, 2);
        assert_eq!(current.policies, policies(), "stored as imported");
        let first = admin
            .get_time_limit_policies(v1::GetTimeLimitPoliciesRequest { version: 1 })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            first.policies, defaults.policies,
            "older versions stay readable"
        );
        let missing = admin
            .get_time_limit_policies(v1::GetTimeLimitPoliciesRequest { version: 99 })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound);

        // A restart keeps the version in force and does not import the defaults again.
        let database = app.database.clone();
        app.stop().await.unwrap();
        let app = spawn_app_on(database).await;
        let token = app.login("admin", "admin-password-1").await.access_token;
        let mut admin = app.admin(&token);
        let after = admin
            .get_time_limit_policies(v1::GetTimeLimitPoliciesRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(after.version, 2);
    }
}

#[tokio::test]
async fn bad_policies_are_refused_naming_the_field_and_nothing_is_stored() {
    let app = gridwhistle_tests::spawn_app().await;
    let mut admin = app.admin(&app.admin_token().await);
    let mut bad = policies();
    bad[1].stages[0].limit = Some(v1::TimeLimit {
        amount: 0,
        unit: v1::TimeUnit::Hours.into(),
    });
    bad[0].stages[1].ladder[0].audience = v1::EscalationAudience::Unspecified.into();
    bad[1].category = "categories/".to_owned();
    let err = admin
        .import_time_limit_policies(v1::ImportTimeLimitPoliciesRequest { policies: bad })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&err),
        [
            "policies[0].stages[1].ladder[0].audience",
            "policies[1].category",
            "policies[1].stages[0].limit",
        ]
    );

    // Ladders count whole minutes: 90 s and 150 s are refused, not stored as 60 s and 120 s, and so is a rung at 10 s.
    let mut seconds = policies();
    seconds[0].stages[1].ladder[0].after = Some(prost_types::Duration {
        seconds: 90,
        nanos: 0,
    });
    seconds[0].stages[1].ladder[1].after = Some(prost_types::Duration {
        seconds: 150,
        nanos: 0,
    });
    seconds[0].stages[0].ladder[1].after = Some(prost_types::Duration {
        seconds: 10,
        nanos: 0,
    });
    let err = admin
        .import_time_limit_policies(v1::ImportTimeLimitPoliciesRequest { policies: seconds })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&err),
        [
            "policies[0].stages[0].ladder[1].after",
            "policies[0].stages[1].ladder[0].after",
            "policies[0].stages[1].ladder[1].after",
        ]
    );
    assert!(
        err.message().contains("whole number of minutes"),
        "{}",
        err.message()
    );

    let mut twice = policies();
    twice[0]
        .stages
        .push(stage(v1::DeadlineStage::ReportIn, 5, v1::TimeUnit::Minutes));
    let err = admin
        .import_time_limit_policies(v1::ImportTimeLimitPoliciesRequest { policies: twice })
        .await
        .unwrap_err();
    assert_eq!(field_violations(&err), ["policies[0]"]);
    assert!(err.message().contains("invalid"), "{}", err.message());

    let current = admin
        .get_time_limit_policies(v1::GetTimeLimitPoliciesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.version, 1, "nothing was stored");

    app.add_user("supervisor.li", "supervisor-password", Binding::Supervisor)
        .await;
    let token = app
        .login("supervisor.li", "supervisor-password")
        .await
        .access_token;
    let denied = app
        .admin(&token)
        .get_time_limit_policies(v1::GetTimeLimitPoliciesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn calendar_years_ship_can_be_added_and_a_year_beyond_the_provisional_table_refuses_working_time_policies()
 {
    let app = gridwhistle_tests::spawn_app().await;
    let mut admin = app.admin(&app.admin_token().await);

    let year = admin
        .get_working_calendar(v1::GetWorkingCalendarRequest { year: 2026 })
        .await
        .unwrap()
        .into_inner()
        .calendar
        .unwrap();
    assert_eq!(year.time_zone, "Asia/Shanghai");
    assert_eq!(year.periods.len(), 2);
    assert!(year.holidays.contains(&"2026-02-23".to_owned()));
    assert_eq!(
        year.makeup_working_days,
        [
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10"
        ]
    );
    assert!(!year.provisional);
    // 2028 ships no official calendar: it is provisional, weekends and the statutory holidays alone.
    let provisional = admin
        .get_working_calendar(v1::GetWorkingCalendarRequest { year: 2028 })
        .await
        .unwrap()
        .into_inner()
        .calendar
        .unwrap();
    assert!(provisional.provisional);
    // Thirteen statutory days, but in 2028 the Mid-Autumn Festival falls on 3 October, inside National Day.
    assert_eq!(provisional.holidays.len(), 12);
    assert!(provisional.holidays.contains(&"2028-10-03".to_owned()));
    assert!(
        provisional.holidays.contains(&"2028-01-26".to_owned()),
        "the Spring Festival's first day"
    );
    assert!(provisional.makeup_working_days.is_empty());
    let missing = admin
        .get_working_calendar(v1::GetWorkingCalendarRequest { year: 2100 })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // In 2100 the calendar has no year, not even a provisional one: policies counting working time are refused, wall-clock ones are not.
    app.clock
        .set(Timestamp::from_unix_millis(4_102_538_400_000));
    let token = app.login("admin", "admin-password-1").await.access_token;
    let mut admin = app.admin(&token);
    let err = admin
        .import_time_limit_policies(v1::ImportTimeLimitPoliciesRequest {
            policies: policies(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("2100"), "{}", err.message());
    let wall_only = vec![v1::TimeLimitPolicy {
        category: "categories/-".to_owned(),
        stages: vec![stage(
            v1::DeadlineStage::ReportIn,
            30,
            v1::TimeUnit::Minutes,
        )],
        ..Default::default()
    }];
    admin
        .import_time_limit_policies(v1::ImportTimeLimitPoliciesRequest {
            policies: wall_only,
        })
        .await
        .unwrap();

    let year_2100 = v1::WorkingCalendar {
        year: 2100,
        time_zone: String::new(),
        periods: vec![
            v1::WorkingPeriod {
                start: "08:30".to_owned(),
                end: "12:00".to_owned(),
            },
            v1::WorkingPeriod {
                start: "14:00".to_owned(),
                end: "17:30".to_owned(),
            },
        ],
        holidays: vec!["2100-01-01".to_owned()],
        makeup_working_days: vec![],
        provisional: false,
    };
    let stored = admin
        .put_working_calendar(v1::PutWorkingCalendarRequest {
            calendar: Some(year_2100.clone()),
        })
        .await
        .unwrap()
        .into_inner()
        .calendar
        .unwrap();
    assert_eq!(stored.time_zone, "Asia/Shanghai");
    assert_eq!(stored.periods, year_2100.periods);
    admin
        .import_time_limit_policies(v1::ImportTimeLimitPoliciesRequest {
            policies: policies(),
        })
        .await
        .expect("the year is known now");

    let mut elsewhere = year_2100.clone();
    elsewhere.year = 2099;
    elsewhere.time_zone = "UTC+09:00".to_owned();
    elsewhere.holidays = vec!["2099-13-01".to_owned()];
    let err = admin
        .put_working_calendar(v1::PutWorkingCalendarRequest {
            calendar: Some(elsewhere.clone()),
        })
        .await
        .unwrap_err();
    assert_eq!(field_violations(&err), ["calendar.holidays[0]"]);
    elsewhere.holidays.clear();
    let err = admin
        .put_working_calendar(v1::PutWorkingCalendarRequest {
            calendar: Some(elsewhere),
        })
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&err),
        ["calendar"],
        "one zone for every year"
    );

    for year in [0, -1, 1990, 2101, i32::MAX] {
        let err = admin
            .put_working_calendar(v1::PutWorkingCalendarRequest {
                calendar: Some(v1::WorkingCalendar {
                    year,
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(field_violations(&err), ["calendar.year"], "{year}");
    }
}

/// Beijing 10:00 on Sunday 20 December 2026.
const DECEMBER_20: Timestamp = Timestamp::from_unix_millis(1_797_732_000_000);

fn seconds(t: Timestamp) -> i64 {
    t.as_unix_millis() / 1000
}

#[tokio::test]
async fn a_hard_case_before_the_year_end_is_due_on_the_provisional_year_until_the_official_one_moves_it()
 {
    for backend in backends() {
        let district = District::start(backend).await;
        district.app.clock.set(DECEMBER_20);
        const WORKER: &str = "worker.g-jianwai-1-01";
        let (lat, lng) = point_in_grid("g-jianwai-1-01");
        let mut report = report_at(lat, lng, "neighbour-dispute");
        report.observe_time = Some(prost_types::Timestamp {
            seconds: seconds(DECEMBER_20) - 600,
            nanos: 0,
        });
        let filed = district
            .app
            .reports(&district.token(WORKER).await)
            .create_report(v1::CreateReportRequest {
                report_id: new_report_id(),
                report: Some(report),
            })
            .await
            .expect("a whistle in December is not refused")
            .into_inner()
            .report
            .unwrap();
        let case = district
            .whistle(
                WORKER,
                &filed.name,
                v1::WhistleKind::HardCase,
                v1::RiskGrade::C,
            )
            .await;
        let lead = case
            .assignments
            .iter()
            .find(|a| a.role() == v1::AssignmentRole::Lead)
            .unwrap()
            .department
            .clone();
        let finish = |view: &v1::GetCaseResponse| {
            let case = view.case.as_ref().unwrap();
            let lead = case
                .assignments
                .iter()
                .find(|a| a.role() == v1::AssignmentRole::Lead)
                .unwrap();
            lead.deadlines
                .iter()
                .find(|d| d.stage() == v1::DeadlineStage::Finish)
                .cloned()
                .unwrap()
        };
        let supervisor = district.token("supervisor").await;
        let me = district
            .app
            .auth()
            .who_am_i(bearer_request(&supervisor))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            me.provisional_calendar_years,
            [2027],
            "{backend:?}: a console shows the banner"
        );

        // 15 working days from Sunday 20 December on weekends and New Year's Day alone: Monday 11 January 2027, 17:30.
        let view = district.case_as("supervisor", &case.name).await;
        let due = finish(&view);
        assert_eq!(due.due_time.unwrap().seconds, 1_799_659_800, "{backend:?}");
        assert!(due.provisional, "{backend:?}");
        let report_in = view.case.as_ref().unwrap().assignments[0]
            .deadlines
            .iter()
            .find(|d| d.stage() == v1::DeadlineStage::ReportIn)
            .cloned()
            .unwrap();
        assert!(
            !report_in.provisional,
            "thirty minutes of wall time rest on no calendar"
        );

        // The official 2027 arrives: 1–2 January off, Sunday 3 January worked. The 15th working day is now Friday 8 January.
        district
            .app
            .clock
            .advance(std::time::Duration::from_secs(600));
        let mut admin = district.app.admin(&district.token("admin").await);
        admin
            .put_working_calendar(v1::PutWorkingCalendarRequest {
                calendar: Some(official_2027()),
            })
            .await
            .unwrap();
        let view = district.case_as("supervisor", &case.name).await;
        let due = finish(&view);
        assert_eq!(due.due_time.unwrap().seconds, 1_799_400_600, "{backend:?}");
        assert!(!due.provisional, "{backend:?}");
        let moved: Vec<&v1::CaseEvent> = view
            .timeline
            .iter()
            .filter(|e| e.kind() == v1::CaseEventKind::DeadlineRecounted)
            .collect();
        assert_eq!(
            moved.len(),
            1,
            "{backend:?}: one event for the one due time that moved"
        );
        assert_eq!(moved[0].department, lead);
        assert!(
            moved[0].text.contains("2027-01-11 17:30")
                && moved[0].text.contains("2027-01-08 17:30"),
            "{}",
            moved[0].text
        );
        let me = district
            .app
            .auth()
            .who_am_i(bearer_request(&supervisor))
            .await
            .unwrap()
            .into_inner();
        assert!(me.provisional_calendar_years.is_empty(), "{backend:?}");

        // Loading the same year again moves nothing.
        admin
            .put_working_calendar(v1::PutWorkingCalendarRequest {
                calendar: Some(official_2027()),
            })
            .await
            .unwrap();
        let again = district.case_as("supervisor", &case.name).await;
        assert_eq!(again.timeline.len(), view.timeline.len(), "{backend:?}");
    }
}

/// An official 2027 as a test has it: 1–2 January off, Sunday 3 January worked.
fn official_2027() -> v1::WorkingCalendar {
    v1::WorkingCalendar {
        year: 2027,
        holidays: vec!["2027-01-01".to_owned(), "2027-01-02".to_owned()],
        makeup_working_days: vec!["2027-01-03".to_owned()],
        ..Default::default()
    }
}

fn bearer_request(token: &str) -> tonic::Request<v1::WhoAmIRequest> {
    let mut request = tonic::Request::new(v1::WhoAmIRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}
