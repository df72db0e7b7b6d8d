//! The routing service: imports boundaries and the catalogue, keeps the routing table in force, and swaps it atomically without blocking lookups.

mod areas;
pub mod catalogue_file;
pub mod geojson;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gridwhistle_dispatcher::Clock;
use gridwhistle_dispatcher::routing::index::prepare_all;
use gridwhistle_dispatcher::routing::rules::{
    CategoryRule, Decision, GridArea, Jurisdiction, Position, RoutingError, RoutingInput,
    RoutingTable,
};
use gridwhistle_domain::{CategoryId, DepartmentId, UserId};
use tracing::{info, instrument, warn};

use crate::storage::{
    BoundaryGeneration, BoundaryKind, BoundarySet, Department, NewBoundaryImport, RoutingVersions,
    StorageError, Store,
};
pub use areas::Areas;
pub use geojson::FeatureViolation;

#[derive(Debug, thiserror::Error)]
pub enum RoutingServiceError {
    #[error("the import is invalid")]
    Invalid(Vec<FeatureViolation>),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Route(#[from] RoutingError),
    #[error("building the routing table failed")]
    Build(#[source] tokio::task::JoinError),
    #[error("stored boundaries no longer parse")]
    StoredInvalid(Vec<FeatureViolation>),
}

/// What an import did, or would do with `validate_only`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    pub feature_count: i32,
    /// `None` when only validated.
    pub generation: Option<BoundaryGeneration>,
}

/// Holds the routing table in force.
#[derive(Debug)]
pub struct Routing {
    store: Store,
    clock: Arc<dyn Clock>,
    near_border_m: f64,
    table: ArcSwap<RoutingTable>,
    /// The features of the generation in force, swapped with the table.
    areas: ArcSwap<Areas>,
    /// What the table in force was built from.
    loaded: std::sync::Mutex<Loaded>,
    /// One rebuild at a time: an import's and the refresher's would otherwise race to swap.
    rebuild: tokio::sync::Mutex<()>,
    /// How long the last table build took, in microseconds.
    build_micros: std::sync::atomic::AtomicU64,
}

fn empty_table(near_border_m: f64) -> RoutingTable {
    RoutingTable::build(empty_input(near_border_m, &HashMap::new()))
}

/// A generation's feature count; more than its column holds is refused as a whole-document problem.
fn count(n: usize) -> Result<i32, RoutingServiceError> {
    i32::try_from(n).map_err(|_| {
        RoutingServiceError::Invalid(vec![FeatureViolation {
            field: "geojson".to_owned(),
            reason: format!("{n} features are more than one import may hold"),
        }])
    })
}

impl Routing {
    /// Loads the boundaries and catalogue in force.
    pub async fn load(
        store: Store,
        clock: Arc<dyn Clock>,
        near_border_m: f64,
    ) -> Result<Self, RoutingServiceError> {
        let routing = Self {
            store,
            clock,
            near_border_m,
            table: ArcSwap::from_pointee(empty_table(near_border_m)),
            areas: ArcSwap::from_pointee(Areas::default()),
            loaded: std::sync::Mutex::new(Loaded::default()),
            rebuild: tokio::sync::Mutex::new(()),
            build_micros: std::sync::atomic::AtomicU64::new(0),
        };
        routing.reload().await?;
        Ok(routing)
    }

    /// Rebuilds the table when the database holds a newer generation or catalogue than the one in force, or departments
    /// changed in what routing reads of them (type, priority, fallback owner): another replica's import or department
    /// change, or a rebuild that failed after an import committed. Returns whether it rebuilt.
    pub async fn refresh(&self) -> Result<bool, RoutingServiceError> {
        let newest = Loaded {
            versions: self.store.boundaries().routing_versions().await?,
            departments: routing_view(&self.departments().await?),
        };
        let unchanged = *self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            == newest;
        if unchanged {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Calls `refresh` every `period` until `stop` completes; failures are logged and retried on the next tick.
    pub async fn keep_fresh(&self, period: std::time::Duration, stop: impl Future<Output = ()>) {
        // The first check waits a period: the table was just loaded.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = ticks.tick() => {
                    if let Err(err) = self.refresh().await {
                        warn!(error = %err, "routing table refresh failed; retrying on the next tick");
                    }
                }
            }
        }
    }

