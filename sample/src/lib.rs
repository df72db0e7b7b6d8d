//! Generators for routing data: a realistic sample district (grids as a Voronoi tessellation clipped to an irregular outline, with overlapping department jurisdictions of their own shapes) and large synthetic polygon sets for benchmarks.

pub mod district;
pub mod rng;
pub mod synthetic;

use geo::{Coord, LineString, MultiPolygon, Polygon};

/// A local metric frame around a district centre: x east and y north, in metres.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub lat0: f64,
    pub lng0: f64,
}

impl Frame {
    fn metres_per_deg_lng(&self) -> f64 {
        111_320.0 * self.lat0.to_radians().cos()
    }

    /// Converts a metric point to degrees: x is longitude, y latitude.
    pub fn to_degrees(&self, c: Coord<f64>) -> Coord<f64> {
        Coord {
            x: self.lng0 + c.x / self.metres_per_deg_lng(),
            y: self.lat0 + c.y / 110_574.0,
        }
    }

    /// Converts a metric point to (lng, lat), rounded to 1e-7 degrees (about a centimetre).
    pub fn to_lng_lat(&self, c: Coord<f64>) -> (f64, f64) {
        let round = |v: f64| (v * 1e7).round() / 1e7;
        let d = self.to_degrees(c);
        (round(d.x), round(d.y))
    }

    /// A metric multipolygon as GeoJSON `MultiPolygon` coordinates in WGS-84.
    pub fn geojson_coordinates(&self, shape: &MultiPolygon<f64>) -> serde_json::Value {
        let ring = |r: &LineString<f64>| {
            let mut points: Vec<(f64, f64)> = r.0.iter().map(|c| self.to_lng_lat(*c)).collect();
            // Rounding can make neighbouring vertices equal; a repeated point is not a segment.
            points.dedup();
            serde_json::Value::Array(
                points
                    .into_iter()
                    .map(|(lng, lat)| serde_json::json!([lng, lat]))
                    .collect(),
            )
        };
        let polygon = |p: &Polygon<f64>| {
            let mut rings = vec![ring(p.exterior())];
            rings.extend(p.interiors().iter().map(ring));
            serde_json::Value::Array(rings)
        };
        serde_json::Value::Array(shape.0.iter().map(polygon).collect())
    }
}

/// Reads GeoJSON `MultiPolygon` coordinates back into a geo shape; `None` if they are not well formed.
pub fn multipolygon_from_geojson(coordinates: &serde_json::Value) -> Option<MultiPolygon<f64>> {
    let ring = |r: &serde_json::Value| -> Option<LineString<f64>> {
        Some(LineString::new(
            r.as_array()?
                .iter()
                .map(|p| {
                    Some(Coord {
                        x: p.get(0)?.as_f64()?,
                        y: p.get(1)?.as_f64()?,
                    })
                })
                .collect::<Option<_>>()?,
        ))
    };
    Some(MultiPolygon::new(
        coordinates
            .as_array()?
            .iter()
            .map(|p| {
                let rings = p.as_array()?;
                let holes = rings.get(1..)?.iter().map(ring).collect::<Option<_>>()?;
                Some(Polygon::new(ring(rings.first()?)?, holes))
            })
            .collect::<Option<_>>()?,
    ))
}

/// A GeoJSON Feature with a MultiPolygon geometry.
pub fn feature(
    properties: serde_json::Value,
    frame: &Frame,
    shape: &MultiPolygon<f64>,
) -> serde_json::Value {
    serde_json::json!({
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": "MultiPolygon", "coordinates": frame.geojson_coordinates(shape)},
    })
}

pub fn feature_collection(features: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({"type": "FeatureCollection", "features": features})
}

/// A WGS-84 point `(latitude, longitude)` inside the grid `grid_id` of a grids GeoJSON document such as `server/demo/grids.geojson`.
pub fn point_in_grid(grids_geojson: &str, grid_id: &str) -> Option<(f64, f64)> {
    use geo::InteriorPoint;
    let grids: serde_json::Value = serde_json::from_str(grids_geojson).ok()?;
    let feature = grids["features"]
        .as_array()?
        .iter()
        .find(|f| f["properties"]["grid_id"] == grid_id)?;
    let point = multipolygon_from_geojson(&feature["geometry"]["coordinates"])?.interior_point()?;
    Some((point.y(), point.x()))
}
