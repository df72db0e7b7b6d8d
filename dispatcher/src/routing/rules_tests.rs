//! Routing decisions on a small district drawn by hand, one snapshot per rule and edge case.

use std::fmt::Write as _;

use expect_test::{Expect, expect};
use geo::{LineString, MultiPolygon, Polygon};

use super::*;
use crate::routing::coords::{gcj02_to_bd09, wgs84_to_gcj02};

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> LineString<f64> {
    LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
}

fn area(polygons: Vec<Polygon<f64>>) -> PreparedArea {
    PreparedArea::new(MultiPolygon::new(polygons)).unwrap()
}

fn unit(
    id: &str,
    dept: &str,
    kind: &str,
    priority: i32,
    polygons: Vec<Polygon<f64>>,
) -> Jurisdiction {
    Jurisdiction {
        id: id.to_owned(),
        department: DepartmentId::parse(dept).unwrap(),
        department_type: DepartmentType::parse(kind).unwrap(),
        priority,
        area: area(polygons),
    }
}

fn category(id: &str, lead: &str, assists: &[&str]) -> CategoryRule {
    CategoryRule {
        id: CategoryId::parse(id).unwrap(),
        display_name: id.to_owned(),
        lead: DepartmentType::parse(lead).unwrap(),
        assists: assists
            .iter()
            .map(|a| DepartmentType::parse(a).unwrap())
            .collect(),
        default_grade: RiskGrade::C,
    }
}

/// Police precincts share a border at 116.010; housing is a MultiPolygon with a hole; street offices overlap.
fn district() -> RoutingTable {
    let square = |x0, y0, x1, y1| Polygon::new(rect(x0, y0, x1, y1), vec![]);
    RoutingTable::build(RoutingInput {
        generation: 7,
        grids: vec![
            GridArea {
                id: GridId::parse("g-1").unwrap(),
                area: area(vec![square(116.000, 40.000, 116.010, 40.010)]),
            },
            GridArea {
                id: GridId::parse("g-2").unwrap(),
                area: area(vec![square(116.010, 40.000, 116.020, 40.010)]),
            },
        ],
        jurisdictions: vec![
            unit(
                "p-west",
                "police-west",
                "police",
                0,
                vec![square(116.000, 40.000, 116.010, 40.010)],
            ),
            unit(
                "p-east",
                "police-east",
                "police",
                0,
                vec![square(116.010, 40.000, 116.020, 40.010)],
            ),
            unit(
                "h-all",
                "housing",
                "housing",
                0,
                vec![
                    Polygon::new(
                        rect(116.000, 40.000, 116.010, 40.010),
                        vec![rect(116.004, 40.004, 116.006, 40.006)],
                    ),
                    square(116.030, 40.000, 116.040, 40.010),
                ],
            ),
            unit(
                "s-a",
                "street-a",
                "street_office",
                0,
                vec![square(116.000, 40.000, 116.015, 40.010)],
            ),
            unit(
                "s-b",
                "street-b",
                "street_office",
                5,
                vec![square(116.005, 40.000, 116.020, 40.010)],
            ),
            unit(
                "s-c",
                "street-c",
                "street_office",
                0,
                vec![square(116.001, 40.001, 116.003, 40.003)],
            ),
        ],
        catalogue: vec![
            category("public-security", "police", &[]),
            category("neighbour-dispute", "street_office", &["police"]),
            category(
                "illegal-construction",
                "housing",
                &["street_office", "police"],
            ),
        ],
        fallback: Some(DepartmentId::parse("district-office").unwrap()),
        near_border_m: 20.0,
    })
}

fn render(decision: &Decision) -> String {
    let mut out = format!(
        "generation={} rule={:?} supervisor={} near_border={} distance={} grid={}\n",
        decision.generation,
        decision.rule,
        decision.needs_supervisor,
        decision.near_border,
        decision
            .border_distance_m
            .map_or("none".to_owned(), |d| format!("{d:.1}")),
        decision.grid.as_ref().map_or("none", |g| g.as_str()),
    );
    for s in &decision.summoned {
        let _ = writeln!(
            out,
            "  {:?} {} {} via {}",
            s.role,
            s.department_type.as_str(),
            s.department,
            s.jurisdiction.as_deref().unwrap_or("fallback")
        );
    }
    let _ = writeln!(out, "  why: {}", decision.explanation);
    out
}

