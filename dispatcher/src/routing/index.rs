//! The spatial index: an R-tree over polygon envelopes, exact point location on monotone subdivisions (O(log n) per polygon), and border distances by branch and bound over blocks of boundary segments.

use geo::{BoundingRect, Coord, GeodesicArea, Intersects, MonotonicPolygons, MultiPolygon, Rect};
use gridwhistle_domain::GeoPoint;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

/// Metres per degree of latitude, and of longitude at the equator; plenty for distances within a district.
const METRES_PER_DEG_LAT: f64 = 110_574.0;
const METRES_PER_DEG_LNG: f64 = 111_320.0;

/// Segments per boundary block: small enough to prune well, large enough to keep bookkeeping small.
const BLOCK: usize = 32;

/// A run of consecutive boundary vertices with its bounding box.
#[derive(Debug, Clone)]
struct Block {
    /// Index of the first vertex in `PreparedArea::vertices`; the block's segments join it to the next `len` vertices.
    start: u32,
    len: u32,
    min: Coord<f64>,
    max: Coord<f64>,
}

/// A polygon prepared for point location and border distance.
#[derive(Debug, Clone)]
pub struct PreparedArea {
    mono: MonotonicPolygons<f64>,
    /// Every ring's vertices, closed, one ring after another.
    vertices: Vec<Coord<f64>>,
    blocks: Vec<Block>,
    envelope: Rect<f64>,
    area_m2: f64,
}

/// A local equirectangular projection around a point, in metres.
#[derive(Debug, Clone, Copy)]
struct Local {
    origin: Coord<f64>,
    kx: f64,
}

impl Local {
    fn around(point: Coord<f64>) -> Self {
        Self {
            origin: point,
            kx: METRES_PER_DEG_LNG * point.y.to_radians().cos(),
        }
    }

    fn project(&self, c: Coord<f64>) -> (f64, f64) {
        (
            (c.x - self.origin.x) * self.kx,
            (c.y - self.origin.y) * METRES_PER_DEG_LAT,
        )
    }

    /// Distance in metres from the origin to a bounding box (zero inside it).
    fn distance_to_box(&self, min: Coord<f64>, max: Coord<f64>) -> f64 {
        let dx = (min.x - self.origin.x).max(self.origin.x - max.x).max(0.0) * self.kx;
        let dy = (min.y - self.origin.y).max(self.origin.y - max.y).max(0.0) * METRES_PER_DEG_LAT;
        dx.hypot(dy)
    }

    /// Distance in metres from the origin to the segment a–b.
    fn distance_to_segment(&self, a: Coord<f64>, b: Coord<f64>) -> f64 {
        let (ax, ay) = self.project(a);
        let (bx, by) = self.project(b);
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 {
            (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        (ax + t * dx).hypot(ay + t * dy)
    }
}

impl PreparedArea {
    /// Prepares a valid multipolygon (closed rings, no self-intersections: see `validate`).
    pub fn new(shape: MultiPolygon<f64>) -> Option<Self> {
        let envelope = shape.bounding_rect()?;
        let area_m2 = shape.geodesic_area_unsigned();
        let mut vertices = Vec::new();
        let mut blocks = Vec::new();
        for polygon in &shape.0 {
            for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                let first = vertices.len();
                vertices.extend(ring.0.iter().copied());
                let segments = ring.0.len().saturating_sub(1);
                for block_start in (0..segments).step_by(BLOCK) {
                    let len = BLOCK.min(segments - block_start);
                    let run = &vertices[first + block_start..=first + block_start + len];
                    let (mut min, mut max) = (run[0], run[0]);
                    for c in run {
                        min = Coord {
                            x: min.x.min(c.x),
                            y: min.y.min(c.y),
                        };
                        max = Coord {
                            x: max.x.max(c.x),
                            y: max.y.max(c.y),
                        };
                    }
                    blocks.push(Block {
                        start: u32::try_from(first + block_start).ok()?,
                        len: u32::try_from(len).ok()?,
                        min,
                        max,
                    });
                }
            }
        }
        Some(Self {
            mono: MonotonicPolygons::from(shape),
            vertices,
            blocks,
            envelope,
            area_m2,
        })
    }

    /// True when the point is inside or on the boundary (PostGIS's `ST_Covers`).
    pub fn covers(&self, point: GeoPoint) -> bool {
        self.mono.intersects(&Coord {
            x: point.lng(),
            y: point.lat(),
        })
    }

    /// Distance in metres from the point to the nearest boundary (exterior or hole).
    pub fn border_distance(&self, point: GeoPoint) -> f64 {
        let local = Local::around(Coord {
            x: point.lng(),
            y: point.lat(),
        });
        let block_distance = |b: &Block| {
            let start = b.start as usize;
            self.vertices[start..=start + b.len as usize]
                .windows(2)
                .map(|w| local.distance_to_segment(w[0], w[1]))
                .fold(f64::INFINITY, f64::min)
        };
        // Seed with the block whose box is nearest, then visit only blocks that could beat it.
        let Some(nearest) = self.blocks.iter().min_by(|a, b| {
            local
                .distance_to_box(a.min, a.max)
                .total_cmp(&local.distance_to_box(b.min, b.max))
        }) else {
            return f64::INFINITY;
        };
        let mut best = block_distance(nearest);
        for block in &self.blocks {
            if local.distance_to_box(block.min, block.max) < best {
                best = best.min(block_distance(block));
            }
        }
        best
    }

    pub fn area_m2(&self) -> f64 {
        self.area_m2
    }

    pub fn vertex_count(&self) -> usize {
        self.vertices.len()
    }
}

/// Areas indexed by their envelopes; each entry's payload is its position in the input.
#[derive(Debug)]
pub struct PolygonIndex {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    areas: Vec<PreparedArea>,
}

/// One indexed area near a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Position of the area in the input.
    pub index: usize,
    pub covers: bool,
    /// Metres from the point to the area's nearest border.
    pub border_distance_m: f64,
}

