//! `routing-bench`: routing lookups per second and latency for our index, PostGIS `ST_Covers` on a GiST index, and a linear scan, over the same polygons in one run; plus index build time and memory.
//!
//! Datasets: the sample district and synthetic polygons (50,000 of up to 1,000 vertices by default). PostGIS needs `bench/setup-postgis.sh` once and a database URL (`--postgres-url` or `TEST_DATABASE_URL`); without one its rows are skipped.
#![allow(clippy::print_stdout, reason = "the benchmark's report is its output")]

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use geo::{Intersects, MultiPolygon};
use gridwhistle_dispatcher::routing::index::{PreparedArea, prepare_all};
use gridwhistle_dispatcher::routing::rules::{
    CategoryRule, Jurisdiction, Position, RoutingInput, RoutingTable,
};
use gridwhistle_domain::{
    CategoryId, CoordinateSystem, DepartmentId, DepartmentType, GeoPoint, RiskGrade,
};
use hdrhistogram::Histogram;
use sea_orm::sqlx::{self, Row, postgres::PgPoolOptions};

/// Routing lookups per second: our index against PostGIS `ST_Covers` and a linear scan, over the same polygons.
#[derive(Debug, Parser)]
#[command(name = "routing-bench")]
struct Args {
    /// How many synthetic polygons to generate.
    #[arg(long, default_value_t = 50_000)]
    synthetic: usize,
    /// The most vertices a synthetic polygon has.
    #[arg(long, default_value_t = 1_000)]
    max_vertices: usize,
    /// Lookups through our index, per dataset.
    #[arg(long, default_value_t = 1_000_000)]
    lookups: usize,
    /// Lookups through PostGIS, per dataset.
    #[arg(long, default_value_t = 5_000)]
    postgis_lookups: usize,
    /// Lookups by linear scan, per dataset.
    #[arg(long, default_value_t = 50)]
    linear_lookups: usize,
    /// A PostgreSQL server with PostGIS (`bench/setup-postgis.sh`); without one the PostGIS rows are skipped.
    #[arg(long, env = "TEST_DATABASE_URL")]
    postgres_url: Option<String>,
}

/// Resident memory of this process, in bytes.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

struct Dataset {
    name: &'static str,
    /// Jurisdiction id, department, department type, shape.
    units: Vec<(String, DepartmentId, DepartmentType, MultiPolygon<f64>)>,
    points: Vec<(f64, f64)>,
    catalogue: Vec<CategoryRule>,
    category: CategoryId,
}

fn police() -> DepartmentType {
    DepartmentType::parse("police").unwrap_or_else(|_| unreachable!("a valid type code"))
}

fn sample_dataset(lookups: usize) -> anyhow::Result<Dataset> {
    let district = gridwhistle_sample::district::generate(2026);
    let mut units = Vec::new();
    for f in district.jurisdictions["features"]
        .as_array()
        .context("features")?
    {
        let id = f["properties"]["department_id"]
            .as_str()
            .context("department_id")?;
        let kind = f["properties"]["department_type"]
            .as_str()
            .context("department_type")?;
        let shape = gridwhistle_sample::multipolygon_from_geojson(&f["geometry"]["coordinates"])
            .context("coordinates")?;
        units.push((
            format!("{id}-area"),
            DepartmentId::parse(id)?,
            DepartmentType::parse(kind)?,
            shape,
        ));
    }
    let catalogue_text = serde_json::to_string(&district.catalogue)?;
    let catalogue = gridwhistle_server::routing::catalogue_file::parse(&catalogue_text)
        .map_err(anyhow::Error::msg)?;
    // Points over the district's bounding box, some outside it.
    let points = gridwhistle_sample::synthetic::points(250, lookups, 7);
    Ok(Dataset {
        name: "sample",
        units,
        points,
        catalogue,
        // 治安隐患: police leads, the street office assists.
        category: CategoryId::parse("public-order")?,
    })
}

fn synthetic_dataset(count: usize, max_vertices: usize, lookups: usize) -> anyhow::Result<Dataset> {
    let dept = DepartmentId::parse("synthetic")?;
    let units = gridwhistle_sample::synthetic::polygons(count, max_vertices, 11)
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            (
                format!("u{i}"),
                dept.clone(),
                police(),
                MultiPolygon::new(vec![p]),
            )
        })
        .collect();
    let category = CategoryId::parse("public-order")?;
    Ok(Dataset {
        name: "synthetic",
        units,
        points: gridwhistle_sample::synthetic::points(count, lookups, 13),
        catalogue: vec![CategoryRule {
            id: category.clone(),
            display_name: "治安隐患".to_owned(),
            lead: police(),
            assists: Vec::new(),
            default_grade: RiskGrade::B,
        }],
        category,
    })
}

