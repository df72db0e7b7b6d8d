//! The facts the department figures count, kept on each share of a case (`AssignmentFacts`) by one fold over its timeline.
//!
//! A step applies its own events with [`apply`] in its transaction (from `LoopService::change`); a rebuild replays a whole timeline with [`replay`].
//! Both go through [`on_event`], so facts kept step by step equal facts rebuilt from the event log: the rebuild check compares them.

use gridwhistle_dispatcher::calendar::WorkingCalendar;
use gridwhistle_domain::{DepartmentId, EventKind, ExtensionState, Timestamp};

use crate::model::{
    AssignmentFacts, Effects, EventRecord, ExtensionRecord, NewEvent, ReportRecord,
};

/// What an event of the timeline means for the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FactEvent<'a> {
    Completed(&'a DepartmentId),
    Rejected(&'a DepartmentId),
    Returned(&'a DepartmentId),
    ExtensionApproved(&'a DepartmentId),
    Accepted(Timestamp),
}

impl<'a> FactEvent<'a> {
    /// The fact an event of `kind` about `department` at `at` records; `approved` tells whether an extension decision approved it.
    fn of(
        kind: EventKind,
        department: Option<&'a DepartmentId>,
        at: Timestamp,
        approved: impl FnOnce(&DepartmentId) -> bool,
    ) -> Option<Self> {
        match (kind, department) {
            (EventKind::Completed, Some(d)) => Some(Self::Completed(d)),
            (EventKind::Rejected, Some(d)) => Some(Self::Rejected(d)),
            (EventKind::Returned, Some(d)) => Some(Self::Returned(d)),
            (EventKind::ExtensionDecided, Some(d)) if approved(d) => {
                Some(Self::ExtensionApproved(d))
            }
            (EventKind::Verified, _) => Some(Self::Accepted(at)),
            _ => None,
        }
    }
}

/// Records one event's fact on the record's shares.
pub(crate) fn on_event(
    record: &mut ReportRecord,
    event: FactEvent<'_>,
    calendar: &WorkingCalendar,
) {
    fn share<'r>(
        record: &'r mut ReportRecord,
        d: &DepartmentId,
    ) -> Option<&'r mut AssignmentFacts> {
        record.assignment_mut(d).map(|a| &mut a.facts)
    }
    match event {
        FactEvent::Completed(d) => {
            if let Some(f) = share(record, d) {
                f.completions += 1;
            }
        }
        FactEvent::Rejected(d) => {
            if let Some(f) = share(record, d) {
                f.rejections += 1;
            }
        }
        FactEvent::Returned(d) => {
            if let Some(f) = share(record, d) {
                f.returns += 1;
            }
        }
        FactEvent::ExtensionApproved(d) => {
            if let Some(f) = share(record, d) {
                f.extensions_approved += 1;
            }
        }
        FactEvent::Accepted(at) => {
            let Some(case) = record.case.as_ref() else {
                return;
            };
            let (satisfaction, whistled_at) = (case.satisfaction, case.whistled_at);
            // The whistle needed the calendar for its deadlines; a year missing now leaves the time unknown, never the step refused.
            let working_ms = calendar
                .working_time_between(whistled_at, at)
                .ok()
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            for a in &mut record.assignments {
                a.facts.accepted_at = Some(at);
                a.facts.satisfaction = satisfaction;
                a.facts.working_ms = working_ms;
            }
        }
    }
}

/// Applies the facts of one step's events, all stamped `now`, to the record the step changed.
pub(crate) fn apply(
    record: &mut ReportRecord,
    effects: &Effects,
    now: Timestamp,
    calendar: &WorkingCalendar,
) {
    let approved = |d: &DepartmentId| {
        effects
            .decided_extension
            .as_ref()
            .is_some_and(|x| x.department == *d && x.state == ExtensionState::Approved)
    };
    for NewEvent {
        kind, department, ..
    } in &effects.events
    {
        if let Some(fact) = FactEvent::of(*kind, department.as_ref(), now, approved) {
            on_event(record, fact, calendar);
        }
    }
}

/// The record's facts rebuilt from its whole timeline, in order, and its extension requests (which tell an approval from a refusal).
pub(crate) fn replay(
    record: &mut ReportRecord,
    timeline: &[EventRecord],
    extensions: &[ExtensionRecord],
    calendar: &WorkingCalendar,
) {
    for a in &mut record.assignments {
        a.facts = AssignmentFacts::default();
    }
    for event in timeline {
        // A decision is stamped with the instant of its event.
        let approved = |d: &DepartmentId| {
            extensions.iter().any(|x| {
                x.department == *d
                    && x.decided_at == Some(event.at)
                    && x.state == ExtensionState::Approved
            })
        };
        if let Some(fact) = FactEvent::of(event.kind, event.department.as_ref(), event.at, approved)
        {
            on_event(record, fact, calendar);
        }
    }
}
