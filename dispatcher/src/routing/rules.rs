//! The routing rules over one immutable routing table: single cover, tie-break, fallback, and the near-border flag.

use std::collections::HashMap;
use std::fmt::Write as _;

use gridwhistle_domain::{
    CategoryId, CoordinateSystem, DepartmentId, DepartmentType, GeoPoint, GridId, RiskGrade,
};

use super::coords::to_wgs84;
use super::index::{Hit, PolygonIndex, PreparedArea};

/// One department's jurisdiction polygon.
#[derive(Debug, Clone)]
pub struct Jurisdiction {
    /// The feature's stable id within its import.
    pub id: String,
    pub department: DepartmentId,
    pub department_type: DepartmentType,
    /// Higher wins where units of one type overlap or share a border.
    pub priority: i32,
    pub area: PreparedArea,
}

/// One grid polygon.
#[derive(Debug, Clone)]
pub struct GridArea {
    pub id: GridId,
    pub area: PreparedArea,
}

/// How one report category is dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRule {
    pub id: CategoryId,
    pub display_name: String,
    pub lead: DepartmentType,
    pub assists: Vec<DepartmentType>,
    pub default_grade: RiskGrade,
}

/// Everything a routing table is built from.
#[derive(Debug, Clone)]
pub struct RoutingInput {
    pub generation: i64,
    pub grids: Vec<GridArea>,
    pub jurisdictions: Vec<Jurisdiction>,
    pub catalogue: Vec<CategoryRule>,
    /// The district's fallback owner (兜底), if one is configured.
    pub fallback: Option<DepartmentId>,
    /// A point closer than this to a border is flagged for confirmation.
    pub near_border_m: f64,
}

/// What routing needs of a jurisdiction once its polygon is in the index.
#[derive(Debug)]
struct Unit {
    id: String,
    department: DepartmentId,
    priority: i32,
}

/// The units of one department type, in the same order as their areas in the index.
#[derive(Debug)]
struct TypeIndex {
    index: PolygonIndex,
    units: Vec<Unit>,
}

/// An immutable snapshot of boundaries and catalogue; swapped whole on import.
#[derive(Debug)]
pub struct RoutingTable {
    generation: i64,
    grids: PolygonIndex,
    grid_ids: Vec<GridId>,
    by_type: HashMap<DepartmentType, TypeIndex>,
    catalogue: HashMap<CategoryId, CategoryRule>,
    fallback: Option<DepartmentId>,
    near_border_m: f64,
}

/// A report's position as the device gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub point: GeoPoint,
    pub system: CoordinateSystem,
    pub accuracy_m: f64,
}

impl Position {
    /// The position in WGS-84 as `(latitude, longitude)`, where routing and maps work.
    pub fn wgs84(&self) -> (f64, f64) {
        to_wgs84(self.point.lat(), self.point.lng(), self.system)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Lead,
    Assist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Exactly one unit of the lead type covers the point.
    SingleCover,
    /// Several units cover it: priority, then smallest area, then id.
    TieBreak,
    /// None covers it: the fallback owner, and a supervisor looks.
    Fallback,
}

/// A department summoned by a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Summoned {
    pub department: DepartmentId,
    pub department_type: DepartmentType,
    pub role: Role,
    /// The jurisdiction feature that covered the point; `None` for the fallback owner.
    pub jurisdiction: Option<String>,
}

/// A routing decision with everything needed to check it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub generation: i64,
    pub category: CategoryId,
    pub rule: Rule,
    pub summoned: Vec<Summoned>,
    pub near_border: bool,
    /// Metres to the nearest border of a unit of a needed type near the point, if any.
    pub border_distance_m: Option<f64>,
    pub needs_supervisor: bool,
    pub routed_point: GeoPoint,
    pub grid: Option<GridId>,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("unknown category {0}")]
    UnknownCategory(CategoryId),
    #[error("the converted position is not a valid point")]
    BadConversion,
}

