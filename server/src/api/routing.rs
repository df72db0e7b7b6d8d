//! Conversions between routing's domain types and the API's messages.

use gridwhistle_dispatcher::routing::rules::{Decision, Position, Role, Rule};
use gridwhistle_domain::location::check_accuracy;
use gridwhistle_domain::{CategoryId, CoordinateSystem, GeoPoint};
use gridwhistle_proto::v1;

use super::convert::{Violations, resource_id};
use super::error::ApiError;
use crate::routing::RoutingServiceError;

impl From<RoutingServiceError> for ApiError {
    fn from(err: RoutingServiceError) -> Self {
        match err {
            RoutingServiceError::Invalid(violations) => ApiError::InvalidArgument(
                violations
                    .into_iter()
                    .map(|v| {
                        // Feature paths sit under the request's `geojson` field; document-level problems name it alone.
                        let field = if v.field == "geojson" {
                            v.field
                        } else {
                            format!("geojson.{}", v.field)
                        };
                        super::error::FieldViolation::new(field, v.reason)
                    })
                    .collect(),
            ),
            RoutingServiceError::Storage(err) => err.into(),
            RoutingServiceError::Route(
                gridwhistle_dispatcher::routing::rules::RoutingError::UnknownCategory(id),
            ) => ApiError::field("category", format!("unknown category {id}")),
            RoutingServiceError::Route(
                gridwhistle_dispatcher::routing::rules::RoutingError::BadConversion,
            ) => ApiError::field("location", "does not convert to a WGS-84 point"),
            RoutingServiceError::Build(_) | RoutingServiceError::StoredInvalid(_) => {
                ApiError::internal(err)
            }
        }
    }
}

/// Parses a `categories/{category}` name.
pub(crate) fn category_name(name: &str) -> Result<CategoryId, String> {
    resource_id(name, "categories").and_then(|id| CategoryId::parse(id).map_err(|e| e.to_string()))
}

/// Parses a location, recording every problem under `field`.
pub(crate) fn position(
    v: &mut Violations,
    field: &str,
    location: Option<&v1::Location>,
) -> Option<Position> {
    let Some(location) = location else {
        v.add(field, "is required");
        return None;
    };
    let lat = v.check(
        &format!("{field}.latitude"),
        GeoPoint::latitude(location.latitude).map_err(|e| e.to_string()),
    );
    let lng = v.check(
        &format!("{field}.longitude"),
        GeoPoint::longitude(location.longitude).map_err(|e| e.to_string()),
    );
    let point = match (lat, lng) {
        (Some(lat), Some(lng)) => {
            v.check(field, GeoPoint::new(lat, lng).map_err(|e| e.to_string()))
        }
        _ => None,
    };
    let system = match v1::CoordinateSystem::try_from(location.coordinate_system) {
        Ok(v1::CoordinateSystem::Wgs84) => Some(CoordinateSystem::Wgs84),
        Ok(v1::CoordinateSystem::Gcj02) => Some(CoordinateSystem::Gcj02),
        Ok(v1::CoordinateSystem::Bd09) => Some(CoordinateSystem::Bd09),
        Ok(v1::CoordinateSystem::Unspecified) | Err(_) => {
            v.add(
                &format!("{field}.coordinate_system"),
                "must be WGS84, GCJ02 or BD09",
            );
            None
        }
    };
    let accuracy = v.check(
        &format!("{field}.accuracy_meters"),
        check_accuracy(location.accuracy_meters),
    );
    Some(Position {
        point: point?,
        system: system?,
        accuracy_m: accuracy?,
    })
}

pub(crate) fn decision_to_proto(d: &Decision) -> v1::RoutingDecision {
    v1::RoutingDecision {
        departments: d
            .summoned
            .iter()
            .map(|s| v1::RoutedDepartment {
                department: format!("departments/{}", s.department),
                department_type: s.department_type.as_str().to_owned(),
                role: match s.role {
                    Role::Lead => v1::AssignmentRole::Lead,
                    Role::Assist => v1::AssignmentRole::Assist,
                }
                .into(),
                jurisdiction: s.jurisdiction.clone().unwrap_or_default(),
            })
            .collect(),
        generation: d.generation,
        rule: match d.rule {
            Rule::SingleCover => v1::RoutingRule::SingleCover,
            Rule::TieBreak => v1::RoutingRule::TieBreak,
            Rule::Fallback => v1::RoutingRule::Fallback,
        }
        .into(),
        near_border: d.near_border,
        border_distance_meters: d.border_distance_m,
        needs_supervisor: d.needs_supervisor,
        routed_location: Some(v1::Location {
            latitude: d.routed_point.lat(),
            longitude: d.routed_point.lng(),
            coordinate_system: v1::CoordinateSystem::Wgs84.into(),
            accuracy_meters: 0.0,
        }),
        grid: d
            .grid
            .as_ref()
            .map(|g| format!("grids/{g}"))
            .unwrap_or_default(),
        explanation: d.explanation.clone(),
    }
}
