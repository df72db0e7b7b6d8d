//! The time-limit policies and working calendar in force, loaded from storage and swapped whole on import.
//!
//! At start-up the official calendar years shipped with Gridwhistle are stored where a year is missing (an admin's own version of a year is kept), and the shipped default policies are imported when none were.
//! A policy set is versioned whole; a case keeps the version it started with, so every stored version stays readable.
//! A year without an official calendar is counted provisionally (weekends and statutory holidays); deadlines counted across it are marked, and counted again when its official calendar is loaded.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gridwhistle_dispatcher::Clock;
use gridwhistle_dispatcher::calendar::{self, CalendarError, WorkingCalendar, YearCalendar};
use gridwhistle_dispatcher::deadlines::{self, DeadlineChange, Schedule};
use gridwhistle_dispatcher::policy::{
    self, Limit, PolicyError, PolicySet, StagePolicy, TimeLimitPolicy,
};
use gridwhistle_domain::{CategoryId, EventKind, ReportId, RiskGrade, Timestamp, WhistleKind};
use tracing::{info, warn};

use crate::model::{DeadlineState, Effects, NewEvent, ReportRecord};
use crate::storage::{StorageError, Store, UpdateError, YearWrite};

/// The month from which the server warns, once a day, while next year's calendar is still provisional.
const PROVISIONAL_WARNING_MONTH: u8 = 11;

/// How often that warning repeats.
const PROVISIONAL_WARNING_PERIOD: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The policies that ship with Gridwhistle: limits from Beijing's 30-minute report-in rule, 12345's feedback limits and digital urban management's working-day stages.
pub const DEFAULT_POLICIES: &str = include_str!("../defaults/time_limits.json");

/// Why policies or a calendar year were refused.
#[derive(Debug, thiserror::Error)]
pub enum TimeLimitsError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The version in force was not among those just read: storage changed under the load.
    #[error(transparent)]
    NotLoaded(#[from] PolicyNotLoaded),
}

impl From<UpdateError<TimeLimitsError>> for TimeLimitsError {
    fn from(err: UpdateError<TimeLimitsError>) -> Self {
        match err {
            UpdateError::Storage(err) => TimeLimitsError::Storage(err),
            UpdateError::Refused(err) => err,
            // The cases are read locked inside the write, so neither can happen short of a defect.
            UpdateError::NotFound => {
                TimeLimitsError::Storage(StorageError::NotFound { entity: "report" })
            }
            UpdateError::Stale => TimeLimitsError::Storage(StorageError::Precondition(
                "a case changed while its deadlines were counted again",
            )),
        }
    }
}

/// A case's policy version is not loaded in this process yet (another replica imported it); retrying after the next refresh succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("time-limit policies version {0} is not loaded yet")]
pub struct PolicyNotLoaded(pub i64);

/// Policies and calendar in force, read without locks.
#[derive(Debug)]
pub struct Snapshot {
    pub policies: PolicySet,
    pub calendar: WorkingCalendar,
}

#[derive(Debug)]
pub struct TimeLimits {
    store: Store,
    clock: Arc<dyn Clock>,
    current: ArcSwap<Snapshot>,
    /// Every stored version: a case counts its deadlines under the version it started with.
    versions: std::sync::RwLock<std::collections::HashMap<i64, Arc<PolicySet>>>,
    /// The shipped default policies, whose ladders for ledger steps serve a version that has none.
    shipped: PolicySet,
    /// One import or calendar change at a time, so no swap loses another's.
    change: tokio::sync::Mutex<()>,
}

