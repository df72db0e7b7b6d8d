//! A ledger entry as the API shows it to a caller: its plan, its timeline, and its parties masked unless the caller may see them.

use gridwhistle_domain::Actor;
use gridwhistle_domain::ledger::{LedgerEventKind, StepState};
use gridwhistle_proto::v1;

use super::closed_loop::show_parties;
use super::convert::timestamp;
use super::enums::{
    colour_to_proto, grade_to_proto, level_to_proto, nature_to_proto, state_to_proto,
};
use crate::model::{LedgerEntryRecord, LedgerEventRecord, LedgerStepRecord};

/// An entry as `actor` may see it, with `timeline` (empty in listings).
pub(super) fn entry_to_proto(
    actor: &Actor,
    e: &LedgerEntryRecord,
    timeline: &[LedgerEventRecord],
) -> v1::LedgerEntry {
    let departments = e.departments();
    // Unmasked only when the call's audit notes it (`reveals`).
    let sees = actor.sees_ledger_parties(crate::ledger::scope(e, &departments))
        && (e.parties.is_empty() || crate::reveals::note(actor, format!("ledgerEntries/{}", e.id)));
    v1::LedgerEntry {
        name: format!("ledgerEntries/{}", e.id),
        case: e
            .case
            .as_ref()
            .map(|c| format!("cases/{}", c.case))
            .unwrap_or_default(),
        title: e.title.clone(),
        summary: e.summary.clone(),
        nature: nature_to_proto(e.nature),
        since_time: Some(timestamp(e.since)),
        complexity: level_to_proto(e.complexity),
        social_impact: level_to_proto(e.social_impact),
        grade: grade_to_proto(Some(e.grade)),
        colour: colour_to_proto(e.colour()),
        responsible_unit: format!("departments/{}", e.unit),
        responsible_person: e.responsible_person.clone(),
        leader: e.leader.map(|l| format!("users/{l}")).unwrap_or_default(),
        parties: show_parties(&e.parties, sees),
        state: state_to_proto(e.state),
        steps: e.steps.iter().map(step_to_proto).collect(),
        close_result: e.close_result.clone().unwrap_or_default(),
        parties_stance: e.parties_stance.clone().unwrap_or_default(),
        create_time: Some(timestamp(e.created_at)),
        update_time: Some(timestamp(e.updated_at)),
        close_time: e.closed_at.map(timestamp),
        etag: e.version.to_string(),
        timeline: timeline.iter().map(event_to_proto).collect(),
        next_due_time: e.next_due().map(timestamp),
    }
}

fn step_to_proto(s: &LedgerStepRecord) -> v1::LedgerStep {
    v1::LedgerStep {
        number: i32::try_from(s.number).unwrap_or(i32::MAX),
        department: format!("departments/{}", s.department),
        description: s.description.clone(),
        due_time: Some(timestamp(s.due_at)),
        state: match s.state {
            StepState::Open => v1::LedgerStepState::Open,
            StepState::Done => v1::LedgerStepState::Done,
            StepState::Superseded => v1::LedgerStepState::Superseded,
        }
        .into(),
        revision: i32::try_from(s.revision).unwrap_or(i32::MAX),
        done_time: s.done_at.map(timestamp),
        done_by: s.done_by.map(|u| format!("users/{u}")).unwrap_or_default(),
        result: s.result.clone().unwrap_or_default(),
        attachments: s
            .attachments
            .iter()
            .map(|a| format!("attachments/{a}"))
            .collect(),
    }
}

fn event_to_proto(e: &LedgerEventRecord) -> v1::LedgerEvent {
    use LedgerEventKind as K;
    use v1::LedgerEventKind as P;
    let kind = match e.kind {
        K::Opened => P::Opened,
        K::PlanRevised => P::PlanRevised,
        K::StepCompleted => P::StepCompleted,
        K::Regraded => P::Regraded,
        K::LeaderNamed => P::LeaderNamed,
        K::CloseRequested => P::CloseRequested,
        K::CloseApproved => P::CloseApproved,
        K::CloseRefused => P::CloseRefused,
        K::Reopened => P::Reopened,
        K::Reassigned => P::Reassigned,
        K::Reminder => P::Reminder,
        K::Escalated => P::Escalated,
    };
    v1::LedgerEvent {
        sequence: e.sequence,
        kind: kind.into(),
        actor: e.actor.map(|u| format!("users/{u}")).unwrap_or_default(),
        text: e.text.clone(),
        create_time: Some(timestamp(e.at)),
    }
}
