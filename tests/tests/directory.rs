//! The read-only directory over gRPC in the sample district: categories, departments, user cards that turn a timeline's ids into names, and each caller's own area.

use std::collections::BTreeSet;

use gridwhistle_proto::v1;
use gridwhistle_tests::database::backends;
use gridwhistle_tests::district::{District, duty_officer};
use tonic::Code;
use tonic_types::StatusExt;

const WORKER: &str = "worker.g-jianwai-1-01";

/// A GetMyArea answer's features, each as its properties.
fn features(area: &v1::GetMyAreaResponse) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let collection: serde_json::Value =
        serde_json::from_str(&area.geojson).expect("the area is JSON");
    assert_eq!(collection["type"], "FeatureCollection");
    collection["features"]
        .as_array()
        .expect("a feature list")
        .iter()
        .map(|f| {
            assert!(
                f["geometry"]["coordinates"].is_array(),
                "a feature has its geometry"
            );
            f["properties"].as_object().expect("properties").clone()
        })
        .collect()
}

async fn area(district: &District, username: &str) -> v1::GetMyAreaResponse {
    layer(district, username, v1::AreaLayer::Unspecified).await
}

async fn layer(district: &District, username: &str, layer: v1::AreaLayer) -> v1::GetMyAreaResponse {
    district
        .app
        .directory(&district.token(username).await)
        .get_my_area(v1::GetMyAreaRequest {
            layer: layer.into(),
        })
        .await
        .expect("every role reads its area")
        .into_inner()
}

#[tokio::test]
async fn every_id_in_a_timeline_resolves_to_a_name_and_each_caller_sees_its_own_area() {
    for backend in backends() {
        let district = District::start(backend).await;
        let worker = district.token(WORKER).await;
        let mut directory = district.app.directory(&worker);

        // The grid worker's category picker.
        let categories = directory
            .list_categories(v1::ListCategoriesRequest {})
            .await
            .unwrap()
            .into_inner();
        assert!(categories.catalogue_version > 0);
        let dispute = categories
            .categories
            .iter()
            .find(|c| c.name == "categories/neighbour-dispute")
            .expect("the demo catalogue has neighbour disputes");
        assert!(!dispute.display_name.is_empty());
        assert!(!dispute.lead_department_type.is_empty());

        // A case worked by its departments: its timeline names users and departments.
        let (_, case) = district.whistle_dispute(v1::RiskGrade::Unspecified).await;
        let lead = case.assignments[0].department.clone();
        let duty = duty_officer(&lead);
        district
            .app
            .cases(&district.token(&duty).await)
            .report_in(v1::ReportInRequest {
                name: case.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let timeline = district.case_as("supervisor", &case.name).await.timeline;
        let users: BTreeSet<String> = timeline
            .iter()
            .map(|e| e.actor.clone())
            .filter(|a| !a.is_empty())
            .collect();
        let departments: BTreeSet<String> = timeline
            .iter()
            .map(|e| e.department.clone())
            .filter(|d| !d.is_empty())
            .chain(case.assignments.iter().map(|a| a.department.clone()))
            .collect();
        assert!(users.len() >= 2, "the author and the duty officer acted");

        let mut known = BTreeSet::new();
        let mut page_token = String::new();
        loop {
            let page = directory
                .list_directory_departments(v1::ListDirectoryDepartmentsRequest {
                    page_size: 3,
                    page_token,
                })
                .await
                .unwrap()
                .into_inner();
            for d in page.departments {
                assert!(!d.display_name.is_empty() && !d.department_type.is_empty());
                known.insert(d.name);
            }
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        assert!(
            departments.is_subset(&known),
            "{departments:?} not all in {known:?}"
        );

        let names: Vec<String> = users.iter().cloned().collect();
        let cards = directory
            .batch_get_user_cards(v1::BatchGetUserCardsRequest {
                names: names.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .cards;
        assert_eq!(
            cards.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            names
        );
        let duty_name = district.user_name(&duty).await;
        let author_name = district.user_name(WORKER).await;
        let duty_card = cards
            .iter()
            .find(|c| c.name == duty_name)
            .expect("the duty officer's card");
        assert_eq!(duty_card.role(), v1::Role::DutyOfficer);
        assert_eq!(duty_card.unit, lead);
        assert!(!duty_card.display_name.is_empty());
        let author_card = cards
            .iter()
            .find(|c| c.name == author_name)
            .expect("the author's card");
        assert_eq!(author_card.unit, "grids/g-jianwai-1-01");

        // A user that does not exist is named; a malformed name is a field violation.
        let missing = format!("users/{}", uuid::Uuid::now_v7());
        let status = directory
            .batch_get_user_cards(v1::BatchGetUserCardsRequest {
                names: vec![names[0].clone(), missing.clone()],
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), format!("{missing} not found"));
        let status = directory
            .batch_get_user_cards(v1::BatchGetUserCardsRequest {
                names: vec![names[0].clone(), "departments/police".to_owned()],
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<String> = status
            .get_details_bad_request()
            .expect("field violations")
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["names[1]"]);

        // Areas: the worker's grid, the department's jurisdictions, the district's grids.
        let mine = area(&district, WORKER).await;
        assert!(mine.generation > 0);
        let grid = features(&mine);
        assert_eq!(grid.len(), 1);
        assert_eq!(grid[0]["grid_id"], "g-jianwai-1-01");
        let jurisdictions = features(&area(&district, &duty).await);
        assert!(!jurisdictions.is_empty());
        let lead_id = lead.trim_start_matches("departments/");
        assert!(jurisdictions.iter().all(|f| f["department_id"] == lead_id));
        let district_grids = features(&area(&district, "supervisor").await);
        assert!(district_grids.len() > 1);
        assert!(
            district_grids
                .iter()
                .any(|f| f["grid_id"] == "g-sanlitun-3-01")
        );

        // The district's map of jurisdictions: every department's, each feature naming its department.
        let all = features(&layer(&district, "supervisor", v1::AreaLayer::Jurisdictions).await);
        let owners: BTreeSet<&str> = all
            .iter()
            .map(|f| f["department_id"].as_str().expect("a department id"))
            .collect();
        assert!(owners.contains(lead_id) && owners.len() > 10);
        assert!(all.iter().all(|f| !f.contains_key("grid_id")));
        let leader = layer(&district, "leader.deputy", v1::AreaLayer::Jurisdictions).await;
        assert_eq!(features(&leader).len(), all.len());
        // The layer does not widen anyone's own area.
        let own = features(&layer(&district, &duty, v1::AreaLayer::Jurisdictions).await);
        assert_eq!(own, jurisdictions);
        let grid = features(&layer(&district, WORKER, v1::AreaLayer::Jurisdictions).await);
        assert_eq!(grid.len(), 1);
        let unknown = district
            .app
            .directory(&district.token("supervisor").await)
            .get_my_area(v1::GetMyAreaRequest { layer: 7 })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), Code::InvalidArgument);
        assert_eq!(
            unknown.get_details_bad_request().unwrap().field_violations[0].field,
            "layer"
        );
    }
}
