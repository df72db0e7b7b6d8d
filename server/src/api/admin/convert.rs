//! Conversions between the admin API's messages and the directory's, boundaries' and catalogue's records, and the parsing of resource names.

use gridwhistle_domain::{DepartmentId, DepartmentType, DisplayName, GridId, UserId};
use gridwhistle_proto::v1;

use crate::api::convert::{Violations, resource_id, role_to_proto, timestamp};
use crate::api::error::ApiError;
use crate::api::routing::category_name;
use crate::storage::{BoundaryGeneration, BoundaryKind, Department, User};
use gridwhistle_dispatcher::routing::rules::CategoryRule;
use gridwhistle_domain::RiskGrade;

pub(super) fn generation_to_proto(
    feature_count: i32,
    generation: Option<BoundaryGeneration>,
    kind: v1::BoundaryKind,
) -> v1::BoundaryGeneration {
    match generation {
        Some(g) => v1::BoundaryGeneration {
            generation: g.id,
            kind: match g.kind {
                BoundaryKind::Grids => v1::BoundaryKind::Grids,
                BoundaryKind::Jurisdictions => v1::BoundaryKind::Jurisdictions,
            }
            .into(),
            feature_count: g.feature_count,
            importer: g.importer.map(|u| format!("users/{u}")).unwrap_or_default(),
            create_time: Some(timestamp(g.created_at)),
            current: false,
        },
        // Validated only: nothing was stored, so there is no generation number.
        None => v1::BoundaryGeneration {
            feature_count,
            kind: kind.into(),
            ..Default::default()
        },
    }
}

pub(super) fn grade_to_proto(grade: RiskGrade) -> v1::RiskGrade {
    match grade {
        RiskGrade::A => v1::RiskGrade::A,
        RiskGrade::B => v1::RiskGrade::B,
        RiskGrade::C => v1::RiskGrade::C,
    }
}

pub(crate) fn category_to_proto(rule: CategoryRule) -> v1::CategoryRule {
    v1::CategoryRule {
        name: format!("categories/{}", rule.id),
        display_name: rule.display_name,
        lead_department_type: rule.lead.as_str().to_owned(),
        assisting_department_types: rule.assists.iter().map(|t| t.as_str().to_owned()).collect(),
        default_risk_grade: grade_to_proto(rule.default_grade).into(),
    }
}

/// Parses a catalogue, naming each bad field by its index.
pub(super) fn catalogue_from_proto(
    categories: &[v1::CategoryRule],
) -> Result<Vec<CategoryRule>, ApiError> {
    let mut v = Violations::default();
    let mut rules = Vec::with_capacity(categories.len());
    let mut seen = std::collections::HashSet::new();
    if categories.is_empty() {
        v.add("categories", "must list at least one category");
    }
    for (i, c) in categories.iter().enumerate() {
        let f = |name: &str| format!("categories[{i}].{name}");
        let id = v.check(&f("name"), category_name(&c.name));
        if let Some(id) = &id
            && !seen.insert(id.clone())
        {
            v.add(&f("name"), format!("{id} appears twice"));
        }
        let display_name = v.check(&f("display_name"), DisplayName::parse(&c.display_name));
        let lead = v.check(
            &f("lead_department_type"),
            DepartmentType::parse(&c.lead_department_type),
        );
        let assists: Vec<Option<DepartmentType>> = c
            .assisting_department_types
            .iter()
            .enumerate()
            .map(|(j, t)| {
                v.check(
                    &f(&format!("assisting_department_types[{j}]")),
                    DepartmentType::parse(t),
                )
            })
            .collect();
        let grade = match v1::RiskGrade::try_from(c.default_risk_grade) {
            Ok(v1::RiskGrade::A) => Some(RiskGrade::A),
            Ok(v1::RiskGrade::B) => Some(RiskGrade::B),
            Ok(v1::RiskGrade::C) => Some(RiskGrade::C),
            Ok(v1::RiskGrade::Unspecified) | Err(_) => {
                v.add(&f("default_risk_grade"), "must be A, B or C");
                None
            }
        };
        if let (Some(id), Some(display_name), Some(lead), Some(default_grade)) =
            (id, display_name, lead, grade)
        {
            rules.push(CategoryRule {
                id,
                display_name: display_name.as_str().to_owned(),
                lead,
                assists: assists.into_iter().flatten().collect(),
                default_grade,
            });
        }
    }
    v.finish()?;
    Ok(rules)
}

pub(crate) fn department_to_proto(d: Department) -> v1::Department {
    v1::Department {
        name: format!("departments/{}", d.id),
        display_name: d.display_name.as_str().to_owned(),
        department_type: d.department_type.as_str().to_owned(),
        routing_priority: d.routing_priority,
        fallback_owner: d.fallback_owner,
        create_time: Some(timestamp(d.created_at)),
        update_time: Some(timestamp(d.updated_at)),
    }
}

pub(super) fn user_to_proto(u: User) -> v1::User {
    v1::User {
        name: format!("users/{}", u.id),
        username: u.username.to_string(),
        display_name: u.display_name.as_str().to_owned(),
        role: role_to_proto(u.binding.role()).into(),
        grid: u
            .binding
            .grid()
            .map(|g| format!("grids/{g}"))
            .unwrap_or_default(),
        department: u
            .binding
            .department()
            .map(|d| format!("departments/{d}"))
            .unwrap_or_default(),
        disabled: u.disabled,
        create_time: Some(timestamp(u.created_at)),
        update_time: Some(timestamp(u.updated_at)),
    }
}

pub(crate) fn department_name(name: &str) -> Result<DepartmentId, String> {
    resource_id(name, "departments")
        .and_then(|id| DepartmentId::parse(id).map_err(|e| e.to_string()))
}

pub(super) fn grid_name(name: &str) -> Result<GridId, String> {
    resource_id(name, "grids").and_then(|id| GridId::parse(id).map_err(|e| e.to_string()))
}

pub(crate) fn user_name(name: &str) -> Result<UserId, String> {
    resource_id(name, "users").and_then(|id| UserId::parse(id).map_err(|e| e.to_string()))
}

/// Parses an optional unit reference: empty means none.
pub(super) fn optional<T>(
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse(value).map(Some)
    }
}
