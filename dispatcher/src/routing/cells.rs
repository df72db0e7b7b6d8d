//! A uniform cell grid over many areas for point location: each cell lists the areas that reach it, marked inside when the whole cell is inside the area, so most lookups decide without touching any geometry.
//!
//! A cell is classified once at build time: a cell crossed by no boundary segment is wholly inside or wholly outside its area, and one point-in-polygon test of its centre says which. Cells a segment's bounding box touches are boundary cells, looked up exactly.

use geo::Coord;

use super::index::{PreparedArea, lower, on_every_core, upper};

/// Set on an entry whose cell lies wholly inside its area.
const INSIDE: u32 = 1 << 31;

/// The grid aims for about this many cells across a typical area's envelope.
const CELLS_ACROSS: f64 = 12.0;

/// Never more cells than this per area in the grid, nor more than `MAX_CELLS` in all.
const CELLS_PER_AREA: usize = 512;
const MAX_CELLS: usize = 1 << 24;

/// Maps coordinates to cells; the same monotone function serves building and lookups, so a segment's cells are exactly those between its ends' cells.
#[derive(Debug, Clone, Copy)]
struct Frame {
    min: Coord<f64>,
    max: Coord<f64>,
    inv_w: f64,
    inv_h: f64,
    cols: usize,
    rows: usize,
}

impl Frame {
    fn new(min: Coord<f64>, max: Coord<f64>, typical_side: Coord<f64>, areas: usize) -> Self {
        let (width, height) = (max.x - min.x, max.y - min.y);
        let budget = (areas.saturating_mul(CELLS_PER_AREA)).clamp(1, MAX_CELLS) as f64;
        // Cells about 1/12 of a typical envelope across, made coarser if the budget demands it.
        let mut cell_w = (typical_side.x / CELLS_ACROSS).max(f64::MIN_POSITIVE);
        let mut cell_h = (typical_side.y / CELLS_ACROSS).max(f64::MIN_POSITIVE);
        let cells = (width / cell_w).max(1.0) * (height / cell_h).max(1.0);
        if cells > budget {
            let scale = (cells / budget).sqrt();
            cell_w *= scale;
            cell_h *= scale;
        }
        let cols = ((width / cell_w).ceil() as usize).clamp(1, MAX_CELLS);
        let rows = ((height / cell_h).ceil() as usize).clamp(1, MAX_CELLS / cols);
        Self {
            min,
            max,
            inv_w: if width > 0.0 {
                cols as f64 / width
            } else {
                0.0
            },
            inv_h: if height > 0.0 {
                rows as f64 / height
            } else {
                0.0
            },
            cols,
            rows,
        }
    }

    /// The column and row of a point inside the frame's box; `None` outside it.
    fn cell(&self, p: Coord<f64>) -> Option<(usize, usize)> {
        if !(p.x >= self.min.x && p.x <= self.max.x && p.y >= self.min.y && p.y <= self.max.y) {
            return None;
        }
        Some((
            (((p.x - self.min.x) * self.inv_w) as usize).min(self.cols - 1),
            (((p.y - self.min.y) * self.inv_h) as usize).min(self.rows - 1),
        ))
    }

    fn centre(&self, col: usize, row: usize) -> Coord<f64> {
        Coord {
            x: self.min.x + (col as f64 + 0.5) / self.inv_w,
            y: self.min.y + (row as f64 + 0.5) / self.inv_h,
        }
    }
}

/// Areas listed by the cells they reach (compressed rows).
#[derive(Debug)]
pub(super) struct CellGrid {
    frame: Option<Frame>,
    /// `offsets[c]..offsets[c + 1]` indexes cell `c`'s entries in `entries`.
    offsets: Vec<u32>,
    /// Area positions, with `INSIDE` set for cells wholly inside.
    entries: Vec<u32>,
}

/// Most areas a grid lists: an entry keeps the area's position below its `INSIDE` bit.
pub(super) const MAX_AREAS: usize = INSIDE as usize;