/// Where a routing looks: the point in WGS-84, the near-border radius, and the departments it may not summon.
#[derive(Clone, Copy)]
struct Probe<'a> {
    point: GeoPoint,
    radius: f64,
    excluded: &'a [DepartmentId],
}

impl RoutingTable {
    /// Builds the indexes; costly for large inputs, so servers call it off the async threads.
    pub fn build(input: RoutingInput) -> Self {
        let grid_ids = input.grids.iter().map(|g| g.id.clone()).collect();
        let grids = PolygonIndex::new(input.grids.into_iter().map(|g| g.area).collect());
        let mut grouped: HashMap<DepartmentType, (Vec<PreparedArea>, Vec<Unit>)> = HashMap::new();
        for j in input.jurisdictions {
            let (areas, units) = grouped.entry(j.department_type).or_default();
            areas.push(j.area);
            units.push(Unit {
                id: j.id,
                department: j.department,
                priority: j.priority,
            });
        }
        let by_type = grouped
            .into_iter()
            .map(|(t, (areas, units))| {
                let index = PolygonIndex::new(areas);
                (t, TypeIndex { index, units })
            })
            .collect();
        Self {
            generation: input.generation,
            grids,
            grid_ids,
            by_type,
            catalogue: input
                .catalogue
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect(),
            fallback: input.fallback,
            near_border_m: input.near_border_m,
        }
    }

    pub fn generation(&self) -> i64 {
        self.generation
    }

    pub fn category(&self, id: &CategoryId) -> Option<&CategoryRule> {
        self.catalogue.get(id)
    }

    /// Decides which departments a report at `position` in `category` summons.
    pub fn route(
        &self,
        position: Position,
        category: &CategoryId,
    ) -> Result<Decision, RoutingError> {
        self.route_excluding(position, category, &[])
    }

    /// Decides as [`Self::route`] does, but never summons the `excluded` departments (those that returned the case).
    pub fn route_excluding(
        &self,
        position: Position,
        category: &CategoryId,
        excluded: &[DepartmentId],
    ) -> Result<Decision, RoutingError> {
        let rule = self
            .catalogue
            .get(category)
            .ok_or_else(|| RoutingError::UnknownCategory(category.clone()))?;
        let (lat, lng) = position.wgs84();
        let point = GeoPoint::new(lat, lng).map_err(|_| RoutingError::BadConversion)?;
        let radius = self.near_border_m.max(position.accuracy_m);
        let mut explanation = String::new();
        let mut nearest: Option<f64> = None;
        let mut summoned: Vec<Summoned> = Vec::new();
        let probe = Probe {
            point,
            radius,
            excluded,
        };
        let decided_rule =
            self.summon_lead(rule, probe, &mut nearest, &mut summoned, &mut explanation);
        for assist in &rule.assists {
            self.summon_assist(assist, probe, &mut nearest, &mut summoned, &mut explanation);
        }
        let near_border = nearest.is_some_and(|d| d <= radius);
        if let Some(d) = nearest.filter(|_| near_border) {
            let _ = write!(
                explanation,
                "; near a border ({d:.1} m, threshold {radius:.1} m)"
            );
        }
        let grid = self
            .grids
            .covering(point)
            .min()
            .and_then(|i| self.grid_ids.get(i).cloned());
        Ok(Decision {
            generation: self.generation,
            category: category.clone(),
            rule: decided_rule,
            needs_supervisor: decided_rule == Rule::Fallback,
            summoned,
            near_border,
            border_distance_m: nearest,
            routed_point: point,
            grid,
            explanation,
        })
    }

