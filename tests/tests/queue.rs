//! The case queue over gRPC in the sample district: a supervisor's search of every case and a department's of its own, by filter and order, page by page.

use std::time::Duration;

use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::{District, duty_officer, point_in_grid, report_at};
use tonic::Code;
use tonic_types::StatusExt;

/// Every case name a listing gives, following its pages of `page_size`.
async fn names(district: &District, token: &str, filter: &str, order_by: &str) -> Vec<String> {
    let mut cases = district.app.cases(token);
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = cases
            .list_cases(v1::ListCasesRequest {
                page_size: 2,
                page_token,
                filter: filter.to_owned(),
                order_by: order_by.to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("{filter:?} by {order_by:?}: {e:?}"))
            .into_inner();
        out.extend(page.cases.into_iter().map(|c| c.name));
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn a_case_every_department_returned_waits_in_the_supervisors_queue_and_is_reassigned_from_there()
 {
    for backend in backends() {
        let district = District::start(backend).await;
        let (_, kept) = district.whistle_dispute(v1::RiskGrade::C).await;
        let (_, orphan) = district.whistle_dispute(v1::RiskGrade::B).await;
        let lead = orphan.assignments[0].department.clone();
        let returned = district.returned_by_everyone(&orphan.name).await;
        assert_eq!(
            returned.state(),
            v1::CaseState::AwaitingSupervisor,
            "{backend:?}"
        );

        let supervisor = district.token("supervisor").await;
        let waiting = "state = AWAITING_SUPERVISOR";
        assert_eq!(
            names(&district, &supervisor, waiting, "").await,
            std::slice::from_ref(&orphan.name)
        );
        assert_eq!(
            names(&district, &supervisor, "state = OPEN", "").await,
            std::slice::from_ref(&kept.name)
        );
        // From the queue, the supervisor sets the case's departments by hand.
        let listed = district
            .app
            .cases(&supervisor)
            .list_cases(v1::ListCasesRequest {
                filter: waiting.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .cases
            .remove(0);
        let reassigned = district
            .app
            .supervision(&supervisor)
            .reassign_case(v1::ReassignCaseRequest {
                name: listed.name.clone(),
                lead_department: lead.clone(),
                reason: "督办指定主办".to_owned(),
                etag: listed.etag.clone(),
                ..Default::default()
            })
            .await
            .expect("reassigned from the queue")
            .into_inner()
            .case
            .unwrap();
        assert_eq!(reassigned.state(), v1::CaseState::Open);
        assert!(names(&district, &supervisor, waiting, "").await.is_empty());
    }
}

#[tokio::test]
async fn the_queue_filters_orders_and_scopes_by_the_callers_department() {
    for backend in backends() {
        let district = District::start(backend).await;
        let minute = Duration::from_secs(60);
        let (_, routine) = district.whistle_dispute(v1::RiskGrade::C).await;
        district.app.clock.advance(minute);
        let (_, urgent) = district.whistle_dispute(v1::RiskGrade::A).await;
        district.app.clock.advance(minute);
        let elsewhere = district
            .file_report(
                "worker.g-sanlitun-3-01",
                "g-sanlitun-3-01",
                "neighbour-dispute",
            )
            .await;
        let elsewhere = district
            .whistle(
                "worker.g-sanlitun-3-01",
                &elsewhere.name,
                v1::WhistleKind::Emergency,
                v1::RiskGrade::A,
            )
            .await;
        let street = routine.assignments[0].department.clone();
        let supervisor = district.token("supervisor").await;
        let all = [
            routine.name.clone(),
            urgent.name.clone(),
            elsewhere.name.clone(),
        ];

        // Whistle order, and due order (grade A's limits are tighter than grade C's).
        assert_eq!(names(&district, &supervisor, "", "whistle_time").await, all);
        let by_due = names(&district, &supervisor, "", "due_time").await;
        assert_eq!(by_due.len(), 3);
        assert!(
            by_due.iter().position(|n| *n == urgent.name)
                < by_due.iter().position(|n| *n == routine.name),
            "{by_due:?}"
        );
        assert_eq!(
            names(
                &district,
                &supervisor,
                "risk_grade = A AND whistle_kind = EMERGENCY",
                ""
            )
            .await,
            std::slice::from_ref(&elsewhere.name)
        );
        assert_eq!(
            names(
                &district,
                &supervisor,
                r#"grid = "grids/g-sanlitun-3-01""#,
                ""
            )
            .await,
            std::slice::from_ref(&elsewhere.name)
        );
        let since = urgent.create_time.expect("a whistle time");
        let since = format!(r#"whistle_time >= "{since}""#);
        let recent = names(&district, &supervisor, &since, "whistle_time").await;
        assert_eq!(recent, [urgent.name.clone(), elsewhere.name.clone()]);

        // A department sees the cases it was summoned to; naming another department lists nothing.
        let duty = district.token(&duty_officer(&street)).await;
        let own = names(&district, &duty, "", "whistle_time").await;
        assert_eq!(own, [routine.name.clone(), urgent.name.clone()]);
        let other = elsewhere.assignments[0].department.clone();
        assert_ne!(other, street);
        assert!(
            names(&district, &duty, &format!(r#"department = "{other}""#), "")
                .await
                .is_empty()
        );
        assert_eq!(
            names(
                &district,
                &supervisor,
                &format!(r#"department = "{other}""#),
                ""
            )
            .await,
            std::slice::from_ref(&elsewhere.name)
        );

        // Nothing is overdue yet; a day later the grade-A cases are.
        let overdue = "risk_grade = A AND overdue = true";
        assert!(names(&district, &supervisor, overdue, "").await.is_empty());
        assert_eq!(
            names(&district, &supervisor, r#"due_within = "86400s""#, "")
                .await
                .len(),
            3
        );
        district.app.clock.advance(Duration::from_secs(24 * 3600));
        district.forget_tokens().await;
        let supervisor = district.token("supervisor").await;
        let late = names(&district, &supervisor, overdue, "").await;
        assert_eq!(late.len(), 2, "{late:?}");
        assert!(late.contains(&urgent.name) && late.contains(&elsewhere.name));

        // Grid workers and admins have no queue; a bad filter or order names its field.
        let worker = district.token("worker.g-jianwai-1-01").await;
        let err = district
            .app
            .cases(&worker)
            .list_cases(v1::ListCasesRequest::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        for (filter, order_by, field) in [
            ("colour = red", "", "filter"),
            ("state = OPEN OR state = CLOSED", "", "filter"),
            ("", "priority", "order_by"),
        ] {
            let err = district
                .app
                .cases(&supervisor)
                .list_cases(v1::ListCasesRequest {
                    filter: filter.to_owned(),
                    order_by: order_by.to_owned(),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument);
            let fields: Vec<String> = err
                .get_details_bad_request()
                .unwrap()
                .field_violations
                .into_iter()
                .map(|v| v.field)
                .collect();
            assert_eq!(fields, [field]);
        }
    }
}

/// Files a report as `worker` at `(lat, lng)` given in `system`, and whistles it; answers the case name.
async fn whistled_at(
    district: &District,
    worker: &str,
    (lat, lng): (f64, f64),
    system: v1::CoordinateSystem,
) -> String {
    let mut report = report_at(lat, lng, "neighbour-dispute");
    if let Some(location) = report.location.as_mut() {
        location.set_coordinate_system(system);
    }
    let filed = district.file(worker, report).await;
    district
        .whistle(
            worker,
            &filed.name,
            v1::WhistleKind::Routine,
            v1::RiskGrade::C,
        )
        .await
        .name
}

/// A filter for the box of half a side `half` degrees around `(lat, lng)`.
fn around((lat, lng): (f64, f64), half: f64) -> String {
    format!(
        "latitude >= {} AND latitude <= {} AND longitude >= {} AND longitude <= {}",
        lat - half,
        lat + half,
        lng - half,
        lng + half
    )
}

#[tokio::test]
async fn a_bounding_box_finds_cases_where_they_lie_whatever_datum_the_phone_sent() {
    use gridwhistle_dispatcher::routing::coords::wgs84_to_gcj02;
    for backend in backends() {
        let district = District::start(backend).await;
        let supervisor = district.token("supervisor").await;
        let here = point_in_grid("g-jianwai-1-01");
        let there = point_in_grid("g-sanlitun-3-01");
        let by_gnss = whistled_at(
            &district,
            "worker.g-jianwai-1-01",
            here,
            v1::CoordinateSystem::Wgs84,
        )
        .await;
        // The second phone reports in GCJ-02 (AMap), some hundreds of metres off WGS-84 in Beijing.
        let sent = wgs84_to_gcj02(there.0, there.1);
        let by_amap = whistled_at(
            &district,
            "worker.g-sanlitun-3-01",
            sent,
            v1::CoordinateSystem::Gcj02,
        )
        .await;

        let small = 0.0005;
        assert_eq!(
            names(&district, &supervisor, &around(here, small), "").await,
            std::slice::from_ref(&by_gnss)
        );
        assert_eq!(
            names(&district, &supervisor, &around(there, small), "").await,
            std::slice::from_ref(&by_amap),
            "the box is in WGS-84, where the case lies"
        );
        assert!(
            names(&district, &supervisor, &around(sent, small), "")
                .await
                .is_empty(),
            "the raw GCJ-02 coordinates are not where the case lies"
        );
        let both = around(here, 1.0);
        assert_eq!(
            names(&district, &supervisor, &both, "whistle_time").await,
            vec![by_gnss.clone(), by_amap.clone()]
        );
        // With other conditions, and strict bounds that leave the point itself out.
        let ne = format!("{both} AND state = OPEN AND latitude > {}", here.0);
        assert!(
            !names(&district, &supervisor, &ne, "")
                .await
                .contains(&by_gnss)
        );
        let at = format!("latitude >= {} AND latitude <= {}", here.0, here.0);
        assert!(
            names(&district, &supervisor, &at, "")
                .await
                .contains(&by_gnss)
        );

        for bad in ["latitude = 39.9", "latitude > 91", "longitude < east"] {
            let err = district
                .app
                .cases(&supervisor)
                .list_cases(v1::ListCasesRequest {
                    filter: bad.to_owned(),
                    ..Default::default()
                })
                .await
                .expect_err(bad);
            assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
            assert_eq!(
                err.get_details_bad_request()
                    .map(|b| b.field_violations[0].field.clone()),
                Some("filter".to_owned()),
                "{bad}"
            );
        }
    }
}