impl CellGrid {
    /// Lists `areas` by cell; `None` when they are more than [`MAX_AREAS`], and lookups then go by envelope instead.
    pub(super) fn new(areas: &[PreparedArea]) -> Option<Self> {
        if areas.len() > MAX_AREAS {
            return None;
        }
        let Some(frame) = frame_for(areas) else {
            return Some(Self {
                frame: None,
                offsets: vec![0],
                entries: Vec::new(),
            });
        };
        // Classify each area's cells on every core; each worker returns its areas' rasters in input order.
        let classified: Vec<(Vec<Raster>, Vec<u8>)> =
            on_every_core(areas.iter().collect(), 256, |first, chunk| {
                let (mut rasters, mut statuses, mut crossings) =
                    (Vec::new(), Vec::new(), Vec::new());
                for (i, area) in chunk.into_iter().enumerate() {
                    rasters.extend(classify(
                        &frame,
                        area,
                        first + i,
                        &mut statuses,
                        &mut crossings,
                    ));
                }
                (rasters, statuses)
            });
        // Counting sort into rows; stable, so each cell lists its areas in input order.
        let each_entry = |visit: &mut dyn FnMut(usize, u32)| {
            for (rasters, statuses) in &classified {
                for raster in rasters {
                    let cells = &statuses[raster.offset..raster.offset + raster.w * raster.h];
                    for (row, line) in cells.chunks_exact(raster.w).enumerate() {
                        let base = (raster.r0 + row) * frame.cols + raster.c0;
                        for (col, &status) in line.iter().enumerate() {
                            match status {
                                BOUNDARY => visit(base + col, raster.entry),
                                WHOLLY_INSIDE => visit(base + col, raster.entry | INSIDE),
                                _ => {}
                            }
                        }
                    }
                }
            }
        };
        let cells = frame.cols * frame.rows;
        let mut offsets = vec![0u32; cells + 1];
        each_entry(&mut |cell, _| offsets[cell + 1] += 1);
        for c in 0..cells {
            offsets[c + 1] += offsets[c];
        }
        let mut next = offsets[..cells].to_vec();
        let mut entries = vec![0u32; offsets[cells] as usize];
        each_entry(&mut |cell, entry| {
            let slot = &mut next[cell];
            entries[*slot as usize] = entry;
            *slot += 1;
        });
        Some(Self {
            frame: Some(frame),
            offsets,
            entries,
        })
    }

    /// Positions of the areas that cover the point (inside or on the boundary), in input order.
    pub(super) fn covering<'a>(
        &'a self,
        areas: &'a [PreparedArea],
        p: Coord<f64>,
    ) -> impl Iterator<Item = usize> + 'a {
        let row: &[u32] = match self
            .frame
            .and_then(|f| f.cell(p).map(|(c, r)| r * f.cols + c))
        {
            Some(cell) => {
                &self.entries[self.offsets[cell] as usize..self.offsets[cell + 1] as usize]
            }
            None => &[],
        };
        row.iter().filter_map(move |&entry| {
            let index = (entry & !INSIDE) as usize;
            (entry & INSIDE != 0 || areas.get(index).is_some_and(|a| a.covers_coord(p)))
                .then_some(index)
        })
    }

    /// Memory held by the grid, in bytes.
    pub(super) fn heap_bytes(&self) -> usize {
        (self.offsets.capacity() + self.entries.capacity()) * size_of::<u32>()
    }
}

/// A frame over all envelopes, with cells sized from the median envelope.
fn frame_for(areas: &[PreparedArea]) -> Option<Frame> {
    let first = areas.first()?.envelope();
    let (mut min, mut max) = (first.min(), first.max());
    let mut widths = Vec::with_capacity(areas.len());
    let mut heights = Vec::with_capacity(areas.len());
    for area in areas {
        let e = area.envelope();
        (min, max) = (lower(min, e.min()), upper(max, e.max()));
        widths.push(e.width());
        heights.push(e.height());
    }
    let median = |v: &mut Vec<f64>| {
        let mid = v.len() / 2;
        *v.select_nth_unstable_by(mid, f64::total_cmp).1
    };
    let typical = Coord {
        x: median(&mut widths),
        y: median(&mut heights),
    };
    Some(Frame::new(min, max, typical, areas.len()))
}

