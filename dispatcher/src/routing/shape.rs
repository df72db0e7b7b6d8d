//! Turns raw polygon coordinates (as GeoJSON carries them) into a valid multipolygon, or says exactly what is wrong.

use geo::{Coord, LineString, MultiPolygon, Polygon, Validation};

/// One polygon as rings of positions: the exterior first, then holes; each position is `[lng, lat, …]`.
pub type RawPolygon = Vec<Vec<Vec<f64>>>;

/// What is wrong with a shape; `polygon` and `ring` count from 0.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShapeError {
    #[error("has no polygons")]
    Empty,
    #[error("polygon {polygon} has no rings")]
    NoRings { polygon: usize },
    #[error("polygon {polygon} ring {ring} has {count} positions; a closed ring needs at least 4")]
    TooFewPositions {
        polygon: usize,
        ring: usize,
        count: usize,
    },
    #[error("polygon {polygon} ring {ring} is not closed: its first and last positions differ")]
    NotClosed { polygon: usize, ring: usize },
    #[error("polygon {polygon} ring {ring} position {position} needs a longitude and a latitude")]
    MissingOrdinate {
        polygon: usize,
        ring: usize,
        position: usize,
    },
    #[error("polygon {polygon} ring {ring} position {position} is not a finite number")]
    NonFinite {
        polygon: usize,
        ring: usize,
        position: usize,
    },
    #[error(
        "polygon {polygon} ring {ring} position {position} is outside longitude -180..180 or latitude -90..90"
    )]
    OutOfRange {
        polygon: usize,
        ring: usize,
        position: usize,
    },
    #[error("{0}")]
    Invalid(String),
}

fn ring(polygon: usize, index: usize, raw: &[Vec<f64>]) -> Result<LineString<f64>, ShapeError> {
    let mut coords = Vec::with_capacity(raw.len());
    for (position, ordinates) in raw.iter().enumerate() {
        let (Some(&lng), Some(&lat)) = (ordinates.first(), ordinates.get(1)) else {
            return Err(ShapeError::MissingOrdinate {
                polygon,
                ring: index,
                position,
            });
        };
        if !lng.is_finite() || !lat.is_finite() {
            return Err(ShapeError::NonFinite {
                polygon,
                ring: index,
                position,
            });
        }
        if !(-180.0..=180.0).contains(&lng) || !(-90.0..=90.0).contains(&lat) {
            return Err(ShapeError::OutOfRange {
                polygon,
                ring: index,
                position,
            });
        }
        coords.push(Coord { x: lng, y: lat });
    }
    if coords.len() < 4 {
        return Err(ShapeError::TooFewPositions {
            polygon,
            ring: index,
            count: coords.len(),
        });
    }
    if coords.first() != coords.last() {
        return Err(ShapeError::NotClosed {
            polygon,
            ring: index,
        });
    }
    Ok(LineString::new(coords))
}

/// Builds a multipolygon from raw polygons, checking closure, ordinates and, through geo, self-intersections and holes outside their exterior.
pub fn multipolygon(raw: &[RawPolygon]) -> Result<MultiPolygon<f64>, ShapeError> {
    if raw.is_empty() {
        return Err(ShapeError::Empty);
    }
    let mut polygons = Vec::with_capacity(raw.len());
    for (p, rings) in raw.iter().enumerate() {
        let Some((exterior, holes)) = rings.split_first() else {
            return Err(ShapeError::NoRings { polygon: p });
        };
        let exterior = ring(p, 0, exterior)?;
        let holes = holes
            .iter()
            .enumerate()
            .map(|(i, hole)| ring(p, i + 1, hole))
            .collect::<Result<Vec<_>, _>>()?;
        polygons.push(Polygon::new(exterior, holes));
    }
    let shape = MultiPolygon::new(polygons);
    match shape.validation_errors().into_iter().next() {
        None => Ok(shape),
        Some(problem) => Err(ShapeError::Invalid(problem.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Vec<Vec<f64>> {
        vec![
            vec![0.0, 0.0],
            vec![1.0, 0.0],
            vec![1.0, 1.0],
            vec![0.0, 1.0],
            vec![0.0, 0.0],
        ]
    }

    #[test]
    fn a_closed_square_with_a_hole_is_valid() {
        let hole = vec![
            vec![0.2, 0.2],
            vec![0.4, 0.2],
            vec![0.4, 0.4],
            vec![0.2, 0.2],
        ];
        assert!(multipolygon(&[vec![square(), hole]]).is_ok());
    }

    #[test]
    fn each_defect_is_named_with_its_place() {
        let mut open = square();
        open.pop();
        open.push(vec![0.0, 0.5]);
        let cases: Vec<(Vec<RawPolygon>, &str)> = vec![
            (vec![], "has no polygons"),
            (vec![vec![]], "polygon 0 has no rings"),
            (
                vec![vec![square()[..3].to_vec()]],
                "polygon 0 ring 0 has 3 positions; a closed ring needs at least 4",
            ),
            (
                vec![vec![open]],
                "polygon 0 ring 0 is not closed: its first and last positions differ",
            ),
            (
                vec![
                    vec![square()],
                    vec![vec![vec![2.0, 0.0], vec![f64::NAN, 0.0]]],
                ],
                "polygon 1 ring 0 position 1 is not a finite number",
            ),
            (
                vec![vec![vec![vec![0.0]]]],
                "polygon 0 ring 0 position 0 needs a longitude and a latitude",
            ),
            (
                vec![vec![vec![vec![0.0, 95.0]]]],
                "polygon 0 ring 0 position 0 is outside longitude -180..180 or latitude -90..90",
            ),
        ];
        for (raw, message) in cases {
            assert_eq!(multipolygon(&raw).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn a_bow_tie_is_refused_as_self_intersecting() {
        let bow_tie = vec![
            vec![0.0, 0.0],
            vec![1.0, 1.0],
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![0.0, 0.0],
        ];
        let err = multipolygon(&[vec![bow_tie]]).unwrap_err();
        assert!(err.to_string().contains("self-intersection"), "{err}");
    }
}