impl TimeLimits {
    /// Loads what is stored, first storing the shipped calendar years that are missing.
    ///
    /// `file` is the operator's policies file: imported as a new version when it differs from the version in force.
    /// Without one, the shipped defaults are imported when no policies were ever imported.
    pub async fn load(
        store: Store,
        clock: Arc<dyn Clock>,
        file: Option<&str>,
    ) -> Result<Self, TimeLimitsError> {
        let now = clock.now();
        let stored = stored_years(&store).await?;
        // The official years this release ships that storage lacks: stored below, each with its recount.
        let shipped: Vec<YearCalendar> = calendar::official_years()?
            .into_iter()
            .filter(|y| !stored.iter().any(|s| s.year == y.year))
            .collect();
        let calendar = WorkingCalendar::new(stored.into_iter().chain(shipped.clone()).collect())?;
        let wanted = file
            .map(|text| policy::file::parse(0, text).map(|set| policy::file::render(&set)))
            .transpose()?;
        let version = match (store.time_limits().current_time_limits().await?, wanted) {
            (Some((version, _)), None) => version,
            (Some((version, body)), Some(wanted)) if body == wanted => version,
            (_, wanted) => {
                let body = match wanted {
                    Some(body) => body,
                    None => policy::file::render(&policy::file::parse(0, DEFAULT_POLICIES)?),
                };
                let version = store.time_limits().import_time_limits(body, now).await?;
                info!(
                    version,
                    from_file = file.is_some(),
                    "time-limit policies imported at start-up"
                );
                version
            }
        };
        let mut versions = std::collections::HashMap::new();
        for (stored, body) in store.time_limits().all_time_limits().await? {
            versions.insert(stored, Arc::new(policy::file::parse(stored, &body)?));
        }
        let policies = versions
            .get(&version)
            .map(|set| PolicySet::clone(set))
            .ok_or(PolicyNotLoaded(version))?;
        if let Err(err) = calendar.check_covers(now) {
            // Serving on: deadlines counted in working time fail loudly case by case until the year is loaded.
            warn!(error = %err, "the working calendar does not cover today");
        }
        let years: Vec<i32> = calendar.years().collect();
        info!(
            version = policies.version(),
            ?years,
            zone = calendar.zone().name(),
            "time limits loaded"
        );
        let loaded = Self {
            store,
            clock,
            current: ArcSwap::from_pointee(Snapshot { policies, calendar }),
            versions: std::sync::RwLock::new(versions),
            shipped: policy::file::parse(0, DEFAULT_POLICIES)?,
            change: tokio::sync::Mutex::new(()),
        };
        // A release may ship a year's official calendar: storing it and counting again the deadlines counted provisionally across it is one transaction,
        // done by the one replica that stores it first; a year stored before (an admin's own included) is left as it is.
        let calendar = loaded.snapshot().calendar.clone();
        for year in &shipped {
            loaded
                .store_and_recount(year, YearWrite::IfMissing, calendar.clone())
                .await?;
        }
        loaded.warn_if_next_year_provisional();
        Ok(loaded)
    }

    /// The years of today and tomorrow's year that are counted provisionally, for a console's banner.
    pub fn provisional_years(&self) -> Vec<i32> {
        let snapshot = self.snapshot();
        let this_year = snapshot.calendar.zone().date(self.clock.now()).year;
        [this_year, this_year + 1]
            .into_iter()
            .filter(|y| snapshot.calendar.is_provisional(*y))
            .collect()
    }

    /// From 1 November on, warns while next year is still provisional: the State Council's arrangement is due, and an admin should load it.
    pub fn warn_if_next_year_provisional(&self) {
        let snapshot = self.snapshot();
        let today = snapshot.calendar.zone().date(self.clock.now());
        let next = today.year + 1;
        if today.month >= PROVISIONAL_WARNING_MONTH && snapshot.calendar.is_provisional(next) {
            warn!(
                year = next,
                "next year's working calendar is provisional (weekends and statutory holidays only): load the State Council's arrangement with PutWorkingCalendar"
            );
        }
    }

    /// Warns once a day (see [`TimeLimits::warn_if_next_year_provisional`]), forever.
    pub async fn keep_warning(&self) {
        crate::periodic::every(PROVISIONAL_WARNING_PERIOD, || async {
            self.warn_if_next_year_provisional();
        })
        .await;
    }

