//! The spatial index: an R-tree over polygon envelopes for radius searches, a classified cell grid (`super::cells`) for point location, exact point-in-polygon on horizontal slabs of edge runs (one pass over runs to build, a few runs per lookup), and border distances by branch and bound over blocks of boundary segments.
//!
//! geo's monotone subdivision was measured first: noisy real-world rings split into about 130 monotone pieces per 500 vertices and it built at 1.4 s per million vertices, too slow to rebuild a large district in under a second.

use geo::{Coord, MultiPolygon, Rect};
use gridwhistle_domain::GeoPoint;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use super::cells::CellGrid;

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

/// The corner-wise minimum of two coordinates.
pub(super) fn lower(a: Coord<f64>, b: Coord<f64>) -> Coord<f64> {
    Coord {
        x: a.x.min(b.x),
        y: a.y.min(b.y),
    }
}

/// The corner-wise maximum of two coordinates.
pub(super) fn upper(a: Coord<f64>, b: Coord<f64>) -> Coord<f64> {
    Coord {
        x: a.x.max(b.x),
        y: a.y.max(b.y),
    }
}

/// Most edges per run: slabs list runs of consecutive edges rather than single edges, so building them costs a pass over runs,
/// not edges. Shapes with few edges use shorter runs (down to single edges), since a lookup scans every edge of its slab's runs.
const MAX_RUN: usize = 8;

/// Edges per run for a shape with `edges` edges.
fn run_length(edges: usize) -> usize {
    (edges / 64).clamp(1, MAX_RUN)
}

/// A run of consecutive edges of one ring: edge `k` joins `vertices[start + k]` and `vertices[start + k + 1]`.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: u32,
    len: u32,
}

/// Horizontal slabs over a shape's latitude range, each listing the runs of edges that overlap it (compressed rows).
///
/// Even-odd point location needs every edge that straddles the point's latitude exactly once: such an edge's run overlaps the
/// point's slab, so it is listed there once, and the run's other edges do not straddle that latitude and add nothing.
#[derive(Debug, Clone)]
struct Slabs {
    y0: f64,
    inv_height: f64,
    count: usize,
    /// `offsets[s]..offsets[s + 1]` indexes slab `s`'s runs in `runs`.
    offsets: Vec<u32>,
    runs: Vec<Run>,
}

impl Slabs {
    fn slab(&self, y: f64) -> usize {
        let s = (y - self.y0) * self.inv_height;
        // Truncation is the floor for non-negative values; `as` saturates NaN and negatives to 0.
        if s > 0.0 {
            (s as usize).min(self.count - 1)
        } else {
            0
        }
    }

    /// Slabs over the runs of every ring (`rings` as first vertex and vertex count).
    fn build(
        vertices: &[Coord<f64>],
        rings: &[(usize, usize, bool)],
        min_y: f64,
        max_y: f64,
    ) -> Self {
        // Each run with its latitude range.
        let mut spans: Vec<(Run, f64, f64)> = Vec::new();
        let mut rise = 0.0;
        let run = run_length(rings.iter().map(|&(_, len, _)| len.saturating_sub(1)).sum());
        for &(start, len, _) in rings {
            let segments = len.saturating_sub(1);
            for run_start in (0..segments).step_by(run) {
                let n = run.min(segments - run_start);
                let first = start + run_start;
                let (mut lo, mut hi) = (vertices[first].y, vertices[first].y);
                for c in &vertices[first..=first + n] {
                    lo = lo.min(c.y);
                    hi = hi.max(c.y);
                }
                rise += hi - lo;
                let (Ok(start), Ok(len)) = (u32::try_from(first), u32::try_from(n)) else {
                    continue;
                };
                spans.push((Run { start, len }, lo, hi));
            }
        }
        // About two runs per slab, but slabs no thinner than half a run's mean height, so a jagged ring's tall runs are
        // listed in a few slabs each and memory stays linear.
        let by_runs = (spans.len() / 2).clamp(1, 1 << 16);
        let mean_rise = rise / spans.len().max(1) as f64;
        let by_rise = if mean_rise > 0.0 {
            ((max_y - min_y) / (mean_rise / 2.0)).ceil() as usize
        } else {
            by_runs
        };
        let count = by_runs.min(by_rise).max(1);
        let height = (max_y - min_y) / count as f64;
        let mut slabs = Self {
            y0: min_y,
            inv_height: if height > 0.0 { 1.0 / height } else { 0.0 },
            count,
            offsets: vec![0; count + 1],
            runs: Vec::new(),
        };
        let spans: Vec<(Run, usize, usize)> = spans
            .into_iter()
            .map(|(run, lo, hi)| (run, slabs.slab(lo), slabs.slab(hi)))
            .collect();
        for &(_, lo, hi) in &spans {
            for c in &mut slabs.offsets[lo + 1..=hi + 1] {
                *c += 1;
            }
        }
        for s in 0..count {
            slabs.offsets[s + 1] += slabs.offsets[s];
        }
        let mut next: Vec<u32> = slabs.offsets[..count].to_vec();
        slabs.runs = vec![Run { start: 0, len: 0 }; slabs.offsets[count] as usize];
        for &(run, lo, hi) in &spans {
            for n in &mut next[lo..=hi] {
                slabs.runs[*n as usize] = run;
                *n += 1;
            }
        }
        slabs
    }

