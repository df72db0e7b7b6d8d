//! The sample district: an irregular outline with an enclave, about 300 grids (a Voronoi tessellation of jittered seeds, clipped to the outline) nested in communities and 10 streets, and eight department types with jurisdictions of their own shapes.

use geo::{BooleanOps, Coord, LineString, MultiPolygon, Polygon, unary_union};
use serde_json::{Value, json};

use crate::rng::Rng;
use crate::{Frame, feature, feature_collection};

/// Beijing, Chaoyang-like: the centre of the sample district.
pub const FRAME: Frame = Frame {
    lat0: 39.930,
    lng0: 116.480,
};

const STREETS: [(&str, &str); 10] = [
    ("jianwai", "建外街道"),
    ("hujialou", "呼家楼街道"),
    ("sanlitun", "三里屯街道"),
    ("tuanjiehu", "团结湖街道"),
    ("liulitun", "六里屯街道"),
    ("balizhuang", "八里庄街道"),
    ("shuangjing", "双井街道"),
    ("jinsong", "劲松街道"),
    ("panjiayuan", "潘家园街道"),
    ("maizidian", "麦子店街道"),
];

/// Everything the sample district consists of, as files.
#[derive(Debug)]
pub struct SampleDistrict {
    pub grids: Value,
    pub jurisdictions: Value,
    pub departments: Value,
    pub catalogue: Value,
    pub users: Value,
    pub grid_count: usize,
}

fn polygon(points: Vec<Coord<f64>>) -> Polygon<f64> {
    Polygon::new(LineString::new(points), vec![])
}

/// A closed blob of `n` vertices around `centre` with a radius that wanders smoothly.
fn blob(rng: &mut Rng, centre: Coord<f64>, radius: f64, wobble: f64, n: usize) -> Polygon<f64> {
    let phases: Vec<f64> = (0..3)
        .map(|_| rng.range(0.0, std::f64::consts::TAU))
        .collect();
    let points = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let r = radius
                * (1.0
                    + wobble * (2.0 * a + phases[0]).sin() * 0.5
                    + wobble * (3.0 * a + phases[1]).sin() * 0.3
                    + wobble * (5.0 * a + phases[2]).sin() * 0.2);
            Coord {
                x: centre.x + r * a.cos(),
                y: centre.y + r * a.sin(),
            }
        })
        .collect();
    polygon(points)
}

/// Clips a convex polygon to the half-plane of points nearer `a` than `b`.
fn clip_nearer(cell: Vec<Coord<f64>>, a: Coord<f64>, b: Coord<f64>) -> Vec<Coord<f64>> {
    let (nx, ny) = (b.x - a.x, b.y - a.y);
    let limit = (b.x * b.x + b.y * b.y - a.x * a.x - a.y * a.y) / 2.0;
    let side = |p: Coord<f64>| nx * p.x + ny * p.y - limit;
    let mut out = Vec::with_capacity(cell.len() + 1);
    for i in 0..cell.len() {
        let (p, q) = (cell[i], cell[(i + 1) % cell.len()]);
        let (sp, sq) = (side(p), side(q));
        if sp <= 0.0 {
            out.push(p);
        }
        if (sp <= 0.0) != (sq <= 0.0) {
            let t = sp / (sp - sq);
            out.push(Coord {
                x: p.x + t * (q.x - p.x),
                y: p.y + t * (q.y - p.y),
            });
        }
    }
    out
}

/// The Voronoi cells of `seeds`, each clipped to `area`.
fn voronoi(seeds: &[Coord<f64>], area: &MultiPolygon<f64>, extent: f64) -> Vec<MultiPolygon<f64>> {
    seeds
        .iter()
        .map(|&s| {
            let mut neighbours: Vec<Coord<f64>> =
                seeds.iter().copied().filter(|&o| o != s).collect();
            neighbours.sort_by(|a, b| {
                let d = |p: &Coord<f64>| (p.x - s.x).hypot(p.y - s.y);
                d(a).total_cmp(&d(b))
            });
            let mut cell = vec![
                Coord {
                    x: -extent,
                    y: -extent,
                },
                Coord {
                    x: extent,
                    y: -extent,
                },
                Coord {
                    x: extent,
                    y: extent,
                },
                Coord {
                    x: -extent,
                    y: extent,
                },
            ];
            // With jittered seeds a cell is bounded by its nearest few dozen neighbours.
            for &n in neighbours.iter().take(40) {
                cell = clip_nearer(cell, s, n);
            }
            let mut ring = cell;
            if let Some(&first) = ring.first() {
                ring.push(first);
            }
            clean(snap(polygon(ring).intersection(area)))
        })
        .collect()
}

