//! The figures (KPIs) as a service (`StatsService`): who may read which, periods in the district's time zone, counts from storage turned into figures and rankings, exports, and the rebuild of the facts from the event log.

pub mod export;
pub mod figures;
pub mod period;

use std::sync::Arc;

use gridwhistle_dispatcher::clock::Clock;
use gridwhistle_domain::{AccessError, Action, Actor, DepartmentId};
use tracing::{info, instrument, warn};

pub use figures::{AreaFigures, DepartmentFigures, Ratio};
pub use period::{Month, PeriodSpec};

use crate::closed_loop::facts;
use crate::model::{
    AreaGroup, Period, ShareCounts, ShareGroup, ShortfallKind, ShortfallPosition, ShortfallRecord,
};
use crate::storage::{StorageError, Store};
use crate::time_limits::TimeLimits;
use figures::{Figure, Order};

/// The most months a trend spans.
pub const MAX_TREND_MONTHS: u32 = 36;

/// Why a figures request was refused.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("access refused")]
    Access(AccessError, &'static str),
    /// A request field, named by its path in the view's request, is invalid.
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl StatsError {
    fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        StatsError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// How a rebuild of the facts went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildSummary {
    pub cases: usize,
    pub assignments: usize,
    /// Assignments whose stored facts differed from the rebuilt ones.
    pub changed: usize,
    /// Counts of the daily rollups that differed from those recounted from the facts (`StatsRepo::rebuild_rollups`).
    pub rollups_changed: usize,
}

/// Reports rebuilt per transaction.
const REBUILD_PAGE: u64 = 200;

#[derive(Debug, Clone)]
pub struct StatsService {
    store: Store,
    time_limits: Arc<TimeLimits>,
    clock: Arc<dyn Clock>,
}

impl StatsService {
    pub fn new(store: Store, time_limits: Arc<TimeLimits>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            time_limits,
            clock,
        }
    }

    /// The district's time zone, which periods and exported times are in.
    pub fn zone(&self) -> gridwhistle_dispatcher::calendar::Zone {
        self.time_limits.snapshot().calendar.zone().clone()
    }

    /// The period a request names, and the one just before it; a refusal names `field`.
    pub fn period(&self, spec: &PeriodSpec, field: &str) -> Result<(Period, Period), StatsError> {
        let zone = self.zone();
        let sub = match spec {
            PeriodSpec::Month(_) => "month",
            PeriodSpec::Week(_) => "week",
            PeriodSpec::Range { .. } => "range",
        };
        spec.resolve(&zone)
            .map_err(|reason| StatsError::field(format!("{field}.{sub}"), reason))
    }

    /// Refuses a caller who may not read `department`'s figures, and a department that does not exist, alike.
    async fn department_for(
        &self,
        actor: &Actor,
        department: &DepartmentId,
    ) -> Result<String, StatsError> {
        actor
            .authorize(Action::ReadDepartmentFigures { department })
            .map_err(|e| StatsError::Access(e, "department"))?;
        match self.store.directory().get_department(department).await {
            Ok(found) => Ok(found.display_name.as_str().to_owned()),
            Err(StorageError::NotFound { .. }) => {
                Err(StatsError::Access(AccessError::Hidden, "department"))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Each group's counts over `period` with what is open now.
    async fn counts(
        &self,
        group: ShareGroup,
        department: Option<&DepartmentId>,
        period: Period,
    ) -> Result<Vec<ShareCounts>, StatsError> {
        let now = self.clock.now();
        let mut counts = self
            .store
            .stats()
            .share_counts(group, department, period, now)
            .await?;
        let open = self
            .store
            .stats()
            .open_counts(group, department, now)
            .await?;
        ShareCounts::add_open(&mut counts, &open);
        Ok(counts)
    }

    /// One department's figures over a period.
    #[instrument(skip_all, fields(department = %department))]
    pub async fn department(
        &self,
        actor: &Actor,
        department: &DepartmentId,
        period: &PeriodSpec,
    ) -> Result<DepartmentFigures, StatsError> {
        let name = self.department_for(actor, department).await?;
        let (period, _) = self.period(period, "period")?;
        let counts = self
            .counts(ShareGroup::Department, Some(department), period)
            .await?
            .pop()
            .unwrap_or_default();
        Ok(DepartmentFigures::from_counts(
            department.clone(),
            name,
            String::new(),
            &counts,
        ))
    }

    /// Every department of the directory over a period, ranked by `order_by`.
    #[instrument(skip_all)]
    pub async fn ranking(
        &self,
        actor: &Actor,
        period: &PeriodSpec,
        order_by: &str,
    ) -> Result<Vec<DepartmentFigures>, StatsError> {
        actor
            .authorize(Action::ReadRankings)
            .map_err(|e| StatsError::Access(e, "department"))?;
        let (period, _) = self.period(period, "period")?;
        let order =
            Order::<Figure>::parse(order_by).map_err(|r| StatsError::field("order_by", r))?;
        let counts = self.counts(ShareGroup::Department, None, period).await?;
        let mut figures: Vec<DepartmentFigures> = self
            .store
            .directory()
            .all_departments()
            .await?
            .into_iter()
            .map(|d| {
                let c = counts.iter().find(|c| c.key == d.id.as_str());
                DepartmentFigures::from_counts(
                    d.id.clone(),
                    d.display_name.as_str().to_owned(),
                    String::new(),
                    c.unwrap_or(&ShareCounts::default()),
                )
            })
            .collect();
        figures::rank_departments(&mut figures, order);
        Ok(figures)
    }

    /// One department's figures over a period by category or by risk grade.
    #[instrument(skip_all, fields(department = %department))]
    pub async fn breakdown(
        &self,
        actor: &Actor,
        department: &DepartmentId,
        period: &PeriodSpec,
        group: ShareGroup,
    ) -> Result<Vec<DepartmentFigures>, StatsError> {
        let name = self.department_for(actor, department).await?;
        let (period, _) = self.period(period, "period")?;
        let counts = self.counts(group, Some(department), period).await?;
        Ok(counts
            .iter()
            .map(|c| {
                DepartmentFigures::from_counts(department.clone(), name.clone(), c.key.clone(), c)
            })
            .collect())
    }

    /// One department's figures month by month, `months` of them up to `end` (the current month when `None`), oldest first.
    #[instrument(skip_all, fields(department = %department, months))]
    pub async fn trend(
        &self,
        actor: &Actor,
        department: &DepartmentId,
        end: Option<&str>,
        months: u32,
    ) -> Result<Vec<DepartmentFigures>, StatsError> {
        let name = self.department_for(actor, department).await?;
        if months > MAX_TREND_MONTHS {
            return Err(StatsError::field(
                "month_count",
                format!("at most {MAX_TREND_MONTHS} months"),
            ));
        }
        let months = if months == 0 { 12 } else { months };
        let zone = self.zone();
        let now = self.clock.now();
        let mut month = match end {
            Some(text) => Month::parse(text).map_err(|r| StatsError::field("end_month", r))?,
            None => Month::of(&zone, now),
        };
        // What is open now is the same for every month: counted once.
        let open = self
            .store
            .stats()
            .open_counts(ShareGroup::Department, Some(department), now)
            .await?;
        let mut trend = Vec::new();
        for _ in 0..months {
            let mut counts = self
                .store
                .stats()
                .share_counts(
                    ShareGroup::Department,
                    Some(department),
                    month.period(&zone),
                    now,
                )
                .await?;
            ShareCounts::add_open(&mut counts, &open);
            let counts = counts.pop().unwrap_or_default();
            trend.push(DepartmentFigures::from_counts(
                department.clone(),
                name.clone(),
                month.to_string(),
                &counts,
            ));
            month = month.previous();
        }
        trend.reverse();
        Ok(trend)
    }

    /// Streets, grids or categories over a period, with the period before for growth, ranked by `order_by`.
    #[instrument(skip_all, fields(group = ?group))]
    pub async fn areas(
        &self,
        actor: &Actor,
        period: &PeriodSpec,
        group: AreaGroup,
        order_by: &str,
    ) -> Result<Vec<AreaFigures>, StatsError> {
        actor
            .authorize(Action::ReadRankings)
            .map_err(|e| StatsError::Access(e, "area"))?;
        let (period, before) = self.period(period, "period")?;
        let order = Order::<figures::AreaFigure>::parse(order_by)
            .map_err(|r| StatsError::field("order_by", r))?;
        let stats = self.store.stats();
        let now = stats.area_counts(group, period).await?;
        let then = stats.area_counts(group, before).await?;
        let name = |key: &str| match (group, key) {
            (AreaGroup::Street, k) if !k.is_empty() => format!("streets/{k}"),
            (AreaGroup::Category, k) => format!("categories/{k}"),
            (_, "") => "grids/-".to_owned(),
            (_, k) => format!("grids/{k}"),
        };
        let mut areas: Vec<AreaFigures> = now
            .iter()
            .map(|c| {
                let previous = then.iter().find(|p| p.key == c.key).map_or(0, |p| p.filed);
                AreaFigures::from_counts(name(&c.key), c, previous)
            })
            .collect();
        figures::rank_areas(&mut areas, order);
        Ok(areas)
    }

    /// The assignments behind one of a department's shortfalls, by summoned time, after `after`, at most `limit`.
    #[instrument(skip_all, fields(department = %department, kind = ?kind))]
    pub async fn shortfalls(
        &self,
        actor: &Actor,
        department: &DepartmentId,
        period: &PeriodSpec,
        kind: ShortfallKind,
        after: Option<&ShortfallPosition>,
        limit: u64,
    ) -> Result<Vec<ShortfallRecord>, StatsError> {
        self.department_for(actor, department).await?;
        let (period, _) = self.period(period, "period")?;
        Ok(self
            .store
            .stats()
            .shortfalls(department, period, kind, self.clock.now(), after, limit)
            .await?)
    }

    /// Rebuilds every case's facts from its timeline; admins only.
    #[instrument(skip_all)]
    pub async fn rebuild(&self, actor: &Actor) -> Result<RebuildSummary, StatsError> {
        actor
            .authorize(Action::RebuildFacts)
            .map_err(|e| StatsError::Access(e, "facts"))?;
        Ok(self.rebuild_all().await?)
    }

    /// Rebuilds every case's facts from its timeline, a page of cases per transaction.
    pub async fn rebuild_all(&self) -> Result<RebuildSummary, StorageError> {
        let mut summary = RebuildSummary::default();
        let mut after = None;
        loop {
            let page = self
                .store
                .reports()
                .whistled_after(after.as_ref(), REBUILD_PAGE)
                .await?;
            let Some(last) = page.last().copied() else {
                break;
            };
            after = Some(last);
            self.rebuild_page(page, &mut summary).await?;
        }
        let rollups = self
            .store
            .stats()
            .rebuild_rollups(self.zone().offset_ms())
            .await?;
        summary.rollups_changed = rollups.differed;
        info!(
            cases = summary.cases,
            assignments = summary.assignments,
            changed = summary.changed,
            rollups_changed = rollups.differed,
            "figures facts rebuilt"
        );
        Ok(summary)
    }

    /// Builds the facts of shares stored before facts existed, then the daily rollups unless they are built in the district's time zone; run when a replica starts.
    pub async fn rebuild_unbuilt(&self) -> Result<RebuildSummary, StorageError> {
        let mut summary = RebuildSummary::default();
        loop {
            let page = self.store.reports().facts_unbuilt(REBUILD_PAGE).await?;
            if page.is_empty() {
                break;
            }
            let built = summary.assignments;
            self.rebuild_page(page, &mut summary).await?;
            if summary.assignments == built {
                // Nothing was written, so the same page would come back: stop rather than spin.
                warn!("shares without facts could not be rebuilt; the figures leave them out");
                break;
            }
        }
        if summary.cases > 0 {
            info!(
                cases = summary.cases,
                "figures facts built for cases stored before them"
            );
        }
        // The daily rollups: built once, and again whenever the district's time zone changed or facts were built here (whatever the rollups held for those shares, they are counted afresh).
        let stats = self.store.stats();
        let offset = self.zone().offset_ms();
        let built = if summary.cases > 0 {
            Some(stats.rebuild_rollups(offset).await?)
        } else {
            stats.ensure_rollups(offset).await?
        };
        if let Some(built) = built {
            info!(
                counts = built.counts,
                "figures rollups built from the facts"
            );
        }
        Ok(summary)
    }

    async fn rebuild_page(
        &self,
        page: Vec<gridwhistle_domain::ReportId>,
        summary: &mut RebuildSummary,
    ) -> Result<(), StorageError> {
        let cases = page.len();
        let calendar = self.time_limits.snapshot();
        let (shares, differ) = self
            .store
            .reports()
            .rebuild_facts(page, move |record, timeline, extensions| {
                facts::replay(record, timeline, extensions, &calendar.calendar);
            })
            .await?;
        for d in differ.iter().take(5) {
            // Ids and counts only: facts hold nothing personal.
            warn!(stored = ?d.stored, rebuilt = ?d.rebuilt, "stored facts differed from the rebuilt ones");
        }
        summary.cases += cases;
        summary.assignments += shares;
        summary.changed += differ.len();
        Ok(())
    }
}