    /// Boundary generations, newest first, before the generation `before` when given.
    pub async fn generations(
        &self,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<BoundaryGeneration>, StorageError> {
        self.store
            .boundaries()
            .list_boundary_generations(before, limit)
            .await
    }

    /// The catalogue version in force and its rules, if one was ever imported.
    pub async fn catalogue(&self) -> Result<Option<(i64, Vec<CategoryRule>)>, StorageError> {
        self.store.boundaries().current_catalogue().await
    }

    /// How long the last table build took.
    pub fn last_build(&self) -> std::time::Duration {
        std::time::Duration::from_micros(
            self.build_micros.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// The features of the generation in force, by unit; a cheap atomic load.
    pub fn areas(&self) -> Arc<Areas> {
        self.areas.load_full()
    }

    /// The table in force; a cheap atomic load, never blocked by a rebuild.
    pub fn table(&self) -> Arc<RoutingTable> {
        self.table.load_full()
    }

    async fn departments(&self) -> Result<HashMap<DepartmentId, Department>, StorageError> {
        let all = self.store.directory().all_departments().await?;
        Ok(all.into_iter().map(|d| (d.id.clone(), d)).collect())
    }

    /// Rebuilds the table from storage, off the async threads, and swaps it in.
    #[instrument(skip_all)]
    pub async fn reload(&self) -> Result<i64, RoutingServiceError> {
        let _one_at_a_time = self.rebuild.lock().await;
        let boundaries = self.store.boundaries().current_boundaries().await?;
        let (catalogue_version, catalogue) =
            match self.store.boundaries().current_catalogue().await? {
                Some((version, rules)) => (Some(version), rules),
                None => (None, Vec::new()),
            };
        let versions = RoutingVersions {
            generation: boundaries.as_ref().map(|b| b.generation),
            catalogue: catalogue_version,
        };
        let departments = self.departments().await?;
        let loaded = Loaded {
            versions,
            departments: routing_view(&departments),
        };
        let near_border_m = self.near_border_m;
        let started = std::time::Instant::now();
        let (table, areas) = tokio::task::spawn_blocking(move || {
            build(near_border_m, boundaries, catalogue, &departments)
        })
        .await
        .map_err(RoutingServiceError::Build)??;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.build_micros
            .store(micros, std::sync::atomic::Ordering::Relaxed);
        let generation = table.generation();
        self.table.store(Arc::new(table));
        self.areas.store(Arc::new(areas));
        *self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded;
        info!(generation, "routing table in force");
        Ok(generation)
    }

    /// Imports grids as a new generation; nothing is stored if any feature is invalid.
    #[instrument(skip_all, fields(validate_only))]
    pub async fn import_grids(
        &self,
        text: String,
        importer: Option<UserId>,
        validate_only: bool,
    ) -> Result<ImportOutcome, RoutingServiceError> {
        let (text, features) = tokio::task::spawn_blocking(move || {
            let parsed = geojson::grids(&text);
            (text, parsed)
        })
        .await
        .map_err(RoutingServiceError::Build)?;
        let features = features.map_err(RoutingServiceError::Invalid)?;
        let import = NewBoundaryImport {
            kind: BoundaryKind::Grids,
            geojson: text,
            feature_count: count(features.len())?,
            importer,
            grids: features.into_iter().map(|f| f.grid).collect(),
        };
        self.store_import(import, validate_only).await
    }

    /// Imports jurisdictions as a new generation; every feature must name a known department of its type.
    #[instrument(skip_all, fields(validate_only))]
    pub async fn import_jurisdictions(
        &self,
        text: String,
        importer: Option<UserId>,
        validate_only: bool,
    ) -> Result<ImportOutcome, RoutingServiceError> {
        let departments = self.departments().await?;
        let (text, features) = tokio::task::spawn_blocking(move || {
            let parsed = geojson::jurisdictions(&text, &departments).map(|f| f.len());
            (text, parsed)
        })
        .await
        .map_err(RoutingServiceError::Build)?;
        let import = NewBoundaryImport {
            kind: BoundaryKind::Jurisdictions,
            geojson: text,
            feature_count: count(features.map_err(RoutingServiceError::Invalid)?)?,
            importer,
            grids: Vec::new(),
        };
        self.store_import(import, validate_only).await
    }

    /// Stores a validated import as a new generation and rebuilds the table; with `validate_only`, reports what it would store.
    async fn store_import(
        &self,
        import: NewBoundaryImport,
        validate_only: bool,
    ) -> Result<ImportOutcome, RoutingServiceError> {
        let feature_count = import.feature_count;
        if validate_only {
            return Ok(ImportOutcome {
                feature_count,
                generation: None,
            });
        }
        let generation = self
            .store
            .boundaries()
            .import_boundaries(import, self.clock.now())
            .await?;
        info!(
            generation = generation.id,
            feature_count, "boundaries imported"
        );
        if let Err(err) = self.reload().await {
            // The import is committed and must be reported as such (a retry would store it twice); the periodic
            // refresh rebuilds the table, here and on every other replica.
            warn!(error = %err, generation = generation.id, "routing table not rebuilt after import; the refresh will retry");
        }
        Ok(ImportOutcome {
            feature_count,
            generation: Some(generation),
        })
    }

    /// Replaces the dispatch catalogue with a new version.
    #[instrument(skip_all, fields(categories = rules.len()))]
    pub async fn import_catalogue(
        &self,
        rules: Vec<CategoryRule>,
    ) -> Result<i64, RoutingServiceError> {
        let version = self
            .store
            .boundaries()
            .import_catalogue(&rules, self.clock.now())
            .await?;
        if let Err(err) = self.reload().await {
            // Committed: report it, and let the periodic refresh rebuild the table.
            warn!(error = %err, version, "routing table not rebuilt after catalogue import; the refresh will retry");
        }
        Ok(version)
    }

    /// Decides where a report at `position` in `category` would go.
    pub fn preview(
        &self,
        position: Position,
        category: &CategoryId,
    ) -> Result<Decision, RoutingServiceError> {
        Ok(self.table().route(position, category)?)
    }
}

/// Builds the routing table and the areas from the stored boundaries and catalogue; before the first import, an empty table of generation 0.
fn build(
    near_border_m: f64,
    boundaries: Option<BoundarySet>,
    catalogue: Vec<CategoryRule>,
    departments: &HashMap<DepartmentId, Department>,
) -> Result<(RoutingTable, Areas), RoutingServiceError> {
    let mut input = empty_input(near_border_m, departments);
    input.catalogue = catalogue;
    let Some(set) = boundaries else {
        return Ok((RoutingTable::build(input), Areas::default()));
    };
    input.generation = set.generation;
    let mut areas = Areas::new(set.generation);
    let grids = match &set.grids {
        Some(text) => geojson::grids(text).map_err(RoutingServiceError::StoredInvalid)?,
        None => Vec::new(),
    };
    let jurisdictions = match &set.jurisdictions {
        Some(text) => {
            geojson::jurisdictions(text, departments).map_err(RoutingServiceError::StoredInvalid)?
        }
        None => Vec::new(),
    };
    let mut grid_ids = Vec::with_capacity(grids.len());
    let mut grid_shapes = Vec::with_capacity(grids.len());
    for g in grids {
        areas.add_grid(g.grid.id.clone(), g.geojson);
        grid_ids.push(g.grid.id);
        grid_shapes.push(g.shape);
    }
    input.grids = grid_ids
        .into_iter()
        .zip(prepare_all(grid_shapes))
        .filter_map(|(id, area)| Some(GridArea { id, area: area? }))
        .collect();
    let mut units = Vec::with_capacity(jurisdictions.len());
    let mut shapes = Vec::with_capacity(jurisdictions.len());
    for j in jurisdictions {
        areas.add_jurisdiction(j.department.clone(), j.geojson);
        units.push((j.id, j.department, j.department_type, j.priority));
        shapes.push(j.shape);
    }
    input.jurisdictions = units
        .into_iter()
        .zip(prepare_all(shapes))
        .filter_map(|((id, department, department_type, priority), area)| {
            Some(Jurisdiction {
                id,
                department,
                department_type,
                priority,
                area: area?,
            })
        })
        .collect();
    Ok((RoutingTable::build(input), areas))
}

/// What a routing table was built from: the stored versions, and what routing reads of each department.
#[derive(Debug, Default, PartialEq, Eq)]
struct Loaded {
    versions: RoutingVersions,
    departments: Vec<(DepartmentId, String, i32, bool)>,
}

/// Each department's id, type, routing priority and fallback flag, in id order: a change to any of them changes routing.
fn routing_view(
    departments: &HashMap<DepartmentId, Department>,
) -> Vec<(DepartmentId, String, i32, bool)> {
    let mut view: Vec<_> = departments
        .values()
        .map(|d| {
            (
                d.id.clone(),
                d.department_type.as_str().to_owned(),
                d.routing_priority,
                d.fallback_owner,
            )
        })
        .collect();
    view.sort();
    view
}

fn empty_input(
    near_border_m: f64,
    departments: &HashMap<DepartmentId, Department>,
) -> RoutingInput {
    // Several fallback owners would be a configuration slip; the smallest id wins so the choice is stable.
    let fallback = departments
        .values()
        .filter(|d| d.fallback_owner)
        .map(|d| d.id.clone())
        .min();
    RoutingInput {
        generation: 0,
        grids: Vec::new(),
        jurisdictions: Vec::new(),
        catalogue: Vec::new(),
        fallback,
        near_border_m,
    }
}