fn check(
    lat: f64,
    lng: f64,
    system: CoordinateSystem,
    accuracy_m: f64,
    category: &str,
    expect: Expect,
) {
    let table = district();
    let position = Position {
        point: GeoPoint::new(lat, lng).unwrap(),
        system,
        accuracy_m,
    };
    let decision = table
        .route(position, &CategoryId::parse(category).unwrap())
        .unwrap();
    expect.assert_eq(&render(&decision));
}

use CoordinateSystem::Wgs84;

#[test]
fn an_interior_point_goes_to_the_one_covering_unit() {
    check(
        40.005,
        116.0025,
        Wgs84,
        0.0,
        "public-security",
        expect![[r#"
        generation=7 rule=SingleCover supervisor=false near_border=false distance=213.2 grid=g-1
          Lead police police-west via p-west
          why: lead police: police-west by jurisdiction p-west (1 covering)
    "#]],
    );
}

#[test]
fn a_point_on_a_shared_border_is_broken_by_stable_id_when_priority_and_area_tie() {
    check(
        40.005,
        116.010,
        Wgs84,
        0.0,
        "public-security",
        expect![[r#"
        generation=7 rule=TieBreak supervisor=false near_border=true distance=0.0 grid=g-1
          Lead police police-east via p-east
          why: lead police: police-east by jurisdiction p-east (2 covering); near a border (0.0 m, threshold 20.0 m)
    "#]],
    );
}

#[test]
fn a_shared_vertex_is_covered_by_both_units() {
    check(
        40.010,
        116.010,
        Wgs84,
        0.0,
        "public-security",
        expect![[r#"
        generation=7 rule=TieBreak supervisor=false near_border=true distance=0.0 grid=g-1
          Lead police police-east via p-east
          why: lead police: police-east by jurisdiction p-east (2 covering); near a border (0.0 m, threshold 20.0 m)
    "#]],
    );
}

#[test]
fn a_point_in_a_hole_falls_back_and_flags_a_supervisor() {
    check(
        40.005,
        116.0055,
        Wgs84,
        0.0,
        "illegal-construction",
        expect![[r#"
        generation=7 rule=Fallback supervisor=true near_border=false distance=42.6 grid=g-1
          Lead housing district-office via fallback
          Assist street_office street-b via s-b
          Assist police police-west via p-west
          why: lead housing: no unit covers the point; fallback owner district-office; assist street_office: street-b by jurisdiction s-b (2 covering); assist police: police-west by jurisdiction p-west (1 covering)
    "#]],
    );
}

#[test]
fn the_second_part_of_a_multipolygon_covers_too() {
    check(
        40.005,
        116.035,
        Wgs84,
        0.0,
        "illegal-construction",
        expect![[r#"
        generation=7 rule=SingleCover supervisor=false near_border=false distance=426.3 grid=none
          Lead housing housing via h-all
          why: lead housing: housing by jurisdiction h-all (1 covering); assist street_office: no unit covers the point; assist police: no unit covers the point
    "#]],
    );
}

#[test]
fn overlapping_units_go_to_the_higher_priority() {
    check(
        40.005,
        116.012,
        Wgs84,
        0.0,
        "neighbour-dispute",
        expect![[r#"
        generation=7 rule=TieBreak supervisor=false near_border=false distance=170.5 grid=g-2
          Lead street_office street-b via s-b
          Assist police police-east via p-east
          why: lead street_office: street-b by jurisdiction s-b (2 covering); assist police: police-east by jurisdiction p-east (1 covering)
    "#]],
    );
}

#[test]
fn overlapping_units_of_equal_priority_go_to_the_smaller_area() {
    check(
        40.002,
        116.002,
        Wgs84,
        0.0,
        "neighbour-dispute",
        expect![[r#"
        generation=7 rule=TieBreak supervisor=false near_border=false distance=85.3 grid=g-1
          Lead street_office street-c via s-c
          Assist police police-west via p-west
          why: lead street_office: street-c by jurisdiction s-c (2 covering); assist police: police-west by jurisdiction p-west (1 covering)
    "#]],
    );
}

#[test]
fn a_point_within_the_threshold_of_a_border_is_flagged_with_the_distance() {
    check(
        40.005,
        116.0099,
        Wgs84,
        0.0,
        "public-security",
        expect![[r#"
        generation=7 rule=SingleCover supervisor=false near_border=true distance=8.5 grid=g-1
          Lead police police-west via p-west
          why: lead police: police-west by jurisdiction p-west (1 covering); near a border (8.5 m, threshold 20.0 m)
    "#]],
    );
}

#[test]
fn an_accuracy_circle_crossing_a_border_is_flagged() {
    check(
        40.005,
        116.0095,
        Wgs84,
        60.0,
        "public-security",
        expect![[r#"
        generation=7 rule=SingleCover supervisor=false near_border=true distance=42.6 grid=g-1
          Lead police police-west via p-west
          why: lead police: police-west by jurisdiction p-west (1 covering); near a border (42.6 m, threshold 60.0 m)
    "#]],
    );
}

#[test]
fn a_point_outside_everything_goes_to_the_fallback_owner() {
    check(
        40.05,
        116.05,
        Wgs84,
        0.0,
        "public-security",
        expect![[r#"
        generation=7 rule=Fallback supervisor=true near_border=false distance=none grid=none
          Lead police district-office via fallback
          why: lead police: no unit covers the point; fallback owner district-office
    "#]],
    );
}

#[test]
fn gcj02_and_bd09_input_is_converted_before_routing() {
    let (g_lat, g_lng) = wgs84_to_gcj02(40.005, 116.007);
    let (b_lat, b_lng) = gcj02_to_bd09(g_lat, g_lng);
    check(
        40.005,
        116.007,
        Wgs84,
        0.0,
        "public-security",
        expect![[r#"
        generation=7 rule=SingleCover supervisor=false near_border=false distance=255.8 grid=g-1
          Lead police police-west via p-west
          why: lead police: police-west by jurisdiction p-west (1 covering)
    "#]],
    );
    // Taken as WGS-84, the GCJ-02 reading is about 500 m east: in the wrong precinct.
    check(
        g_lat,
        g_lng,
        Wgs84,
        0.0,
        "public-security",
        expect![[r#"
        generation=7 rule=SingleCover supervisor=false near_border=false distance=269.9 grid=g-2
          Lead police police-east via p-east
          why: lead police: police-east by jurisdiction p-east (1 covering)
    "#]],
    );
    check(
        g_lat,
        g_lng,
        CoordinateSystem::Gcj02,
        0.0,
        "public-security",
        expect![[r#"
        generation=7 rule=SingleCover supervisor=false near_border=false distance=255.8 grid=g-1
          Lead police police-west via p-west
          why: lead police: police-west by jurisdiction p-west (1 covering)
    "#]],
    );
    check(
        b_lat,
        b_lng,
        CoordinateSystem::Bd09,
        0.0,
        "public-security",
        expect![[r#"
        generation=7 rule=SingleCover supervisor=false near_border=false distance=255.8 grid=g-1
          Lead police police-west via p-west
          why: lead police: police-west by jurisdiction p-west (1 covering)
    "#]],
    );
}

#[test]
fn an_unknown_category_is_an_error() {
    let position = Position {
        point: GeoPoint::new(40.005, 116.005).unwrap(),
        system: Wgs84,
        accuracy_m: 0.0,
    };
    let unknown = CategoryId::parse("unknown").unwrap();
    assert_eq!(
        district().route(position, &unknown),
        Err(RoutingError::UnknownCategory(unknown.clone()))
    );
}

#[test]
fn a_returned_department_is_skipped_for_the_next_covering_unit_then_the_fallback() {
    let table = district();
    let position = Position {
        point: GeoPoint::new(40.005, 116.010).unwrap(),
        system: Wgs84,
        accuracy_m: 0.0,
    };
    let category = CategoryId::parse("public-security").unwrap();
    let route = |excluded: &[&str]| {
        let excluded: Vec<DepartmentId> = excluded
            .iter()
            .map(|d| DepartmentId::parse(d).unwrap())
            .collect();
        render(
            &table
                .route_excluding(position, &category, &excluded)
                .unwrap(),
        )
    };
    expect![[r#"
        generation=7 rule=SingleCover supervisor=false near_border=true distance=0.0 grid=g-1
          Lead police police-west via p-west
          why: lead police: police-west by jurisdiction p-west (1 covering); near a border (0.0 m, threshold 20.0 m)
    "#]].assert_eq(&route(&["police-east"]));
    expect![[r#"
        generation=7 rule=Fallback supervisor=true near_border=true distance=0.0 grid=g-1
          Lead police district-office via fallback
          why: lead police: no unit covers the point; fallback owner district-office; near a border (0.0 m, threshold 20.0 m)
    "#]].assert_eq(&route(&["police-east", "police-west"]));
    expect![[r#"
        generation=7 rule=Fallback supervisor=true near_border=true distance=0.0 grid=g-1
          why: lead police: no unit covers the point and no fallback owner is left; near a border (0.0 m, threshold 20.0 m)
    "#]].assert_eq(&route(&["police-east", "police-west", "district-office"]));
}
