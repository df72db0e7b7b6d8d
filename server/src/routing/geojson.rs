//! Reads grid and jurisdiction FeatureCollections, checking every feature and naming each bad one by index.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use geo::MultiPolygon;
use geojson::{Feature, FeatureCollection, GeometryValue};
use gridwhistle_dispatcher::routing::shape::{self, RawPolygon};
use gridwhistle_domain::{DepartmentId, DepartmentType, DisplayName, GridId};

use crate::storage::{Department, NewGrid};

/// One problem with an import, at a feature or with the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureViolation {
    /// A path such as `features[3].properties.grid_id`, or `geojson` for the document.
    pub field: String,
    pub reason: String,
}

impl FeatureViolation {
    fn new(field: impl Into<String>, reason: impl ToString) -> Self {
        Self {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

/// At most this many violations are reported; past that, the rest are summarised.
const MAX_VIOLATIONS: usize = 100;

#[derive(Debug)]
pub struct GridFeature {
    pub grid: NewGrid,
    pub shape: MultiPolygon<f64>,
    /// The feature as imported, as GeoJSON text, for drawing.
    pub geojson: String,
}

#[derive(Debug)]
pub struct JurisdictionFeature {
    pub id: String,
    pub department: DepartmentId,
    pub department_type: DepartmentType,
    pub priority: i32,
    pub shape: MultiPolygon<f64>,
    /// The feature as imported, as GeoJSON text, for drawing.
    pub geojson: String,
}

fn collection(text: &str) -> Result<FeatureCollection, Vec<FeatureViolation>> {
    FeatureCollection::from_str(text).map_err(|err| {
        vec![FeatureViolation::new(
            "geojson",
            format!("is not a GeoJSON FeatureCollection: {err}"),
        )]
    })
}

fn text_property<'f>(
    feature: &'f Feature,
    index: usize,
    key: &str,
) -> Result<&'f str, FeatureViolation> {
    feature
        .property(key)
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            FeatureViolation::new(
                format!("features[{index}].properties.{key}"),
                "must be a string",
            )
        })
}

fn shape_of(feature: &Feature, index: usize) -> Result<MultiPolygon<f64>, FeatureViolation> {
    let field = format!("features[{index}].geometry");
    let geometry = feature
        .geometry
        .as_ref()
        .ok_or_else(|| FeatureViolation::new(&field, "is missing"))?;
    let to_raw = |rings: &Vec<Vec<geojson::Position>>| -> RawPolygon {
        rings
            .iter()
            .map(|ring| ring.iter().map(|p| p.as_slice().to_vec()).collect())
            .collect()
    };
    let raw: Vec<RawPolygon> = match &geometry.value {
        GeometryValue::Polygon { coordinates } => vec![to_raw(coordinates)],
        GeometryValue::MultiPolygon { coordinates } => coordinates.iter().map(to_raw).collect(),
        other => {
            return Err(FeatureViolation::new(
                &field,
                format!(
                    "must be a Polygon or MultiPolygon, not a {}",
                    other.type_name()
                ),
            ));
        }
    };
    shape::multipolygon(&raw).map_err(|err| FeatureViolation::new(field, err))
}

/// Collects results, keeping the first violations; the import succeeds only when there are none.
fn finish<T>(
    items: Vec<T>,
    mut violations: Vec<FeatureViolation>,
) -> Result<Vec<T>, Vec<FeatureViolation>> {
    if violations.is_empty() {
        return Ok(items);
    }
    if violations.len() > MAX_VIOLATIONS {
        let more = violations.len() - MAX_VIOLATIONS;
        violations.truncate(MAX_VIOLATIONS);
        violations.push(FeatureViolation::new(
            "geojson",
            format!("{more} more problems not listed"),
        ));
    }
    Err(violations)
}