    /// The edges of the runs listed in the slab holding latitude `y`: every edge that reaches `y` is among them, once.
    fn edges_near<'a>(
        &'a self,
        vertices: &'a [Coord<f64>],
        y: f64,
    ) -> impl Iterator<Item = (Coord<f64>, Coord<f64>)> + 'a {
        let s = self.slab(y);
        self.runs[self.offsets[s] as usize..self.offsets[s + 1] as usize]
            .iter()
            .flat_map(move |run| {
                let start = run.start as usize;
                vertices[start..=start + run.len as usize]
                    .windows(2)
                    .map(|w| (w[0], w[1]))
            })
    }

    /// Longitudes where the boundary crosses latitude `y`, by the same half-open rule as `covers`: a point at that latitude
    /// off the boundary is inside when an odd number of them lie east of it.
    fn crossings(&self, vertices: &[Coord<f64>], y: f64, out: &mut Vec<f64>) {
        out.clear();
        out.extend(
            self.edges_near(vertices, y)
                .filter_map(|(a, b)| crossing(a, b, y)),
        );
    }

    /// Inside or on the boundary, by the even-odd rule over the edges of the point's slab.
    fn covers(&self, vertices: &[Coord<f64>], p: Coord<f64>) -> bool {
        let mut inside = false;
        for (a, b) in self.edges_near(vertices, p.y) {
            if (a.y > p.y) == (b.y > p.y) && a.y != p.y && b.y != p.y {
                // Wholly above or below the point's latitude: neither crosses the ray nor holds the point.
                continue;
            }
            let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
            let scale = (b.x - a.x).abs().max((b.y - a.y).abs());
            let within = p.x >= a.x.min(b.x)
                && p.x <= a.x.max(b.x)
                && p.y >= a.y.min(b.y)
                && p.y <= a.y.max(b.y);
            // On the edge, within rounding (1e-12 of the edge's extent): covered, as ST_Covers counts it.
            if within && cross.abs() <= 1e-12 * scale {
                return true;
            }
            if crossing(a, b, p.y).is_some_and(|x| p.x < x) {
                inside = !inside;
            }
        }
        inside
    }
}

/// Where the edge a–b crosses latitude `y`, if it straddles it by the half-open rule (one end above, the other at or
/// below) that makes each crossing of a ring count once; `covers` and the cell classification share it so they agree.
fn crossing(a: Coord<f64>, b: Coord<f64>, y: f64) -> Option<f64> {
    ((a.y > y) != (b.y > y)).then(|| a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y))
}

/// A polygon prepared for point location and border distance.
#[derive(Debug, Clone)]
pub struct PreparedArea {
    slabs: Slabs,
    /// Every ring's vertices, closed, one ring after another.
    vertices: Vec<Coord<f64>>,
    blocks: Vec<Block>,
    /// Each ring's first vertex and vertex count.
    rings: Vec<(u32, u32)>,
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

    /// Squared distance in square metres from the origin to a bounding box (zero inside it).
    fn squared_distance_to_box(&self, min: Coord<f64>, max: Coord<f64>) -> f64 {
        let dx = (min.x - self.origin.x).max(self.origin.x - max.x).max(0.0) * self.kx;
        let dy = (min.y - self.origin.y).max(self.origin.y - max.y).max(0.0) * METRES_PER_DEG_LAT;
        dx * dx + dy * dy
    }

