//! Routing end to end over gRPC: admins import grids, jurisdictions and the catalogue; `PreviewRouting` names the departments; a bad import changes nothing.

use gridwhistle_proto::v1;
use gridwhistle_tests::{TestApp, field_violations, spawn_app};
use tonic::Code;
use tonic_types::StatusExt;

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> String {
    format!("[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]")
}

fn feature(properties: &str, geometry_type: &str, coordinates: &str) -> String {
    format!(
        r#"{{"type":"Feature","properties":{{{properties}}},"geometry":{{"type":"{geometry_type}","coordinates":{coordinates}}}}}"#
    )
}

fn collection(features: &[String]) -> String {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
}

fn grids() -> String {
    collection(&[
        feature(
            r#""grid_id":"g-west","name":"西网格","community":"建外社区","street":"建外街道","district":"朝阳区""#,
            "Polygon",
            &square(116.000, 40.000, 116.010, 40.010),
        ),
        feature(
            r#""grid_id":"g-east","name":"东网格","community":"建外社区","street":"建外街道","district":"朝阳区""#,
            "Polygon",
            &square(116.010, 40.000, 116.020, 40.010),
        ),
    ])
}

fn jurisdictions() -> String {
    collection(&[
        feature(
            r#""department_id":"police-west","department_type":"police","jurisdiction_id":"pw""#,
            "Polygon",
            &square(116.000, 40.000, 116.010, 40.010),
        ),
        feature(
            r#""department_id":"police-east","department_type":"police","jurisdiction_id":"pe""#,
            "Polygon",
            &square(116.010, 40.000, 116.020, 40.010),
        ),
        feature(
            r#""department_id":"street-jw","department_type":"street_office","jurisdiction_id":"sj""#,
            "MultiPolygon",
            &format!("[{}]", square(116.000, 40.000, 116.020, 40.010)),
        ),
    ])
}