/// Grids: properties `grid_id`, `name`, `community`, `street`, `district`; ids unique.
pub fn grids(text: &str) -> Result<Vec<GridFeature>, Vec<FeatureViolation>> {
    let collection = collection(text)?;
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(collection.features.len());
    let mut violations = Vec::new();
    if collection.features.is_empty() {
        violations.push(FeatureViolation::new("geojson", "has no features"));
    }
    for (i, feature) in collection.features.iter().enumerate() {
        let parsed = (|| {
            let id = text_property(feature, i, "grid_id")?;
            let id = GridId::parse(id).map_err(|e| {
                FeatureViolation::new(format!("features[{i}].properties.grid_id"), e)
            })?;
            if !seen.insert(id.clone()) {
                return Err(FeatureViolation::new(
                    format!("features[{i}].properties.grid_id"),
                    format!("{id} appears twice"),
                ));
            }
            let name = text_property(feature, i, "name")?;
            let display_name = DisplayName::parse(name)
                .map_err(|e| FeatureViolation::new(format!("features[{i}].properties.name"), e))?;
            let grid = NewGrid {
                id,
                display_name,
                community: text_property(feature, i, "community")?.to_owned(),
                street: text_property(feature, i, "street")?.to_owned(),
                district: text_property(feature, i, "district")?.to_owned(),
            };
            Ok(GridFeature {
                grid,
                shape: shape_of(feature, i)?,
                geojson: feature.to_string(),
            })
        })();
        match parsed {
            Ok(item) => items.push(item),
            Err(violation) => violations.push(violation),
        }
    }
    finish(items, violations)
}

/// Jurisdictions: properties `department_id` and `department_type` (matching the department), optional `priority` and `jurisdiction_id`.
pub fn jurisdictions(
    text: &str,
    departments: &HashMap<DepartmentId, Department>,
) -> Result<Vec<JurisdictionFeature>, Vec<FeatureViolation>> {
    let collection = collection(text)?;
    let mut items = Vec::with_capacity(collection.features.len());
    let mut violations = Vec::new();
    let mut seen = HashSet::new();
    if collection.features.is_empty() {
        violations.push(FeatureViolation::new("geojson", "has no features"));
    }
    for (i, feature) in collection.features.iter().enumerate() {
        let parsed = (|| {
            let field = |key: &str| format!("features[{i}].properties.{key}");
            let id = DepartmentId::parse(text_property(feature, i, "department_id")?)
                .map_err(|e| FeatureViolation::new(field("department_id"), e))?;
            let department = departments.get(&id).ok_or_else(|| {
                FeatureViolation::new(field("department_id"), format!("unknown department {id}"))
            })?;
            let department_type =
                DepartmentType::parse(text_property(feature, i, "department_type")?)
                    .map_err(|e| FeatureViolation::new(field("department_type"), e))?;
            if department_type != department.department_type {
                return Err(FeatureViolation::new(
                    field("department_type"),
                    format!(
                        "department {id} is of type {}",
                        department.department_type.as_str()
                    ),
                ));
            }
            let priority = match feature.property("priority") {
                None => department.routing_priority,
                Some(value) => value
                    .as_i64()
                    .and_then(|p| i32::try_from(p).ok())
                    .ok_or_else(|| {
                        FeatureViolation::new(field("priority"), "must be a whole number")
                    })?,
            };
            let unit_id = match feature.property("jurisdiction_id") {
                None => format!("{id}#{i}"),
                Some(value) => value
                    .as_str()
                    .filter(|s| !s.is_empty() && s.len() <= 100)
                    .ok_or_else(|| {
                        FeatureViolation::new(
                            field("jurisdiction_id"),
                            "must be a string of 1 to 100 characters",
                        )
                    })?
                    .to_owned(),
            };
            if !seen.insert(unit_id.clone()) {
                return Err(FeatureViolation::new(
                    field("jurisdiction_id"),
                    format!("{unit_id} appears twice"),
                ));
            }
            Ok(JurisdictionFeature {
                id: unit_id,
                department: id,
                department_type,
                priority,
                shape: shape_of(feature, i)?,
                geojson: feature.to_string(),
            })
        })();
        match parsed {
            Ok(item) => items.push(item),
            Err(violation) => violations.push(violation),
        }
    }
    finish(items, violations)
}
