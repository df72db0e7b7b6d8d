//! The dispatch catalogue as a JSON file, for `gridwhistle import catalogue` and the sample district.

use gridwhistle_dispatcher::routing::rules::CategoryRule;
use gridwhistle_domain::{CategoryId, DepartmentType, RiskGrade};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    categories: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    display_name: String,
    lead: String,
    #[serde(default)]
    assists: Vec<String>,
    default_grade: String,
}

/// Parses a catalogue file, naming the first bad entry.
pub fn parse(text: &str) -> Result<Vec<CategoryRule>, String> {
    let file: File =
        serde_json::from_str(text).map_err(|err| format!("not a catalogue file: {err}"))?;
    file.categories
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let at = |field: &str, err: &dyn std::fmt::Display| {
                format!("categories[{i}].{field}: {err}")
            };
            Ok(CategoryRule {
                id: CategoryId::parse(&e.id).map_err(|err| at("id", &err))?,
                display_name: e.display_name,
                lead: DepartmentType::parse(&e.lead).map_err(|err| at("lead", &err))?,
                assists: e
                    .assists
                    .iter()
                    .map(|a| DepartmentType::parse(a).map_err(|err| at("assists", &err)))
                    .collect::<Result<_, _>>()?,
                default_grade: e
                    .default_grade
                    .parse::<RiskGrade>()
                    .map_err(|err| at("default_grade", &err))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalogue_file_parses_and_bad_entries_are_named() {
        let rules = parse(
            r#"{"categories":[{"id":"illegal-construction","display_name":"违法建设","lead":"urban_management","assists":["street_office"],"default_grade":"B"}]}"#,
        )
        .unwrap();
        assert_eq!(rules[0].assists[0].as_str(), "street_office");
        let err = parse(
            r#"{"categories":[{"id":"x","display_name":"x","lead":"Bad","default_grade":"C"}]}"#,
        )
        .unwrap_err();
        assert!(err.starts_with("categories[0].lead:"), "{err}");
        let err = parse(
            r#"{"categories":[{"id":"x","display_name":"x","lead":"a","default_grade":"Z"}]}"#,
        )
        .unwrap_err();
        assert!(err.contains("is not A, B or C"), "{err}");
    }
}