impl PolygonIndex {
    pub fn new(areas: Vec<PreparedArea>) -> Self {
        let entries = areas
            .iter()
            .enumerate()
            .map(|(i, area)| {
                let (min, max) = (area.envelope.min(), area.envelope.max());
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                GeomWithData::new(
                    Rectangle::from_corners([min.x, min.y], [max.x, max.y]),
                    index,
                )
            })
            .collect();
        Self {
            tree: RTree::bulk_load(entries),
            areas,
        }
    }

    pub fn areas(&self) -> &[PreparedArea] {
        &self.areas
    }

    /// Every area that covers the point or whose envelope lies within `radius_m` of it, with border distances.
    pub fn near(&self, point: GeoPoint, radius_m: f64) -> Vec<Hit> {
        let d_lat = radius_m / METRES_PER_DEG_LAT;
        let d_lng = radius_m / (METRES_PER_DEG_LNG * point.lat().to_radians().cos().max(1e-6));
        let search = AABB::from_corners(
            [point.lng() - d_lng, point.lat() - d_lat],
            [point.lng() + d_lng, point.lat() + d_lat],
        );
        let mut hits: Vec<Hit> = self
            .tree
            .locate_in_envelope_intersecting(&search)
            .filter_map(|entry| {
                let index = entry.data as usize;
                let area = self.areas.get(index)?;
                let covers = area.covers(point);
                let border_distance_m = area.border_distance(point);
                (covers || border_distance_m <= radius_m).then_some(Hit {
                    index,
                    covers,
                    border_distance_m,
                })
            })
            .collect();
        hits.sort_by_key(|h| h.index);
        hits
    }

    /// Every area that covers the point, without border distances: the cheapest lookup.
    pub fn covering(&self, point: GeoPoint) -> impl Iterator<Item = usize> + '_ {
        self.tree
            .locate_all_at_point(&[point.lng(), point.lat()])
            .map(|entry| entry.data as usize)
            .filter(move |&i| self.areas.get(i).is_some_and(|a| a.covers(point)))
    }
}

#[cfg(test)]
mod tests {
    use geo::{LineString, Polygon};

    use super::*;

    fn square(x0: f64, y0: f64, side: f64) -> Polygon<f64> {
        Polygon::new(
            LineString::from(vec![
                (x0, y0),
                (x0 + side, y0),
                (x0 + side, y0 + side),
                (x0, y0 + side),
                (x0, y0),
            ]),
            vec![],
        )
    }

    fn point(lat: f64, lng: f64) -> GeoPoint {
        GeoPoint::new(lat, lng).unwrap()
    }

    #[test]
    fn border_distance_is_the_distance_to_the_nearest_edge_in_metres() {
        // A 0.01-degree square at 40°N; 0.001° of latitude is 110.6 m.
        let area = PreparedArea::new(MultiPolygon::new(vec![square(116.0, 40.0, 0.01)])).unwrap();
        let d = area.border_distance(point(40.001, 116.005));
        assert!((d - 110.574).abs() < 0.01, "{d}");
        assert!(area.border_distance(point(40.0, 116.005)) < 1e-6);
    }

    #[test]
    fn border_distance_prunes_blocks_without_missing_the_nearest() {
        // A 400-vertex circle-like ring: many blocks; the nearest edge is found whichever block holds it.
        let ring: Vec<(f64, f64)> = (0..=400)
            .map(|i| {
                let a = f64::from(i) / 400.0 * std::f64::consts::TAU;
                (116.0 + 0.01 * a.cos(), 40.0 + 0.01 * a.sin())
            })
            .collect();
        let polygon = Polygon::new(LineString::from(ring.clone()), vec![]);
        let area = PreparedArea::new(MultiPolygon::new(vec![polygon])).unwrap();
        let p = point(40.002, 116.001);
        let local = Local::around(Coord {
            x: p.lng(),
            y: p.lat(),
        });
        let brute = ring
            .windows(2)
            .map(|w| local.distance_to_segment(w[0].into(), w[1].into()))
            .fold(f64::INFINITY, f64::min);
        assert!((area.border_distance(p) - brute).abs() < 1e-9);
        assert!(area.vertex_count() == 401);
    }
}