    /// A stored version, if this process has loaded it.
    pub fn version(&self, version: i64) -> Option<Arc<PolicySet>> {
        self.versions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&version)
            .cloned()
    }

    /// The policy a case counts under: in the case's `version`, the most specific match for its category, grade (C when unset) and whistle kind; `None` when no policy matches.
    pub fn case_policy(
        &self,
        version: i64,
        category: &CategoryId,
        grade: Option<RiskGrade>,
        kind: WhistleKind,
    ) -> Result<Option<TimeLimitPolicy>, PolicyNotLoaded> {
        let set = self.version(version).ok_or(PolicyNotLoaded(version))?;
        Ok(select(&set, category, grade, kind).cloned())
    }

    /// The `ledger_step` stage of policy version `version` for an entry graded `grade`: what a step's deadline fires by.
    ///
    /// A version with no `ledger_step` stage at all (imported before the ledger had ladders) takes the shipped defaults' ladders for steps.
    pub fn ledger_step_policy(
        &self,
        version: i64,
        grade: RiskGrade,
    ) -> Result<Option<StagePolicy>, PolicyNotLoaded> {
        let set = self.version(version).ok_or(PolicyNotLoaded(version))?;
        let names_steps = set.policies().iter().any(|p| {
            p.stage(gridwhistle_domain::DeadlineStage::LedgerStep)
                .is_some()
        });
        Ok(if names_steps {
            set.ledger_step(grade).cloned()
        } else {
            self.shipped.ledger_step(grade).cloned()
        })
    }

    /// Picks up versions and calendar years another replica stored; the newest version becomes the one in force.
    pub async fn refresh(&self) -> Result<(), TimeLimitsError> {
        let _one = self.change.lock().await;
        let known = self
            .versions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .max()
            .unwrap_or(0);
        let mut newest = None;
        for (version, body) in self.store.time_limits().time_limits_after(known).await? {
            let set = Arc::new(policy::file::parse(version, &body)?);
            self.remember(set.clone());
            newest = Some(set);
        }
        let calendar = stored_calendar(&self.store).await?;
        let current = self.snapshot();
        self.current.store(Arc::new(Snapshot {
            policies: newest.map_or_else(|| current.policies.clone(), |s| (*s).clone()),
            calendar,
        }));
        Ok(())
    }

    /// Refreshes every `period`, forever; a failed refresh is logged and retried on the next tick.
    pub async fn keep_fresh(&self, period: std::time::Duration) {
        crate::periodic::every(period, || async {
            if let Err(err) = self.refresh().await {
                warn!(error = %err, "time limits refresh failed; retrying on the next tick");
            }
        })
        .await;
    }

    fn remember(&self, set: Arc<PolicySet>) {
        self.versions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(set.version(), set);
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Validates and stores `policies` as a new version and puts it in force.
    ///
    /// Policies that count working time are refused while the calendar lacks the current year: a missing year is an error at load, never a wrong due date later.
    pub async fn import(&self, policies: Vec<TimeLimitPolicy>) -> Result<i64, TimeLimitsError> {
        let _one = self.change.lock().await;
        let set = PolicySet::new(0, policies)?;
        let now = self.clock.now();
        let current = self.snapshot();
        let counts_working_time = set
            .policies()
            .iter()
            .flat_map(|p| &p.stages)
            .any(|s| matches!(s.limit, Limit::WorkingTime(_) | Limit::WorkingDays(_)));
        if counts_working_time {
            current.calendar.check_covers(now)?;
        }
        let body = policy::file::render(&set);
        let version = self
            .store
            .time_limits()
            .import_time_limits(body.clone(), now)
            .await?;
        // Read back from the stored file, so this process counts exactly what every other replica will.
        let policies = policy::file::parse(version, &body)?;
        self.remember(Arc::new(policies.clone()));
        self.current.store(Arc::new(Snapshot {
            policies,
            calendar: current.calendar.clone(),
        }));
        info!(version, "time-limit policies imported");
        Ok(version)
    }

    /// The current version, or the stored `version`.
    pub async fn policies(
        &self,
        version: Option<i64>,
    ) -> Result<Option<PolicySet>, TimeLimitsError> {
        let current = self.snapshot();
        match version {
            None => Ok(Some(current.policies.clone())),
            Some(v) if v == current.policies.version() => Ok(Some(current.policies.clone())),
            Some(v) => match self.store.time_limits().version(v).await? {
                Some(body) => Ok(Some(policy::file::parse(v, &body)?)),
                None => Ok(None),
            },
        }
    }

    /// Stores `year`, replacing that year, and puts the calendar with it in force; a year in another zone than the others is refused.
    ///
    /// In the same transaction, every pending deadline counted on a provisional year is counted again on the new calendar; returns how many cases changed.
    pub async fn put_year(&self, year: YearCalendar) -> Result<usize, TimeLimitsError> {
        let _one = self.change.lock().await;
        let current = self.snapshot();
        let mut years: Vec<YearCalendar> = current
            .calendar
            .years()
            .filter(|y| *y != year.year)
            .filter_map(|y| current.calendar.year(y).cloned())
            .collect();
        years.push(year.clone());
        let calendar = WorkingCalendar::new(years)?;
        let recounted = self
            .store_and_recount(&year, YearWrite::Replace, calendar.clone())
            .await?;
        self.current.store(Arc::new(Snapshot {
            policies: current.policies.clone(),
            calendar,
        }));
        info!(year = year.year, recounted, "working calendar year stored");
        Ok(recounted)
    }

    /// Stores `year` as `write` says and, when it was written, counts provisional deadlines again on `calendar`, in one transaction.
    async fn store_and_recount(
        &self,
        year: &YearCalendar,
        write: YearWrite,
        calendar: WorkingCalendar,
    ) -> Result<usize, TimeLimitsError> {
        let versions = self
            .versions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let now = self.clock.now();
        let recounted = self
            .store
            .time_limits()
            .put_calendar_year_recounting(year.year, year.to_json(), write, now, move |records| {
                recount(&versions, &calendar, records, now)
            })
            .await?;
        if recounted > 0 {
            info!(
                recounted,
                "deadlines counted again on the official calendar"
            );
        }
        Ok(recounted)
    }
}

