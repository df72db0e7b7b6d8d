//! Large synthetic polygon sets for benchmarks: star-shaped polygons of up to `max_vertices` vertices on a jittered lattice, overlapping their neighbours a little, as real jurisdictions do.

use geo::{Coord, LineString, Polygon};

use crate::rng::Rng;

const SPACING_M: f64 = 300.0;

/// `count` polygons in WGS-84 around the sample district's centre.
pub fn polygons(count: usize, max_vertices: usize, seed: u64) -> Vec<Polygon<f64>> {
    let frame = crate::district::FRAME;
    let side = (count as f64).sqrt().ceil() as usize;
    let mut rng = Rng::new(seed);
    let max_vertices = max_vertices.max(4);
    (0..count)
        .map(|i| {
            let (row, col) = (i / side, i % side);
            let centre = Coord {
                x: (col as f64 - side as f64 / 2.0) * SPACING_M + rng.range(-30.0, 30.0),
                y: (row as f64 - side as f64 / 2.0) * SPACING_M + rng.range(-30.0, 30.0),
            };
            let n = 3 + (rng.unit() * (max_vertices - 3) as f64) as usize;
            let phase = rng.range(0.0, std::f64::consts::TAU);
            let mut ring: Vec<Coord<f64>> = (0..n)
                .map(|k| {
                    let a = k as f64 / n as f64 * std::f64::consts::TAU;
                    let r = SPACING_M
                        * 0.56
                        * (1.0 + 0.15 * (3.0 * a + phase).sin() + 0.05 * rng.range(-1.0, 1.0));
                    frame.to_degrees(Coord {
                        x: centre.x + r * a.cos(),
                        y: centre.y + r * a.sin(),
                    })
                })
                .collect();
            ring.push(ring[0]);
            Polygon::new(LineString::new(ring), vec![])
        })
        .collect()
}

/// `count` lookup points spread over the area `polygons(n, …)` covers, plus a margin outside it.
pub fn points(polygon_count: usize, count: usize, seed: u64) -> Vec<(f64, f64)> {
    let frame = crate::district::FRAME;
    let half = (polygon_count as f64).sqrt().ceil() / 2.0 * SPACING_M * 1.05;
    let mut rng = Rng::new(seed ^ 0x5EED);
    (0..count)
        .map(|_| {
            let c = frame.to_degrees(Coord {
                x: rng.range(-half, half),
                y: rng.range(-half, half),
            });
            (c.y, c.x)
        })
        .collect()
}