    /// Squared distance in square metres from the origin to the segment a–b; searches compare squares and take one root at the end.
    fn squared_distance_to_segment(&self, a: Coord<f64>, b: Coord<f64>) -> f64 {
        let (ax, ay) = self.project(a);
        let (bx, by) = self.project(b);
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 {
            (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (x, y) = (ax + t * dx, ay + t * dy);
        x * x + y * y
    }
}

/// A ring in the vertex buffer: where it starts, how many vertices, and whether it is a hole.
type RingSpan = (usize, usize, bool);

/// Every ring's vertices in one buffer, with each ring's (start, length, is a hole); a single-ring shape's vertices are moved, not copied.
fn flatten(shape: MultiPolygon<f64>) -> Option<(Vec<Coord<f64>>, Vec<RingSpan>)> {
    let mut rings: Vec<RingSpan> = Vec::new();
    let vertices = if let [polygon] = shape.0.as_slice()
        && polygon.interiors().is_empty()
    {
        let (exterior, _) = shape.0.into_iter().next()?.into_inner();
        rings.push((0, exterior.0.len(), false));
        exterior.0
    } else {
        let total = shape
            .0
            .iter()
            .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
            .sum();
        let mut vertices = Vec::with_capacity(total);
        for polygon in &shape.0 {
            for (k, ring) in std::iter::once(polygon.exterior())
                .chain(polygon.interiors())
                .enumerate()
            {
                rings.push((vertices.len(), ring.0.len(), k > 0));
                vertices.extend_from_slice(&ring.0);
            }
        }
        vertices
    };
    Some((vertices, rings))
}

impl PreparedArea {
    /// Prepares a valid multipolygon (closed rings, no self-intersections: see `validate`); `None` for a shape with no vertices.
    ///
    /// One pass over the vertices builds the envelope, the area and the blocks; a single-ring shape's vertices are moved, not copied.
    pub fn new(shape: MultiPolygon<f64>) -> Option<Self> {
        let (vertices, rings) = flatten(shape)?;
        let first = *vertices.first()?;
        let (mut lo, mut hi) = (first, first);
        let mut twice_area = 0.0;
        let mut blocks = Vec::with_capacity(vertices.len() / BLOCK + rings.len());
        for &(start, len, hole) in &rings {
            let ring = &vertices[start..start + len];
            // Shoelace relative to the ring's first vertex, for precision; holes subtract.
            let origin = ring.first().copied().unwrap_or(first);
            let mut ring_area = 0.0;
            for w in ring.windows(2) {
                let (a, b) = (w[0] - origin, w[1] - origin);
                ring_area += a.x * b.y - b.x * a.y;
            }
            twice_area += if hole {
                -ring_area.abs()
            } else {
                ring_area.abs()
            };
            let segments = len.saturating_sub(1);
            for block_start in (0..segments).step_by(BLOCK) {
                let n = BLOCK.min(segments - block_start);
                let run = &ring[block_start..=block_start + n];
                let (mut min, mut max) = (run[0], run[0]);
                for &c in run {
                    (min, max) = (lower(min, c), upper(max, c));
                }
                (lo, hi) = (lower(lo, min), upper(hi, max));
                blocks.push(Block {
                    start: u32::try_from(start + block_start).ok()?,
                    len: u32::try_from(n).ok()?,
                    min,
                    max,
                });
            }
        }
        // Planar area scaled to square metres at the shape's latitude: exact enough to rank areas for tie-breaks.
        let mid_lat = (lo.y + hi.y) / 2.0;
        let area_m2 = (twice_area / 2.0).abs()
            * METRES_PER_DEG_LNG
            * mid_lat.to_radians().cos()
            * METRES_PER_DEG_LAT;
        let slabs = Slabs::build(&vertices, &rings, lo.y, hi.y);
        Some(Self {
            slabs,
            vertices,
            blocks,
            rings: rings
                .iter()
                .map(|&(start, len, _)| {
                    Some((u32::try_from(start).ok()?, u32::try_from(len).ok()?))
                })
                .collect::<Option<_>>()?,
            envelope: Rect::new(lo, hi),
            area_m2,
        })
    }

    /// True when the point is inside or on the boundary (PostGIS's `ST_Covers`).
    pub fn covers(&self, point: GeoPoint) -> bool {
        self.covers_coord(Coord {
            x: point.lng(),
            y: point.lat(),
        })
    }

    /// `covers` for a longitude/latitude pair.
    pub(super) fn covers_coord(&self, p: Coord<f64>) -> bool {
        let (min, max) = (self.envelope.min(), self.envelope.max());
        p.x >= min.x
            && p.x <= max.x
            && p.y >= min.y
            && p.y <= max.y
            && self.slabs.covers(&self.vertices, p)
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
                .map(|w| local.squared_distance_to_segment(w[0], w[1]))
                .fold(f64::INFINITY, f64::min)
        };
        // Seed with the block whose box is nearest, then visit only blocks that could beat it.
        let Some(nearest) = self.blocks.iter().min_by(|a, b| {
            local
                .squared_distance_to_box(a.min, a.max)
                .total_cmp(&local.squared_distance_to_box(b.min, b.max))
        }) else {
            return f64::INFINITY;
        };
        let mut best = block_distance(nearest);
        for block in &self.blocks {
            if local.squared_distance_to_box(block.min, block.max) < best {
                best = best.min(block_distance(block));
            }
        }
        best.sqrt()
    }

    pub fn area_m2(&self) -> f64 {
        self.area_m2
    }

    pub(super) fn envelope(&self) -> Rect<f64> {
        self.envelope
    }

    /// Longitudes where the boundary crosses latitude `y` (see `Slabs::crossings`).
    pub(super) fn crossings(&self, y: f64, out: &mut Vec<f64>) {
        self.slabs.crossings(&self.vertices, y, out);
    }

    /// Every boundary ring's vertices, closed.
    pub(super) fn rings(&self) -> impl Iterator<Item = &[Coord<f64>]> + '_ {
        self.rings
            .iter()
            .map(|&(start, len)| &self.vertices[start as usize..(start + len) as usize])
    }

