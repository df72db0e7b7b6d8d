//! The operations listener: `/metrics` after a whoami, a create-report, a whistle pushed to a duty officer's phone, a fired deadline and a report-in shows every family with the values those calls imply, on every backend; every metric the Grafana dashboard (`deploy/grafana/gridwhistle.json`) queries is in that scrape; `/livez` and `/readyz` answer.

use std::collections::BTreeSet;
use std::time::Duration;

use gridwhistle_proto::v1;
use gridwhistle_tests::district::{District, duty_officer};
use gridwhistle_tests::{Backend, database::backends};

const DASHBOARD: &str = include_str!("../../deploy/grafana/gridwhistle.json");

/// The value of the sample whose name and labels are exactly `series` (`name{a="b",c="d"}` as the scrape writes it), if any.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// Scrapes until `series` is at least `at_least`, boundedly: the database gauges refresh on a period, the push sender and the engine run on their own tasks.
async fn scrape_until(district: &District, series: &str, at_least: f64) -> String {
    for _ in 0..200 {
        let (status, body) = district.app.ops_get("/metrics").await;
        assert_eq!(status, 200);
        if value(&body, series).is_some_and(|v| v >= at_least) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{series} never reached {at_least}");
}

/// Runs the calls the scrape is checked after and scrapes; returns the scrape and the lead and assisting departments.
async fn scenario(backend: Backend) -> (District, String, String, String) {
    let district = District::start_with_engine(backend, |config| {
        config.metrics_refresh = Duration::from_millis(100);
        config.push.sender = true;
    })
    .await;
    let app = &district.app;
    let whoami = district.token("supervisor").await;
    let mut request = tonic::Request::new(v1::WhoAmIRequest {});
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {whoami}").parse().expect("a header"),
    );
    app.auth().who_am_i(request).await.expect("whoami answers");
    // The street office's duty officer has a phone: the whistle is pushed to it.
    let lead = "departments/street-jianwai";
    app.devices(&district.token(&duty_officer(lead)).await)
        .register_device(v1::RegisterDeviceRequest {
            device_id: uuid::Uuid::new_v4().to_string(),
            push_token: "officer-phone".to_owned(),
            platform: v1::Platform::Android.into(),
            channel: v1::PushChannel::Fcm.into(),
            app_version: "2.3.0".to_owned(),
            locale: "zh-CN".to_owned(),
        })
        .await
        .expect("the device registers");
    let (_, case) = district.whistle_dispute(v1::RiskGrade::Unspecified).await;
    assert_eq!(case.assignments[0].department, lead);
    let assist = case.assignments[1].department.clone();
    let id = |name: &str| name.trim_start_matches("departments/").to_owned();
    // Twenty minutes on, the half-time reminder of both report-ins (due in 30) is due; a second whistle wakes the engine.
    app.clock.advance(Duration::from_secs(20 * 60));
    // The access tokens of 09:00 ran out at 09:15.
    district.forget_tokens().await;
    district.whistle_dispute(v1::RiskGrade::Unspecified).await;
    app.cases(&district.token(&duty_officer(lead)).await)
        .report_in(v1::ReportInRequest {
            name: case.name.clone(),
            ..Default::default()
        })
        .await
        .expect("the lead reports in");
    scrape_until(&district, "gridwhistle_deadline_firings_total", 2.0).await;
    scrape_until(
        &district,
        r#"gridwhistle_push_outcomes_total{channel="fcm",outcome="delivered"}"#,
        1.0,
    )
    .await;
    let scrape = scrape_until(
        &district,
        &format!(
            r#"gridwhistle_open_assignments{{department="{}",stage="reported_in"}}"#,
            id(lead)
        ),
        1.0,
    )
    .await;
    (district, scrape, id(lead), id(&assist))
}