/// Snaps every vertex to a 1 cm lattice, so edges that neighbouring cells share coincide exactly.
fn snap(shape: MultiPolygon<f64>) -> MultiPolygon<f64> {
    use geo::MapCoords;
    shape.map_coords(|c| Coord {
        x: (c.x * 100.0).round() / 100.0,
        y: (c.y * 100.0).round() / 100.0,
    })
}

/// Drops slivers left by floating-point unions: parts and holes under 10 m².
fn clean(shape: MultiPolygon<f64>) -> MultiPolygon<f64> {
    use geo::Area;
    let keep = |ring: &LineString<f64>| Polygon::new(ring.clone(), vec![]).unsigned_area() >= 10.0;
    MultiPolygon::new(
        shape
            .0
            .into_iter()
            .filter(|p| p.unsigned_area() >= 10.0)
            .map(|p| {
                let holes = p.interiors().iter().filter(|r| keep(r)).cloned().collect();
                Polygon::new(p.exterior().clone(), holes)
            })
            .collect(),
    )
}

fn nearest(seeds: &[Coord<f64>], p: Coord<f64>) -> usize {
    let d = |s: &Coord<f64>| (s.x - p.x).hypot(s.y - p.y);
    (0..seeds.len())
        .min_by(|&a, &b| d(&seeds[a]).total_cmp(&d(&seeds[b])))
        .unwrap_or(0)
}