/// The policy a case counts under in `set`: the most specific match for its category, grade (C when unset) and whistle kind.
fn select<'a>(
    set: &'a PolicySet,
    category: &CategoryId,
    grade: Option<RiskGrade>,
    kind: WhistleKind,
) -> Option<&'a TimeLimitPolicy> {
    set.select(category, grade.unwrap_or(RiskGrade::C), kind)
}

/// The changes to `records`' provisional deadlines counted again on `calendar`: a timeline event for each due time that moved.
///
/// A supervision letter's reply-by date is part of the letter as issued and is never marked provisional, so it is not counted again.
fn recount(
    versions: &HashMap<i64, Arc<PolicySet>>,
    calendar: &WorkingCalendar,
    records: &[ReportRecord],
    now: Timestamp,
) -> Result<Vec<(ReportId, Effects)>, TimeLimitsError> {
    let mut out = Vec::new();
    for record in records {
        let Some(case) = &record.case else { continue };
        let mut effects = Effects::default();
        let provisional = record
            .deadlines
            .iter()
            .filter(|d| d.provisional && d.state == DeadlineState::Pending && d.letter.is_none());
        for d in provisional {
            let set = versions
                .get(&d.policy_version)
                .ok_or(PolicyNotLoaded(d.policy_version))?;
            let Some(stage) = select(set, &record.category, record.risk_grade, case.kind)
                .and_then(|p| p.stage(d.stage))
            else {
                continue;
            };
            let schedule = Schedule {
                next_step: d.next_step,
                next_fire_at: d.next_fire_at,
                escalation_level: d.escalation_level,
            };
            let change = deadlines::recounted(
                &d.department,
                stage,
                calendar,
                (d.started_at, d.due_at),
                schedule,
                now,
            )?;
            let Some(change) = change else { continue };
            if let DeadlineChange::Move { due_at, .. } = &change
                && *due_at != d.due_at
            {
                effects.events.push(NewEvent {
                    kind: EventKind::DeadlineRecounted,
                    actor: None,
                    department: Some(d.department.clone()),
                    text: format!(
                        "{} due moved from {} to {}: counted again on the official working calendar",
                        d.stage,
                        calendar.zone().format(d.due_at),
                        calendar.zone().format(*due_at)
                    ),
                    attachments: Vec::new(),
                });
            }
            effects.deadlines.push(change);
        }
        if !effects.deadlines.is_empty() {
            out.push((record.id, effects));
        }
    }
    Ok(out)
}

async fn stored_years(store: &Store) -> Result<Vec<YearCalendar>, TimeLimitsError> {
    Ok(store
        .time_limits()
        .calendar_years()
        .await?
        .into_iter()
        .map(|(_, body)| YearCalendar::from_json(&body))
        .collect::<Result<Vec<_>, _>>()?)
}

async fn stored_calendar(store: &Store) -> Result<WorkingCalendar, TimeLimitsError> {
    Ok(WorkingCalendar::new(stored_years(store).await?)?)
}
