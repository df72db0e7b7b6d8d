//! The features of the boundary generation in force, by the unit they belong to, as imported: what an app draws as the caller's own area.

use std::collections::BTreeMap;

use gridwhistle_domain::{DepartmentId, GridId};

/// Each grid's feature and each department's jurisdiction features, as GeoJSON text.
#[derive(Debug, Default)]
pub struct Areas {
    /// The generation the features were cut from; 0 before the first import.
    pub generation: i64,
    grids: BTreeMap<GridId, String>,
    jurisdictions: BTreeMap<DepartmentId, Vec<String>>,
}

impl Areas {
    pub fn new(generation: i64) -> Self {
        Self {
            generation,
            ..Self::default()
        }
    }

    pub fn add_grid(&mut self, id: GridId, feature: String) {
        self.grids.insert(id, feature);
    }

    pub fn add_jurisdiction(&mut self, department: DepartmentId, feature: String) {
        self.jurisdictions
            .entry(department)
            .or_default()
            .push(feature);
    }

    /// A FeatureCollection of the grid's feature, or of none when the grid is not in force.
    pub fn grid(&self, id: &GridId) -> String {
        collection(self.grids.get(id).into_iter())
    }

    /// A FeatureCollection of the department's jurisdictions, in import order.
    pub fn department(&self, id: &DepartmentId) -> String {
        collection(self.jurisdictions.get(id).into_iter().flatten())
    }

    /// A FeatureCollection of every grid of the district, by grid id.
    pub fn district(&self) -> String {
        collection(self.grids.values())
    }

    /// A FeatureCollection of every department's jurisdictions, by department id, each department's in import order.
    pub fn all_jurisdictions(&self) -> String {
        collection(self.jurisdictions.values().flatten())
    }
}

/// Joins features, each already GeoJSON text, into a FeatureCollection.
fn collection<'a>(features: impl Iterator<Item = &'a String>) -> String {
    let mut out = String::from(r#"{"type":"FeatureCollection","features":["#);
    for (i, feature) in features.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(feature);
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_gets_a_feature_collection_of_its_own_features() {
        let mut areas = Areas::new(3);
        let feature = |id: &str| {
            format!(r#"{{"type":"Feature","properties":{{"id":"{id}"}},"geometry":null}}"#)
        };
        areas.add_grid(GridId::parse("g-2").unwrap(), feature("g-2"));
        areas.add_grid(GridId::parse("g-1").unwrap(), feature("g-1"));
        let police = DepartmentId::parse("police").unwrap();
        areas.add_jurisdiction(police.clone(), feature("p-1"));
        areas.add_jurisdiction(police.clone(), feature("p-2"));
        areas.add_jurisdiction(DepartmentId::parse("housing").unwrap(), feature("h-1"));
        let parse = |text: String| text.parse::<geojson::FeatureCollection>().unwrap();
        let ids = |text: String| -> Vec<String> {
            parse(text)
                .features
                .iter()
                .map(|f| f.property("id").unwrap().as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(areas.grid(&GridId::parse("g-1").unwrap())), ["g-1"]);
        assert_eq!(ids(areas.district()), ["g-1", "g-2"]);
        assert_eq!(ids(areas.department(&police)), ["p-1", "p-2"]);
        assert!(ids(areas.department(&DepartmentId::parse("fire").unwrap())).is_empty());
        assert_eq!(ids(areas.all_jurisdictions()), ["h-1", "p-1", "p-2"]);
        assert!(ids(Areas::default().district()).is_empty());
    }
}