fn percentile_line(h: &Histogram<u64>, unit: &str) -> String {
    format!(
        "p50={}{unit} p99={}{unit} max={}{unit}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max()
    )
}

fn run_dataset(
    args: &Args,
    data: Dataset,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let vertices: usize = data
        .units
        .iter()
        .map(|(_, _, _, s)| s.0.iter().map(|p| p.exterior().0.len()).sum::<usize>())
        .sum();
    println!(
        "dataset={} polygons={} vertices={vertices} lookups={}",
        data.name,
        data.units.len(),
        data.points.len()
    );
    let linear_shapes: Vec<MultiPolygon<f64>> =
        data.units.iter().map(|(_, _, _, s)| s.clone()).collect();

    // The copy the index consumes is made before the clock starts: the build time is preparation alone.
    let shapes: Vec<MultiPolygon<f64>> = data.units.iter().map(|(_, _, _, s)| s.clone()).collect();
    let before = resident_bytes();
    let started = Instant::now();
    let prepared = prepare_all(shapes);
    let prepare = started.elapsed();
    let jurisdictions: Vec<Jurisdiction> = data
        .units
        .iter()
        .zip(prepared)
        .filter_map(|((id, dept, kind, _), area)| {
            Some(Jurisdiction {
                id: id.clone(),
                department: dept.clone(),
                department_type: kind.clone(),
                priority: 0,
                area: area?,
            })
        })
        .collect();
    let category = data.category.clone();
    let table = RoutingTable::build(RoutingInput {
        generation: 1,
        grids: Vec::new(),
        jurisdictions,
        catalogue: data.catalogue.clone(),
        fallback: Some(DepartmentId::parse("district-office")?),
        near_border_m: 30.0,
    });
    let build = started.elapsed();
    let memory = resident_bytes().saturating_sub(before);
    println!(
        "  index build={:.0}ms (prepare polygons {:.0}ms, index them {:.0}ms) memory growth={:.1}MB ({:.0} bytes per vertex; single-ring vertices are moved in, not copied)",
        build.as_secs_f64() * 1e3,
        prepare.as_secs_f64() * 1e3,
        (build - prepare).as_secs_f64() * 1e3,
        memory as f64 / 1e6,
        memory as f64 / vertices.max(1) as f64
    );

    let positions: Vec<Position> = data
        .points
        .iter()
        .filter_map(|&(lat, lng)| {
            Some(Position {
                point: GeoPoint::new(lat, lng).ok()?,
                system: CoordinateSystem::Wgs84,
                accuracy_m: 0.0,
            })
        })
        .collect();

    // Throughput: a tight loop on one core; latency: each lookup timed on its own.
    let started = Instant::now();
    let mut routed = 0usize;
    for p in &positions {
        if table.route(*p, &category).is_ok() {
            routed += 1;
        }
    }
    let route_rate = positions.len() as f64 / started.elapsed().as_secs_f64();
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)?;
    for p in positions.iter().take(200_000) {
        let t = Instant::now();
        let decision = table.route(*p, &category);
        h.saturating_record(t.elapsed().as_nanos() as u64);
        std::hint::black_box(decision.is_ok());
    }
    println!(
        "  engine=index-route   throughput={route_rate:>12.0}/s {} (full decision: rules, near-border distance, explanation; {routed} routed)",
        percentile_line(&h, "ns")
    );

    let covers_only = gridwhistle_dispatcher::routing::index::PolygonIndex::new(
        data.units
            .iter()
            .filter_map(|(_, _, _, s)| PreparedArea::new(s.clone()))
            .collect(),
    );
    let started = Instant::now();
    let mut hits = 0usize;
    for p in &positions {
        hits += covers_only.covering(p.point).count();
    }
    let covers_rate = positions.len() as f64 / started.elapsed().as_secs_f64();
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)?;
    for p in positions.iter().take(200_000) {
        let t = Instant::now();
        let n = covers_only.covering(p.point).count();
        h.saturating_record(t.elapsed().as_nanos() as u64);
        std::hint::black_box(n);
    }
    println!(
        "  engine=index-covers  throughput={covers_rate:>12.0}/s {} (point location only, like ST_Covers; {hits} hits)",
        percentile_line(&h, "ns")
    );

    let started = Instant::now();
    let mut linear_hits = 0usize;
    let n_linear = args.linear_lookups.min(positions.len());
    for p in positions.iter().take(n_linear) {
        let c = geo::Coord {
            x: p.point.lng(),
            y: p.point.lat(),
        };
        linear_hits += linear_shapes.iter().filter(|s| s.intersects(&c)).count();
    }
    let linear_rate = n_linear as f64 / started.elapsed().as_secs_f64();
    println!(
        "  engine=linear-scan   throughput={linear_rate:>12.1}/s over {n_linear} lookups ({linear_hits} hits)"
    );

    if let Some(url) = &args.postgres_url {
        let postgis = runtime.block_on(postgis(
            url,
            &data,
            &positions[..args.postgis_lookups.min(positions.len())],
        ))?;
        println!(
            "  engine=postgis       throughput={:>12.0}/s {} over {} lookups on one connection (load {:.1}s, GiST build {:.1}s, {} hits)",
            postgis.rate,
            percentile_line(&postgis.latency, "us"),
            postgis.lookups,
            postgis.load.as_secs_f64(),
            postgis.index.as_secs_f64(),
            postgis.hits
        );
        println!(
            "  ratios: index-covers/postgis={:.0}x index-route/postgis={:.0}x index-covers/linear={:.0}x",
            covers_rate / postgis.rate,
            route_rate / postgis.rate,
            covers_rate / linear_rate
        );
    } else {
        println!("  engine=postgis       skipped: no --postgres-url or TEST_DATABASE_URL");
        println!(
            "  ratios: index-covers/linear={:.0}x",
            covers_rate / linear_rate
        );
    }
    Ok(())
}