/// A cell's status in a raster.
const OUTSIDE: u8 = 0;
const BOUNDARY: u8 = 1;
const WHOLLY_INSIDE: u8 = 2;

/// One area's classified cells: a `w`×`h` window of the grid from column `c0` and row `r0`, a status per cell, stored at `offset` in its worker's status buffer.
#[derive(Debug)]
struct Raster {
    entry: u32,
    c0: usize,
    r0: usize,
    w: usize,
    h: usize,
    offset: usize,
}

/// Marks the cells the area's boundary segments reach, in the area's `marks` (`w` cells wide, starting at cell `(c0, r0)`): a segment's cells are the box between its ends' cells.
fn mark_boundary(
    frame: &Frame,
    area: &PreparedArea,
    marks: &mut [u8],
    (c0, r0): (usize, usize),
    w: usize,
) {
    for ring in area.rings() {
        let mut previous: Option<(usize, usize)> = None;
        for &v in ring {
            let Some((c, r)) = frame.cell(v) else {
                continue;
            };
            let (pc, pr) = previous.unwrap_or((c, r));
            previous = Some((c, r));
            if (pc, pr) == (c, r) {
                marks[(r - r0) * w + c - c0] = BOUNDARY;
                continue;
            }
            for row in pr.min(r)..=pr.max(r) {
                let base = (row - r0) * w;
                marks[base + pc.min(c) - c0..=base + pc.max(c) - c0].fill(BOUNDARY);
            }
        }
    }
}

/// Classifies one area's cells into `statuses` (appended): boundary, wholly inside, or outside.
///
/// A segment's cells are the box between its ends' cells (the cell function is monotone), so each vertex's cell is computed once. Along a row, a run of cells no segment touches is wholly inside or wholly outside; the boundary's crossings of the row's centre line, found once per row, classify each run by the parity of those east of its first centre.
fn classify(
    frame: &Frame,
    area: &PreparedArea,
    index: usize,
    statuses: &mut Vec<u8>,
    crossings: &mut Vec<f64>,
) -> Option<Raster> {
    let e = area.envelope();
    let ((c0, r0), (c1, r1)) = (frame.cell(e.min())?, frame.cell(e.max())?);
    let (w, h) = (c1 - c0 + 1, r1 - r0 + 1);
    let offset = statuses.len();
    statuses.resize(offset + w * h, OUTSIDE);
    let marks = &mut statuses[offset..];
    mark_boundary(frame, area, marks, (c0, r0), w);
    for r in r0..=r1 {
        // The boundary's crossings of this row's centre line, found once when the row first needs them.
        let mut row_crossings: Option<&mut Vec<f64>> = None;
        let mut run_inside: Option<bool> = None;
        for c in c0..=c1 {
            let status = &mut marks[(r - r0) * w + c - c0];
            if *status == BOUNDARY {
                run_inside = None;
                continue;
            }
            let inside = match run_inside {
                Some(inside) => inside,
                None => {
                    let centre = frame.centre(c, r);
                    // A centre that rounds into a neighbouring cell cannot speak for this one: treat it as boundary.
                    if frame.cell(centre) != Some((c, r)) {
                        *status = BOUNDARY;
                        continue;
                    }
                    let xs = match row_crossings.take() {
                        Some(xs) => xs,
                        None => {
                            area.crossings(centre.y, crossings);
                            crossings.sort_unstable_by(f64::total_cmp);
                            &mut *crossings
                        }
                    };
                    // Even-odd: inside when an odd number of crossings lie east of the centre.
                    let east = xs.len() - xs.partition_point(|&x| x <= centre.x);
                    row_crossings = Some(xs);
                    let inside = east % 2 == 1;
                    run_inside = Some(inside);
                    inside
                }
            };
            if inside {
                *status = WHOLLY_INSIDE;
            }
        }
    }
    // Below `MAX_AREAS`, checked when the grid is built, so the position fits below the `INSIDE` bit.
    let entry = u32::try_from(index).ok().filter(|e| e & INSIDE == 0)?;
    Some(Raster {
        entry,
        c0,
        r0,
        w,
        h,
        offset,
    })
}