    pub fn vertex_count(&self) -> usize {
        self.vertices.len()
    }
}

/// Prepares many shapes on every core; the result keeps the input's order (`None` for a shape with no extent).
pub fn prepare_all(shapes: Vec<MultiPolygon<f64>>) -> Vec<Option<PreparedArea>> {
    on_every_core(shapes, 64, |_, chunk| {
        chunk.into_iter().map(PreparedArea::new).collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Splits `items` into one chunk per core (each at least `min_chunk` long), runs `work` on each with the position of its
/// first item, and returns the results in input order; a single chunk runs on the calling thread.
pub(super) fn on_every_core<T: Send, R: Send>(
    items: Vec<T>,
    min_chunk: usize,
    work: impl Fn(usize, Vec<T>) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(threads).max(min_chunk).max(1);
    if items.len() <= chunk {
        return vec![work(0, items)];
    }
    let mut chunks: Vec<(usize, Vec<T>)> = Vec::with_capacity(threads);
    let mut rest = items;
    let mut first = 0;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        chunks.push((first, rest));
        first += chunk;
        rest = tail;
    }
    chunks.push((first, rest));
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|(first, chunk)| scope.spawn(move || work(first, chunk)))
            .collect();
        handles
            .into_iter()
            // A panic in a worker is a bug in the work; surface it rather than drop results silently.
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Areas indexed by their envelopes (an R-tree, for searches within a radius) and by a classified cell grid (for point location); each entry's payload is its position in the input.
#[derive(Debug)]
pub struct PolygonIndex {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    /// `None` only with more areas than a grid lists (`cells::MAX_AREAS`).
    cells: Option<CellGrid>,
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

/// The areas covering a point, found through the cell grid or, without one, by envelope.
enum Covering<C> {
    Cells(C),
    Envelopes(std::vec::IntoIter<usize>),
}

impl<C: Iterator<Item = usize>> Iterator for Covering<C> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            Covering::Cells(cells) => cells.next(),
            Covering::Envelopes(found) => found.next(),
        }
    }
}