async fn department(app: &TestApp, token: &str, id: &str, kind: &str, fallback: bool) {
    app.admin(token)
        .create_department(v1::CreateDepartmentRequest {
            department_id: id.to_owned(),
            department: Some(v1::Department {
                display_name: id.to_owned(),
                department_type: kind.to_owned(),
                fallback_owner: fallback,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
}

async fn district(app: &TestApp) -> String {
    let token = app.admin_token().await;
    department(app, &token, "police-west", "police", false).await;
    department(app, &token, "police-east", "police", false).await;
    department(app, &token, "street-jw", "street_office", false).await;
    department(app, &token, "district-office", "district", true).await;
    let mut admin = app.admin(&token);
    admin
        .import_dispatch_catalogue(v1::ImportDispatchCatalogueRequest {
            categories: vec![v1::CategoryRule {
                name: "categories/neighbour-dispute".to_owned(),
                display_name: "邻里纠纷".to_owned(),
                lead_department_type: "police".to_owned(),
                assisting_department_types: vec!["street_office".to_owned()],
                default_risk_grade: v1::RiskGrade::C.into(),
            }],
            validate_only: false,
        })
        .await
        .unwrap();
    admin
        .import_grids(v1::ImportGridsRequest {
            geojson: grids(),
            validate_only: false,
        })
        .await
        .unwrap();
    let imported = admin
        .import_jurisdictions(v1::ImportJurisdictionsRequest {
            geojson: jurisdictions(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .generation
        .unwrap();
    assert_eq!(imported.feature_count, 3);
    token
}

async fn preview(
    app: &TestApp,
    token: &str,
    lat: f64,
    lng: f64,
    system: v1::CoordinateSystem,
) -> v1::RoutingDecision {
    app.reports(token)
        .preview_routing(v1::PreviewRoutingRequest {
            location: Some(v1::Location {
                latitude: lat,
                longitude: lng,
                coordinate_system: system.into(),
                accuracy_meters: 5.0,
            }),
            category: "categories/neighbour-dispute".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .decision
        .unwrap()
}

fn summary(d: &v1::RoutingDecision) -> Vec<String> {
    d.departments
        .iter()
        .map(|r| format!("{:?} {}", r.role(), r.department))
        .collect()
}

#[tokio::test]
async fn preview_routing_names_the_lead_and_assisting_departments() {
    let app = spawn_app().await;
    let token = district(&app).await;
    let decision = preview(&app, &token, 40.005, 116.003, v1::CoordinateSystem::Wgs84).await;
    assert_eq!(
        summary(&decision),
        [
            "Lead departments/police-west",
            "Assist departments/street-jw"
        ]
    );
    assert_eq!(decision.rule(), v1::RoutingRule::SingleCover);
    assert_eq!(decision.grid, "grids/g-west");
    assert_eq!(
        decision.generation, 2,
        "grids were generation 1, jurisdictions 2"
    );
    assert!(!decision.near_border);
    assert!(decision.border_distance_meters.unwrap() > 200.0);

    let on_border = preview(&app, &token, 40.005, 116.010, v1::CoordinateSystem::Wgs84).await;
    assert_eq!(on_border.rule(), v1::RoutingRule::TieBreak);
    assert!(on_border.near_border);

    let outside = preview(&app, &token, 40.1, 116.1, v1::CoordinateSystem::Wgs84).await;
    assert_eq!(summary(&outside), ["Lead departments/district-office"]);
    assert!(outside.needs_supervisor);
    assert_eq!(outside.rule(), v1::RoutingRule::Fallback);
}

#[tokio::test]
async fn gcj02_positions_are_converted_before_routing() {
    let app = spawn_app().await;
    let token = district(&app).await;
    // 40.005N 116.007E (WGS-84, west precinct) as an AMap SDK reports it.
    let (lat, lng) = gridwhistle_dispatcher::routing::coords::wgs84_to_gcj02(40.005, 116.007);
    let decision = preview(&app, &token, lat, lng, v1::CoordinateSystem::Gcj02).await;
    assert_eq!(summary(&decision)[0], "Lead departments/police-west");
    let routed = decision.routed_location.unwrap();
    assert!((routed.latitude - 40.005).abs() < 1e-9 && (routed.longitude - 116.007).abs() < 1e-9);
}

#[tokio::test]
async fn a_bad_import_is_refused_whole_and_the_previous_generation_stays_in_force() {
    let app = spawn_app().await;
    let token = district(&app).await;
    let unclosed = "[[[116.0,40.0],[116.01,40.0],[116.01,40.01],[116.0,40.01]]]";
    let bad = collection(&[
        feature(
            r#""department_id":"police-west","department_type":"police""#,
            "Polygon",
            &square(116.0, 40.0, 116.02, 40.01),
        ),
        feature(
            r#""department_id":"police-east","department_type":"police""#,
            "Polygon",
            unclosed,
        ),
        feature(
            r#""department_id":"no-such-dept","department_type":"police""#,
            "Polygon",
            &square(116.0, 40.0, 116.01, 40.01),
        ),
        feature(
            r#""department_id":"street-jw","department_type":"police""#,
            "Polygon",
            &square(116.0, 40.0, 116.01, 40.01),
        ),
    ]);
    let mut admin = app.admin(&token);
    let status = admin
        .import_jurisdictions(v1::ImportJurisdictionsRequest {
            geojson: bad,
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations: Vec<(String, String)> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect();
    assert_eq!(
        violations,
        [
            (
                "geojson.features[1].geometry".to_owned(),
                "polygon 0 ring 0 is not closed: its first and last positions differ".to_owned()
            ),
            (
                "geojson.features[2].properties.department_id".to_owned(),
                "unknown department no-such-dept".to_owned()
            ),
            (
                "geojson.features[3].properties.department_type".to_owned(),
                "department street-jw is of type street_office".to_owned()
            ),
        ]
    );
    let not_json = admin
        .import_grids(v1::ImportGridsRequest {
            geojson: "{".to_owned(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(not_json.code(), Code::InvalidArgument);

    let validated = admin
        .import_grids(v1::ImportGridsRequest {
            geojson: grids(),
            validate_only: true,
        })
        .await
        .unwrap()
        .into_inner()
        .generation
        .unwrap();
    assert_eq!(
        (validated.generation, validated.feature_count),
        (0, 2),
        "validation stores nothing"
    );

    let generations = admin
        .list_boundary_generations(v1::ListBoundaryGenerationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .generations;
    let listed: Vec<(i64, bool)> = generations
        .iter()
        .map(|g| (g.generation, g.current))
        .collect();
    assert_eq!(listed, [(2, true), (1, false)]);
    let unknown_kind = admin
        .list_boundary_generations(v1::ListBoundaryGenerationsRequest {
            kind: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown_kind.code(), tonic::Code::InvalidArgument);
    assert_eq!(field_violations(&unknown_kind), ["kind"]);
    let decision = preview(&app, &token, 40.005, 116.003, v1::CoordinateSystem::Wgs84).await;
    assert_eq!(decision.generation, 2);
}

#[tokio::test]
async fn a_catalogue_is_validated_category_by_category_without_storing_anything() {
    let app = spawn_app().await;
    let token = district(&app).await;
    let mut admin = app.admin(&token);
    let rule = |name: &str, lead: &str| v1::CategoryRule {
        name: name.to_owned(),
        display_name: "违法建设".to_owned(),
        lead_department_type: lead.to_owned(),
        assisting_department_types: vec!["street_office".to_owned()],
        default_risk_grade: v1::RiskGrade::B.into(),
    };
    let before = admin
        .get_dispatch_catalogue(v1::GetDispatchCatalogueRequest {})
        .await
        .unwrap()
        .into_inner();

    // Every bad category is named by its index, and nothing is stored.
    let refused = admin
        .import_dispatch_catalogue(v1::ImportDispatchCatalogueRequest {
            categories: vec![
                rule("categories/illegal-construction", "police"),
                rule("illegal construction", "police"),
                rule("categories/noise", "Not A Type"),
            ],
            validate_only: true,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&refused),
        ["categories[1].name", "categories[2].lead_department_type"]
    );

    // A good catalogue passes, and is still not stored.
    let validated = admin
        .import_dispatch_catalogue(v1::ImportDispatchCatalogueRequest {
            categories: vec![rule("categories/illegal-construction", "police")],
            validate_only: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(validated.version, 0, "validation stores nothing");
    let after = admin
        .get_dispatch_catalogue(v1::GetDispatchCatalogueRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after, before);
}

#[tokio::test]
async fn routing_previews_check_their_input_and_need_a_known_category() {
    let app = spawn_app().await;
    let token = district(&app).await;
    let status = app
        .reports(&token)
        .preview_routing(v1::PreviewRoutingRequest {
            location: Some(v1::Location {
                latitude: f64::NAN,
                longitude: 116.0,
                coordinate_system: v1::CoordinateSystem::Unspecified.into(),
                accuracy_meters: -1.0,
            }),
            category: "bogus".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&status),
        [
            "location.latitude",
            "location.coordinate_system",
            "location.accuracy_meters",
            "category"
        ]
    );
    // A bad longitude is named as the longitude, whatever the latitude.
    for longitude in [180.5, -181.0, f64::NAN, f64::INFINITY] {
        let status = app
            .reports(&token)
            .preview_routing(v1::PreviewRoutingRequest {
                location: Some(v1::Location {
                    latitude: 39.9,
                    longitude,
                    coordinate_system: v1::CoordinateSystem::Wgs84.into(),
                    accuracy_meters: 0.0,
                }),
                category: "categories/neighbour-dispute".to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            field_violations(&status),
            ["location.longitude"],
            "{longitude}"
        );
    }
    let status = app
        .reports(&token)
        .preview_routing(v1::PreviewRoutingRequest {
            location: Some(v1::Location {
                latitude: 40.0,
                longitude: 116.0,
                coordinate_system: v1::CoordinateSystem::Wgs84.into(),
                accuracy_meters: 0.0,
            }),
            category: "categories/unknown".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("unknown category unknown"),
        "{}",
        status.message()
    );
}

/// Two replicas on one database: an import through one reaches the other on its next refresh, and a refresh with nothing new rebuilds nothing.
#[tokio::test]
async fn a_replica_takes_up_another_replicas_import_when_it_refreshes() {
    use std::sync::Arc;

    use gridwhistle_dispatcher::{Clock, ManualClock};
    use gridwhistle_domain::Timestamp;
    use gridwhistle_server::routing::Routing;
    use gridwhistle_tests::database::{TestDatabase, backends};

    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let store = database.store().await;
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
            1_772_413_200_000,
        )));
        let first = Routing::load(store.clone(), clock.clone(), 30.0)
            .await
            .unwrap();
        let second = Routing::load(store.clone(), clock, 30.0).await.unwrap();
        assert!(
            !second.refresh().await.unwrap(),
            "{backend:?}: nothing new yet"
        );

        let imported = first
            .import_grids(grids(), None, false)
            .await
            .unwrap()
            .generation
            .unwrap()
            .id;
        assert_eq!(first.table().generation(), imported, "{backend:?}");
        assert_eq!(
            second.table().generation(),
            0,
            "{backend:?}: not yet refreshed"
        );

        assert!(second.refresh().await.unwrap(), "{backend:?}");
        assert_eq!(second.table().generation(), imported, "{backend:?}");
        assert!(
            !second.refresh().await.unwrap(),
            "{backend:?}: already current"
        );
        store.close().await.unwrap();
    }
}

/// A vertex two jurisdictions share, written with 17 significant digits: a parser without round-trip precision reads the longitude one unit in the last place too high and the latitude one too low.
const VERTEX: (&str, &str) = ("116.35393652414055", "39.009614406007435");

#[tokio::test]
async fn a_point_exactly_on_a_shared_vertex_routes_by_the_tie_break_as_imported() {
    use gridwhistle_tests::database::{TestDatabase, backends};
    for backend in backends() {
        let app = gridwhistle_tests::spawn_app_on(TestDatabase::create(backend).await).await;
        let token = district(&app).await;
        department(&app, &token, "police-sw", "police", false).await;
        department(&app, &token, "police-ne", "police", false).await;
        let (x, y) = VERTEX;
        // The vertex is the north-east corner of one square and the south-west corner of the other; the first is the smaller.
        let south_west =
            format!("[[[116.33,38.99],[{x},38.99],[{x},{y}],[116.33,{y}],[116.33,38.99]]]");
        let north_east = format!("[[[{x},{y}],[116.40,{y}],[116.40,39.05],[{x},39.05],[{x},{y}]]]");
        let imported = app
        .admin(&token)
        .import_jurisdictions(v1::ImportJurisdictionsRequest {
            geojson: collection(&[
                feature(
                    r#""department_id":"police-sw","department_type":"police","jurisdiction_id":"sw""#,
                    "Polygon",
                    &south_west,
                ),
                feature(
                    r#""department_id":"police-ne","department_type":"police","jurisdiction_id":"ne""#,
                    "Polygon",
                    &north_east,
                ),
            ]),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner();
        assert_eq!(imported.generation.unwrap().feature_count, 2);
        let lat: f64 = y.parse().unwrap();
        let lng: f64 = x.parse().unwrap();
        let decision = preview(&app, &token, lat, lng, v1::CoordinateSystem::Wgs84).await;
        assert_eq!(
            decision.rule(),
            v1::RoutingRule::TieBreak,
            "{}",
            decision.explanation
        );
        assert_eq!(decision.departments[0].department, "departments/police-sw");
        // And the stored boundary gives back exactly the coordinates sent.
        let routed = decision.routed_location.unwrap();
        assert_eq!((routed.latitude, routed.longitude), (lat, lng));
    }
}

#[tokio::test]
async fn a_changed_department_reaches_routing_on_every_replica_within_the_refresh_period() {
    use gridwhistle_server::ServerConfig;
    use gridwhistle_tests::database::{TestDatabase, backends};
    use gridwhistle_tests::{spawn_app_on, spawn_app_with};

    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let first = spawn_app_on(database.clone()).await;
        let mut config = ServerConfig::with_defaults(database.url().to_owned());
        config.routing_refresh = std::time::Duration::from_secs(1);
        let second = spawn_app_with(database.clone(), config).await;
        let token = district(&first).await;
        department(&first, &token, "street-office-2", "street_office", false).await;
        // The second replica takes up the import first.
        let lead = |d: &v1::RoutingDecision| d.departments[0].department.clone();
        let mut on_border = String::new();
        for _ in 0..500 {
            on_border = lead_at(&second, &token, 40.005, 116.010).await;
            if on_border == "departments/police-east" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            on_border, "departments/police-east",
            "{backend:?}: equal areas, the smaller id"
        );

        // police-west gets a higher priority and another department becomes the fallback owner.
        let mut admin = first.admin(&token);
        for (name, priority, fallback, paths) in [
            ("police-west", 5, false, vec!["routing_priority"]),
            ("street-office-2", 0, true, vec!["fallback_owner"]),
            ("district-office", 0, false, vec!["fallback_owner"]),
        ] {
            admin
                .update_department(v1::UpdateDepartmentRequest {
                    department: Some(v1::Department {
                        name: format!("departments/{name}"),
                        routing_priority: priority,
                        fallback_owner: fallback,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: paths.into_iter().map(str::to_owned).collect(),
                    }),
                })
                .await
                .unwrap();
        }
        // The replica that took the change routes by it at once.
        let decision = preview(&first, &token, 40.005, 116.010, v1::CoordinateSystem::Wgs84).await;
        assert_eq!(lead(&decision), "departments/police-west", "{backend:?}");
        let outside = preview(&first, &token, 40.1, 116.1, v1::CoordinateSystem::Wgs84).await;
        assert_eq!(lead(&outside), "departments/street-office-2", "{backend:?}");
        // The other within its refresh period.
        let mut seen = (String::new(), String::new());
        for _ in 0..500 {
            seen = (
                lead_at(&second, &token, 40.005, 116.010).await,
                lead_at(&second, &token, 40.1, 116.1).await,
            );
            if seen.0 == "departments/police-west" && seen.1 == "departments/street-office-2" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            seen,
            (
                "departments/police-west".to_owned(),
                "departments/street-office-2".to_owned()
            ),
            "{backend:?}"
        );
    }
}

/// The lead department `app` routes a neighbour dispute at a WGS-84 point to; empty while it cannot route yet.
async fn lead_at(app: &TestApp, token: &str, lat: f64, lng: f64) -> String {
    app.reports(token)
        .preview_routing(v1::PreviewRoutingRequest {
            location: Some(v1::Location {
                latitude: lat,
                longitude: lng,
                coordinate_system: v1::CoordinateSystem::Wgs84.into(),
                accuracy_meters: 5.0,
            }),
            category: "categories/neighbour-dispute".to_owned(),
        })
        .await
        .ok()
        .and_then(|r| r.into_inner().decision)
        .and_then(|d| d.departments.first().map(|l| l.department.clone()))
        .unwrap_or_default()
}