#[tokio::test]
async fn the_scrape_shows_every_family_with_the_values_the_calls_imply() {
    for backend in backends() {
        let (district, scrape, lead, assist) = scenario(backend).await;
        let at = |series: &str| {
            value(&scrape, series)
                .unwrap_or_else(|| panic!("{backend:?}: no {series} in\n{scrape}"))
        };
        assert_eq!(at(r#"gridwhistle_build_info{version="0.1.0"}"#), 1.0);
        let calls = |method: &str| {
            at(&format!(
                r#"gridwhistle_rpc_requests_total{{method="/gridwhistle.v1.{method}",code="OK"}}"#
            ))
        };
        assert_eq!(calls("AuthService/WhoAmI"), 1.0);
        assert_eq!(calls("ReportService/CreateReport"), 2.0);
        assert_eq!(calls("ReportService/Whistle"), 2.0);
        let created = r#"gridwhistle_rpc_duration_seconds_count{method="/gridwhistle.v1.ReportService/CreateReport"}"#;
        assert_eq!(at(created), 2.0);
        assert!(
            at(
                r#"gridwhistle_rpc_duration_seconds_sum{method="/gridwhistle.v1.ReportService/CreateReport"}"#
            ) > 0.0
        );
        assert_eq!(at("gridwhistle_db_pool_max_connections"), 8.0);
        assert!(at(r#"gridwhistle_db_pool_connections{state="idle"}"#) >= 1.0);
        assert!(at(r#"gridwhistle_db_pool_connections{state="in_use"}"#) >= 0.0);
        assert_eq!(at("gridwhistle_database_up"), 1.0);
        assert_eq!(at("gridwhistle_serving"), 1.0);
        // The half-time reminders of both departments' report-ins fired; the engine holds what falls due in its next minute.
        assert!(at("gridwhistle_deadline_firings_total") >= 2.0);
        assert_eq!(at("gridwhistle_deadline_pass_failures_total"), 0.0);
        assert!(at("gridwhistle_deadline_window_pending") >= 0.0);
        assert!(at("gridwhistle_deadline_lateness_seconds_count") >= 2.0);
        // The reminders were due at 09:15 and fired when the clock stood at 09:20.
        assert!(at("gridwhistle_deadline_lateness_seconds_sum") >= 2.0 * 300.0);
        assert!(at(r#"gridwhistle_outbox_backlog{queue="notifications"}"#) >= 0.0);
        assert!(at(r#"gridwhistle_outbox_backlog{queue="deliveries"}"#) >= 0.0);
        assert_eq!(at("gridwhistle_push_dead_letters"), 0.0);
        assert!(at(r#"gridwhistle_push_outcomes_total{channel="fcm",outcome="delivered"}"#) >= 1.0);
        assert!(at("gridwhistle_routing_generation") >= 1.0);
        assert!(at("gridwhistle_routing_build_seconds") > 0.0);
        // One case reported in by its lead; the assisting department has two cases summoned, the first past its report-in limit only after 30 minutes.
        let share = |department: &str, stage: &str, family: &str| {
            at(&format!(
                r#"gridwhistle_{family}_assignments{{department="{department}",stage="{stage}"}}"#
            ))
        };
        assert_eq!(share(&lead, "reported_in", "open"), 1.0);
        assert_eq!(share(&lead, "summoned", "open"), 1.0);
        assert_eq!(share(&assist, "summoned", "open"), 2.0);
        assert_eq!(share(&assist, "summoned", "overdue"), 0.0);
        assert_eq!(at("gridwhistle_report_in_seconds_count"), 1.0);
        assert_eq!(at("gridwhistle_report_in_seconds_sum"), 1200.0);
        assert!(at("gridwhistle_gauges_refreshed_timestamp_seconds") > 1.7e9);
        assert_eq!(district.app.ops_get("/livez").await.0, 200);
        assert_eq!(
            district.app.ops_get("/readyz").await,
            (200, "ready\n".to_owned())
        );
        district.app.stop().await.expect("a clean stop");
    }
}

/// The metric names an expression of the dashboard queries.
fn queried(expr: &str) -> impl Iterator<Item = &str> {
    expr.match_indices("gridwhistle_").map(move |(at, _)| {
        let rest = &expr[at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_in_the_scrape() {
    let dashboard: serde_json::Value =
        serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            names.extend(
                queried(target["expr"].as_str().expect("an expression")).map(str::to_owned),
            );
        }
    }
    assert!(names.len() >= 20, "the dashboard queries {names:?}");
    let (district, scrape, _, _) = scenario(backends()[0]).await;
    let sampled: BTreeSet<&str> = scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !sampled.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the scrape lacks {missing:?}:\n{scrape}"
    );
    district.app.stop().await.expect("a clean stop");
}