impl PolygonIndex {
    pub fn new(areas: Vec<PreparedArea>) -> Self {
        let entries = areas
            .iter()
            .enumerate()
            .map(|(i, area)| {
                let (min, max) = (area.envelope.min(), area.envelope.max());
                GeomWithData::new(Rectangle::from_corners([min.x, min.y], [max.x, max.y]), i)
            })
            .collect();
        Self {
            tree: RTree::bulk_load(entries),
            cells: CellGrid::new(&areas),
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
                let index = entry.data;
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

    /// Every area that covers the point, in input order, without border distances: the cheapest lookup.
    pub fn covering(&self, point: GeoPoint) -> impl Iterator<Item = usize> + '_ {
        let p = Coord {
            x: point.lng(),
            y: point.lat(),
        };
        match &self.cells {
            Some(cells) => Covering::Cells(cells.covering(&self.areas, p)),
            None => Covering::Envelopes(self.covering_by_envelope(p).into_iter()),
        }
    }

    /// Without a grid (more areas than one lists): the R-tree's candidates, checked exactly, in input order.
    #[cold]
    fn covering_by_envelope(&self, p: Coord<f64>) -> Vec<usize> {
        let mut found: Vec<usize> = self
            .tree
            .locate_all_at_point(&[p.x, p.y])
            .map(|entry| entry.data)
            .filter(|&i| self.areas.get(i).is_some_and(|a| a.covers_coord(p)))
            .collect();
        found.sort_unstable();
        found
    }

    #[cfg(test)]
    pub(super) fn cells_for_tests(&self) -> &CellGrid {
        self.cells.as_ref().expect("a grid for a test's few areas")
    }

    /// Memory held by the cell grid, in bytes.
    pub fn cell_grid_bytes(&self) -> usize {
        self.cells.as_ref().map_or(0, CellGrid::heap_bytes)
    }
}

#[cfg(test)]
mod tests {
    use geo::{BoundingRect, LineString, Polygon};

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
    fn without_a_cell_grid_covering_goes_by_envelope_and_answers_the_same() {
        let areas = || {
            [
                (116.0, 40.0, 0.02),
                (116.01, 40.01, 0.02),
                (116.05, 40.0, 0.01),
            ]
            .into_iter()
            .map(|(x, y, side)| {
                PreparedArea::new(MultiPolygon::new(vec![square(x, y, side)])).unwrap()
            })
            .collect::<Vec<_>>()
        };
        let gridded = PolygonIndex::new(areas());
        let mut by_envelope = PolygonIndex::new(areas());
        by_envelope.cells = None;
        let mut hits = 0;
        for i in 0..80 {
            for j in 0..40 {
                let p = point(
                    39.995 + f64::from(j) * 0.001,
                    115.995 + f64::from(i) * 0.001,
                );
                let expected: Vec<usize> = gridded.covering(p).collect();
                assert_eq!(
                    by_envelope.covering(p).collect::<Vec<_>>(),
                    expected,
                    "{p:?}"
                );
                hits += expected.len();
            }
        }
        assert!(
            hits > 100,
            "the probes hit areas, overlaps included: {hits}"
        );
    }

    #[test]
    fn slab_point_location_agrees_with_geo_everywhere_including_holes_and_borders() {
        use geo::{Intersects, LineString};
        // A noisy 300-vertex ring with a square hole, probed on a lattice that also lands on the hole's edges.
        let ring: Vec<(f64, f64)> = (0..300)
            .map(|i| {
                let a = f64::from(i) / 300.0 * std::f64::consts::TAU;
                let r = 0.01 * (1.0 + 0.2 * (7.0 * a).sin() + 0.05 * (31.0 * a).cos());
                (116.0 + r * a.cos(), 40.0 + r * a.sin())
            })
            .collect();
        let mut closed = ring.clone();
        closed.push(ring[0]);
        let hole = vec![
            (115.998, 39.998),
            (116.002, 39.998),
            (116.002, 40.002),
            (115.998, 40.002),
            (115.998, 39.998),
        ];
        let polygon = Polygon::new(LineString::from(closed), vec![LineString::from(hole)]);
        let area = PreparedArea::new(MultiPolygon::new(vec![polygon.clone()])).unwrap();
        let mut checked = 0;
        for i in -70..=70 {
            for j in -70..=70 {
                let (lng, lat) = (116.0 + f64::from(i) * 0.0002, 40.0 + f64::from(j) * 0.0002);
                let expected = polygon.intersects(&Coord { x: lng, y: lat });
                assert_eq!(area.covers(point(lat, lng)), expected, "({lat}, {lng})");
                checked += 1;
            }
        }
        assert_eq!(checked, 141 * 141);
    }

    #[test]
    fn preparing_on_every_core_keeps_the_input_order() {
        let shapes: Vec<MultiPolygon<f64>> = (0..200)
            .map(|i| MultiPolygon::new(vec![square(116.0 + f64::from(i) * 0.01, 40.0, 0.005)]))
            .collect();
        let prepared = prepare_all(shapes.clone());
        assert_eq!(prepared.len(), 200);
        for (shape, area) in shapes.into_iter().zip(prepared) {
            let area = area.unwrap();
            assert_eq!(area.envelope, shape.bounding_rect().unwrap());
        }
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
            .map(|w| local.squared_distance_to_segment(w[0].into(), w[1].into()))
            .fold(f64::INFINITY, f64::min)
            .sqrt();
        assert!((area.border_distance(p) - brute).abs() < 1e-9);
        assert!(area.vertex_count() == 401);
    }
}