    /// Summons the lead: the winning covering unit, else the fallback owner (兜底) unless it returned the case; answers which rule decided.
    fn summon_lead(
        &self,
        rule: &CategoryRule,
        probe: Probe<'_>,
        nearest: &mut Option<f64>,
        summoned: &mut Vec<Summoned>,
        explanation: &mut String,
    ) -> Rule {
        let lead = self.pick(
            &rule.lead,
            probe.point,
            probe.radius,
            probe.excluded,
            nearest,
        );
        let decided = match &lead {
            Some((_, 1)) => Rule::SingleCover,
            Some(_) => Rule::TieBreak,
            None => Rule::Fallback,
        };
        match lead {
            Some(((id, department), covering)) => {
                let _ = write!(
                    explanation,
                    "lead {}: {department} by jurisdiction {id} ({covering} covering)",
                    rule.lead.as_str()
                );
                summoned.push(Summoned {
                    department,
                    department_type: rule.lead.clone(),
                    role: Role::Lead,
                    jurisdiction: Some(id),
                });
            }
            None => match self
                .fallback
                .as_ref()
                .filter(|f| !probe.excluded.contains(f))
            {
                Some(fallback) => {
                    let _ = write!(
                        explanation,
                        "lead {}: no unit covers the point; fallback owner {fallback}",
                        rule.lead.as_str()
                    );
                    summoned.push(Summoned {
                        department: fallback.clone(),
                        department_type: rule.lead.clone(),
                        role: Role::Lead,
                        jurisdiction: None,
                    });
                }
                None => {
                    let _ = write!(
                        explanation,
                        "lead {}: no unit covers the point and no fallback owner is left",
                        rule.lead.as_str()
                    );
                }
            },
        }
        decided
    }

    /// Summons the winning covering unit of an assisting type, unless it is summoned already.
    fn summon_assist(
        &self,
        assist: &DepartmentType,
        probe: Probe<'_>,
        nearest: &mut Option<f64>,
        summoned: &mut Vec<Summoned>,
        explanation: &mut String,
    ) {
        match self.pick(assist, probe.point, probe.radius, probe.excluded, nearest) {
            Some(((id, department), covering)) => {
                if summoned.iter().any(|s| s.department == department) {
                    let _ = write!(
                        explanation,
                        "; assist {}: {department} already summoned",
                        assist.as_str()
                    );
                    return;
                }
                let _ = write!(
                    explanation,
                    "; assist {}: {department} by jurisdiction {id} ({covering} covering)",
                    assist.as_str()
                );
                summoned.push(Summoned {
                    department,
                    department_type: assist.clone(),
                    role: Role::Assist,
                    jurisdiction: Some(id),
                });
            }
            None => {
                let _ = write!(
                    explanation,
                    "; assist {}: no unit covers the point",
                    assist.as_str()
                );
            }
        }
    }

    /// The winning unit of `department_type` covering the point, not of an excluded department, and how many covered it; updates the nearest border seen.
    fn pick(
        &self,
        department_type: &DepartmentType,
        point: GeoPoint,
        radius: f64,
        excluded: &[DepartmentId],
        nearest: &mut Option<f64>,
    ) -> Option<((String, DepartmentId), usize)> {
        let type_index = self.by_type.get(department_type)?;
        let hits = type_index.index.near(point, radius);
        for hit in &hits {
            *nearest =
                Some(nearest.map_or(hit.border_distance_m, |n| n.min(hit.border_distance_m)));
        }
        let covering: Vec<&Hit> = hits
            .iter()
            .filter(|h| h.covers && !excluded.contains(&type_index.units[h.index].department))
            .collect();
        let winner = covering.iter().min_by(|a, b| {
            let (ua, ub) = (&type_index.units[a.index], &type_index.units[b.index]);
            let (area_a, area_b) = (
                type_index.index.areas()[a.index].area_m2(),
                type_index.index.areas()[b.index].area_m2(),
            );
            ub.priority
                .cmp(&ua.priority)
                .then(area_a.total_cmp(&area_b))
                .then_with(|| ua.id.cmp(&ub.id))
        })?;
        let unit = &type_index.units[winner.index];
        Some(((unit.id.clone(), unit.department.clone()), covering.len()))
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
