//! The sample district: `serve --demo` loads it into an empty database, and routing in it names the departments an independent geometry check expects.

use geo::{Contains, Coord, InteriorPoint, MultiPolygon};
use gridwhistle_proto::v1;
use gridwhistle_server::ServerConfig;
use gridwhistle_tests::database::{Backend, TestDatabase};
use gridwhistle_tests::{TestApp, spawn_app_with};
use serde_json::Value;

const GRIDS: &str = include_str!("../../server/demo/grids.geojson");
const JURISDICTIONS: &str = include_str!("../../server/demo/jurisdictions.geojson");
const DEPARTMENTS: &str = include_str!("../../server/demo/departments.json");

fn shape(geometry: &Value) -> MultiPolygon<f64> {
    gridwhistle_sample::multipolygon_from_geojson(&geometry["coordinates"])
        .expect("well-formed coordinates")
}

/// The departments of `department_type` whose jurisdiction strictly contains the point, by geo alone.
fn containing(jurisdictions: &Value, department_type: &str, point: Coord<f64>) -> Vec<String> {
    jurisdictions["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["department_type"] == department_type)
        .filter(|f| shape(&f["geometry"]).contains(&point))
        .map(|f| {
            format!(
                "departments/{}",
                f["properties"]["department_id"].as_str().unwrap()
            )
        })
        .collect()
}

/// Where a 治安隐患 (public-order) report at a WGS-84 point would go.
async fn public_order(app: &TestApp, token: &str, lat: f64, lng: f64) -> v1::RoutingDecision {
    app.reports(token)
        .preview_routing(v1::PreviewRoutingRequest {
            location: Some(v1::Location {
                latitude: lat,
                longitude: lng,
                coordinate_system: v1::CoordinateSystem::Wgs84.into(),
                accuracy_meters: 0.0,
            }),
            category: "categories/public-order".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .decision
        .unwrap()
}

#[tokio::test]
async fn the_demo_district_loads_on_a_fresh_start_and_routes_to_the_right_departments() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut config = ServerConfig::with_defaults(database.url().to_owned());
    config.demo = true;
    let app = spawn_app_with(database, config).await;
    let token = app
        .login("supervisor", gridwhistle_server::demo::DEMO_PASSWORD)
        .await
        .access_token;

    let grids: Value = serde_json::from_str(GRIDS).unwrap();
    let jurisdictions: Value = serde_json::from_str(JURISDICTIONS).unwrap();
    let departments: Value = serde_json::from_str(DEPARTMENTS).unwrap();
    let street_department = |street: &str| {
        departments
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["display_name"] == street)
            .map(|d| format!("departments/{}", d["id"].as_str().unwrap()))
            .unwrap()
    };

    // Every 17th grid: an interior point of it must route to the grid, its street and the police unit around it.
    let features = grids["features"].as_array().unwrap();
    let mut checked = 0;
    for grid in features.iter().step_by(17) {
        let point = shape(&grid["geometry"]).interior_point().unwrap();
        let decision = public_order(&app, &token, point.y(), point.x()).await;
        let grid_id = grid["properties"]["grid_id"].as_str().unwrap();
        assert_eq!(decision.grid, format!("grids/{grid_id}"));
        assert_eq!(decision.generation, 2);
        let police = containing(&jurisdictions, "police", point.into());
        if police.len() == 1 {
            assert_eq!(
                decision.departments[0].department, police[0],
                "grid {grid_id}"
            );
            assert_eq!(decision.departments[0].role(), v1::AssignmentRole::Lead);
        }
        let street = street_department(grid["properties"]["street"].as_str().unwrap());
        assert_eq!(decision.departments[1].department, street, "grid {grid_id}");
        assert_eq!(decision.departments[1].role(), v1::AssignmentRole::Assist);
        checked += 1;
    }
    assert!(checked >= 15);

    // In the enclave (a hole every jurisdiction shares) nothing covers: the fallback owner and a supervisor.
    let lat = 39.930 + -1_200.0 / 110_574.0;
    let lng = 116.480 + 1_500.0 / (111_320.0 * 39.930_f64.to_radians().cos());
    let enclave = public_order(&app, &token, lat, lng).await;
    assert_eq!(
        enclave.departments[0].department,
        "departments/district-office"
    );
    assert!(enclave.needs_supervisor);
    assert_eq!(enclave.grid, "");
    app.stop().await.unwrap();
}