#[cfg(test)]
mod tests {
    use geo::{Intersects, LineString, MultiPolygon, Polygon};
    use gridwhistle_domain::GeoPoint;

    use super::super::index::PolygonIndex;
    use super::*;

    /// A noisy ring of `n` vertices around a centre, closed.
    fn ring(cx: f64, cy: f64, radius: f64, n: u32, wobble: f64) -> LineString<f64> {
        let mut points: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let a = f64::from(i) / f64::from(n) * std::f64::consts::TAU;
                let r = radius * (1.0 + wobble * (5.0 * a + cx * 100.0).sin());
                (cx + r * a.cos(), cy + r * a.sin())
            })
            .collect();
        points.push(points[0]);
        LineString::from(points)
    }

    #[test]
    fn cell_lookups_agree_with_geo_for_overlapping_areas_holes_and_points_on_borders() {
        // Overlapping noisy polygons (some with a hole, some with a second, disjoint part) and a large one that spans them all.
        let mut shapes = Vec::new();
        for i in 0..5 {
            for j in 0..5 {
                let (cx, cy) = (116.0 + f64::from(i) * 0.008, 40.0 + f64::from(j) * 0.008);
                let holes = if (i + j) % 3 == 0 {
                    vec![ring(cx, cy, 0.0015, 40, 0.1)]
                } else {
                    Vec::new()
                };
                let mut parts = vec![Polygon::new(ring(cx, cy, 0.005, 200, 0.2), holes)];
                if i == j {
                    parts.push(Polygon::new(
                        ring(cx + 0.0065, cy - 0.0065, 0.001, 12, 0.0),
                        vec![],
                    ));
                }
                shapes.push(MultiPolygon::new(parts));
            }
        }
        shapes.push(MultiPolygon::new(vec![Polygon::new(
            ring(116.016, 40.016, 0.03, 300, 0.05),
            vec![],
        )]));
        let index = PolygonIndex::new(
            shapes
                .iter()
                .map(|s| PreparedArea::new(s.clone()).unwrap())
                .collect(),
        );
        let mut probes: Vec<Coord<f64>> = Vec::new();
        for i in -60..=260 {
            for j in -60..=260 {
                probes.push(Coord {
                    x: 116.0 + f64::from(i) * 0.00013,
                    y: 40.0 + f64::from(j) * 0.00013,
                });
            }
        }
        // Every vertex is on a border, as the lattice rarely is.
        probes.extend(shapes.iter().flat_map(|s| {
            s.0.iter()
                .flat_map(|p| {
                    p.exterior()
                        .0
                        .iter()
                        .chain(p.interiors().iter().flat_map(|r| r.0.iter()))
                })
                .copied()
                .collect::<Vec<_>>()
        }));
        let (mut covered, mut inside_cells) = (0usize, 0usize);
        for p in &probes {
            let point = GeoPoint::new(p.y, p.x).unwrap();
            let expected: Vec<usize> = (0..shapes.len())
                .filter(|&k| shapes[k].intersects(p))
                .collect();
            let got: Vec<usize> = index.covering(point).collect();
            assert_eq!(got, expected, "at ({}, {})", p.y, p.x);
            covered += usize::from(!got.is_empty());
        }
        for &entry in &index.cells_for_tests().entries {
            inside_cells += usize::from(entry & INSIDE != 0);
        }
        assert!(covered > probes.len() / 2, "{covered} of {}", probes.len());
        // The grid decides most cells without geometry: a grid of only boundary cells would be no faster than the slabs.
        assert!(inside_cells > index.cells_for_tests().entries.len() / 2);
    }

    #[test]
    fn an_empty_index_covers_nothing() {
        let index = PolygonIndex::new(Vec::new());
        assert_eq!(
            index.covering(GeoPoint::new(40.0, 116.0).unwrap()).count(),
            0
        );
    }
}