fn seeds_in(rng: &mut Rng, area: &MultiPolygon<f64>, count: usize, extent: f64) -> Vec<Coord<f64>> {
    use geo::Contains;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let p = Coord {
            x: rng.range(-extent, extent),
            y: rng.range(-extent, extent),
        };
        if area.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn department(id: &str, name: &str, kind: &str, priority: i32, fallback: bool) -> Value {
    json!({"id": id, "display_name": name, "department_type": kind, "routing_priority": priority, "fallback_owner": fallback})
}

/// Builds the sample district from `seed`.
pub fn generate(seed: u64) -> SampleDistrict {
    use geo::Contains;
    let mut rng = Rng::new(seed);
    let extent = 7_000.0;
    let outline = blob(&mut rng, Coord { x: 0.0, y: 0.0 }, 4_600.0, 0.35, 48);
    // An enclave of another district inside this one: a hole every jurisdiction shares.
    let enclave = blob(
        &mut rng,
        Coord {
            x: 1_500.0,
            y: -1_200.0,
        },
        420.0,
        0.2,
        12,
    );
    let district =
        snap(MultiPolygon::new(vec![outline]).difference(&MultiPolygon::new(vec![enclave])));

    // Grids: a jittered lattice of seeds inside the district.
    let spacing = 440.0;
    let mut grid_seeds = Vec::new();
    let steps = (extent / spacing) as i32;
    for i in -steps..=steps {
        for j in -steps..=steps {
            let p = Coord {
                x: f64::from(i) * spacing + rng.range(-0.35, 0.35) * spacing,
                y: f64::from(j) * spacing + rng.range(-0.35, 0.35) * spacing,
            };
            if district.contains(&p) {
                grid_seeds.push(p);
            }
        }
    }
    let grid_cells = voronoi(&grid_seeds, &district, extent);

    let street_seeds = seeds_in(&mut rng, &district, STREETS.len(), extent * 0.6);
    let street_of: Vec<usize> = grid_seeds
        .iter()
        .map(|&p| nearest(&street_seeds, p))
        .collect();
    let mut grid_features = Vec::new();
    let mut street_cells: Vec<Vec<MultiPolygon<f64>>> = vec![Vec::new(); STREETS.len()];
    let mut grid_ids = Vec::new();
    for (s, (street_id, street_name)) in STREETS.iter().enumerate() {
        let members: Vec<usize> = (0..grid_seeds.len())
            .filter(|&g| street_of[g] == s && !grid_cells[g].0.is_empty())
            .collect();
        // Three communities per street, seeded at spread-out grids of the street.
        let community_seeds: Vec<Coord<f64>> = members
            .iter()
            .step_by((members.len() / 3).max(1))
            .take(3)
            .map(|&g| grid_seeds[g])
            .collect();
        let mut counters = [0usize; 3];
        for &g in &members {
            let c = nearest(&community_seeds, grid_seeds[g]);
            counters[c] += 1;
            let grid_id = format!("g-{street_id}-{}-{:02}", c + 1, counters[c]);
            let community = format!("{street_name}第{}社区", c + 1);
            grid_features.push(feature(
                json!({
                    "grid_id": grid_id,
                    "name": format!("{community}第{}网格", counters[c]),
                    "community": community,
                    "street": street_name,
                    "district": "示范区",
                }),
                &FRAME,
                &grid_cells[g],
            ));
            street_cells[s].push(grid_cells[g].clone());
            grid_ids.push(grid_id);
        }
    }

    let mut departments = vec![department(
        "district-office",
        "示范区综治中心",
        "district",
        0,
        true,
    )];
    let mut jurisdictions = Vec::new();
    let mut add = |departments: &mut Vec<Value>,
                   id: String,
                   name: String,
                   kind: &str,
                   priority: i32,
                   shape: &MultiPolygon<f64>| {
        departments.push(department(&id, &name, kind, priority, false));
        jurisdictions.push(feature(
            json!({"department_id": id, "department_type": kind, "jurisdiction_id": format!("{id}-area")}),
            &FRAME,
            shape,
        ));
    };
    for (s, (street_id, street_name)) in STREETS.iter().enumerate() {
        let shape = clean(unary_union(street_cells[s].iter()));
        add(
            &mut departments,
            format!("street-{street_id}"),
            (*street_name).to_owned(),
            "street_office",
            0,
            &shape,
        );
    }
    let own_shapes = |rng: &mut Rng, count: usize| -> Vec<MultiPolygon<f64>> {
        let seeds = seeds_in(rng, &district, count, extent * 0.7);
        voronoi(&seeds, &district, extent)
    };
    let police_names = [
        "建外派出所",
        "呼家楼派出所",
        "三里屯派出所",
        "团结湖派出所",
        "双井派出所",
        "潘家园派出所",
    ];
    for (i, shape) in own_shapes(&mut rng, police_names.len()).iter().enumerate() {
        add(
            &mut departments,
            format!("police-{:02}", i + 1),
            police_names[i].to_owned(),
            "police",
            0,
            shape,
        );
    }
    for (i, shape) in own_shapes(&mut rng, 4).iter().enumerate() {
        add(
            &mut departments,
            format!("justice-{:02}", i + 1),
            format!("第{}司法所", i + 1),
            "justice",
            0,
            shape,
        );
    }
    for (i, shape) in own_shapes(&mut rng, 5).iter().enumerate() {
        add(
            &mut departments,
            format!("urban-{:02}", i + 1),
            format!("城管执法第{}中队", i + 1),
            "urban_management",
            0,
            shape,
        );
    }
    // A key-area squad overlapping the ordinary squads around the centre; its priority wins there.
    let key_area = MultiPolygon::new(vec![blob(
        &mut rng,
        Coord {
            x: -300.0,
            y: 400.0,
        },
        1_100.0,
        0.15,
        24,
    )])
    .intersection(&district);
    add(
        &mut departments,
        "urban-key-area".to_owned(),
        "城管重点地区中队".to_owned(),
        "urban_management",
        10,
        &key_area,
    );
    for (i, shape) in own_shapes(&mut rng, 3).iter().enumerate() {
        add(
            &mut departments,
            format!("market-{:02}", i + 1),
            format!("市场监管第{}所", i + 1),
            "market_regulation",
            0,
            shape,
        );
    }
    // Human resources splits the district north and south along the centre's latitude.
    let north = polygon(vec![
        Coord { x: -extent, y: 0.0 },
        Coord { x: extent, y: 0.0 },
        Coord {
            x: extent,
            y: extent,
        },
        Coord {
            x: -extent,
            y: extent,
        },
        Coord { x: -extent, y: 0.0 },
    ]);
    add(
        &mut departments,
        "hr-north".to_owned(),
        "人社北部分局".to_owned(),
        "human_resources",
        0,
        &district.intersection(&north),
    );
    add(
        &mut departments,
        "hr-south".to_owned(),
        "人社南部分局".to_owned(),
        "human_resources",
        0,
        &district.difference(&north),
    );
    add(
        &mut departments,
        "housing".to_owned(),
        "区住建委".to_owned(),
        "housing",
        0,
        &district,
    );
    add(
        &mut departments,
        "ecology".to_owned(),
        "区生态环境局".to_owned(),
        "ecology_environment",
        0,
        &district,
    );

    let grid_count = grid_ids.len();
    let mut users = vec![
        json!({"username": "admin", "display_name": "区管理员", "role": "admin"}),
        json!({"username": "supervisor", "display_name": "区督办员", "role": "supervisor"}),
        json!({"username": "leader.politics", "display_name": "区委政法委书记", "role": "district_leader"}),
        json!({"username": "leader.deputy", "display_name": "副区长", "role": "district_leader"}),
    ];
    for d in &departments {
        let id = d["id"].as_str().unwrap_or_default();
        users.push(json!({"username": format!("duty.{id}"), "display_name": format!("{}值班员", d["display_name"].as_str().unwrap_or_default()), "role": "duty_officer", "department": id}));
        users.push(json!({"username": format!("head.{id}"), "display_name": format!("{}负责人", d["display_name"].as_str().unwrap_or_default()), "role": "department_head", "department": id}));
    }
    for grid in grid_ids.iter().step_by(30) {
        users.push(json!({"username": format!("worker.{grid}"), "display_name": format!("网格员 {grid}"), "role": "grid_worker", "grid": grid}));
    }

    SampleDistrict {
        grids: feature_collection(grid_features),
        jurisdictions: feature_collection(jurisdictions),
        departments: Value::Array(departments),
        catalogue: catalogue(),
        users: Value::Array(users),
        grid_count,
    }
}

/// Seventeen categories of Beijing and digital-urban-management practice.
fn catalogue() -> Value {
    let c = |id: &str, name: &str, lead: &str, assists: &[&str], grade: &str| json!({"id": id, "display_name": name, "lead": lead, "assists": assists, "default_grade": grade});
    json!({"categories": [
        c("land-acquisition", "征地拆迁", "street_office", &["housing", "justice"], "B"),
        c("labour-social-security", "劳动社保", "human_resources", &["street_office"], "C"),
        c("litigation-petition", "涉法涉诉", "justice", &["police", "street_office"], "B"),
        c("neighbour-dispute", "邻里纠纷", "street_office", &["police"], "C"),
        c("safety-hazard", "安全隐患", "street_office", &["housing", "urban_management"], "A"),
        c("illegal-construction", "违法建设", "urban_management", &["housing", "street_office"], "B"),
        c("environmental-pollution", "环境污染", "ecology_environment", &["urban_management"], "B"),
        c("city-appearance", "市容环境", "urban_management", &[], "C"),
        c("property-dispute", "物业纠纷", "housing", &["street_office"], "C"),
        c("wage-arrears", "欠薪", "human_resources", &["police", "justice"], "B"),
        c("food-safety", "食品安全", "market_regulation", &[], "A"),
        c("consumer-dispute", "消费纠纷", "market_regulation", &["street_office"], "C"),
        c("public-order", "治安隐患", "police", &["street_office"], "B"),
        c("family-dispute", "家庭纠纷", "street_office", &["justice", "police"], "C"),
        c("noise-nuisance", "噪音扰民", "ecology_environment", &["police", "urban_management"], "C"),
        c("street-vending", "占道经营", "urban_management", &["market_regulation"], "C"),
        c("group-rental", "群租房", "housing", &["police", "street_office"], "B"),
    ]})
}

#[cfg(test)]
mod tests {
    use geo::{MultiPolygon, Validation};

    use super::*;

    /// Reads a GeoJSON MultiPolygon back as geo shapes, in degrees, as the importer will see it.
    fn shape(geometry: &Value) -> MultiPolygon<f64> {
        crate::multipolygon_from_geojson(&geometry["coordinates"]).expect("well-formed coordinates")
    }

    #[test]
    fn every_generated_shape_is_valid_and_the_district_is_the_right_size() {
        let district = generate(2026);
        assert!(
            (250..=400).contains(&district.grid_count),
            "{}",
            district.grid_count
        );
        for collection in [&district.grids, &district.jurisdictions] {
            for (i, f) in collection["features"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
            {
                let problems = shape(&f["geometry"]).validation_errors();
                assert!(
                    problems.is_empty(),
                    "feature {i} {}: {problems:?}",
                    f["properties"]
                );
            }
        }
        assert!(district.catalogue["categories"].as_array().unwrap().len() >= 15);
    }
}