struct PostgisOutcome {
    rate: f64,
    latency: Histogram<u64>,
    lookups: usize,
    load: Duration,
    index: Duration,
    hits: usize,
}

async fn postgis(
    url: &str,
    data: &Dataset,
    positions: &[Position],
) -> anyhow::Result<PostgisOutcome> {
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .context("connect to PostgreSQL")?;
    let db = format!("gw_bench_routing_{}", data.name);
    // The name is built from a fixed dataset label, never from input.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await?;
    admin.close().await;
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{base}/{db}"))
        .await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS postgis")
        .execute(&pool)
        .await
        .context("CREATE EXTENSION postgis: run bench/setup-postgis.sh first")?;
    sqlx::query(
        "CREATE TABLE units (id int PRIMARY KEY, geom geometry(MultiPolygon, 4326) NOT NULL)",
    )
    .execute(&pool)
    .await?;
    let started = Instant::now();
    for (batch_no, batch) in data.units.chunks(500).enumerate() {
        let ids: Vec<i32> = (0..batch.len())
            .map(|i| (batch_no * 500 + i) as i32)
            .collect();
        let wkts: Vec<String> = batch.iter().map(|(_, _, _, s)| wkt(s)).collect();
        sqlx::query("INSERT INTO units SELECT i, ST_GeomFromText(w, 4326) FROM UNNEST($1::int4[], $2::text[]) AS t(i, w)")
            .bind(ids)
            .bind(wkts)
            .execute(&pool)
            .await?;
    }
    let load = started.elapsed();
    let started = Instant::now();
    sqlx::query("CREATE INDEX units_geom ON units USING gist (geom)")
        .execute(&pool)
        .await?;
    sqlx::query("ANALYZE units").execute(&pool).await?;
    let index = started.elapsed();

    let query =
        "SELECT id FROM units WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))";
    // Warm the plan cache and the buffers.
    for p in positions.iter().take(200) {
        sqlx::query(query)
            .bind(p.point.lng())
            .bind(p.point.lat())
            .fetch_all(&pool)
            .await?;
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut hits = 0;
    let started = Instant::now();
    for p in positions {
        let t = Instant::now();
        let rows = sqlx::query(query)
            .bind(p.point.lng())
            .bind(p.point.lat())
            .fetch_all(&pool)
            .await?;
        latency.saturating_record(t.elapsed().as_micros() as u64);
        hits += rows
            .iter()
            .filter(|r| r.try_get::<i32, _>(0).is_ok())
            .count();
    }
    let rate = positions.len() as f64 / started.elapsed().as_secs_f64();
    pool.close().await;
    Ok(PostgisOutcome {
        rate,
        latency,
        lookups: positions.len(),
        load,
        index,
        hits,
    })
}

fn wkt(shape: &MultiPolygon<f64>) -> String {
    let ring = |r: &geo::LineString<f64>| {
        let points: Vec<String> = r.0.iter().map(|c| format!("{} {}", c.x, c.y)).collect();
        format!("({})", points.join(","))
    };
    let polygons: Vec<String> = shape
        .0
        .iter()
        .map(|p| {
            let mut rings = vec![ring(p.exterior())];
            rings.extend(p.interiors().iter().map(ring));
            format!("({})", rings.join(","))
        })
        .collect();
    format!("MULTIPOLYGON({})", polygons.join(","))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!("routing-bench: one core for the index, one PostgreSQL connection for PostGIS");
    run_dataset(&args, sample_dataset(args.lookups)?, &runtime)?;
    run_dataset(
        &args,
        synthetic_dataset(args.synthetic, args.max_vertices, args.lookups)?,
        &runtime,
    )?;
    Ok(())
}
