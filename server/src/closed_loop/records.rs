//! The loop's bookkeeping between the state machine and the stored records: routing decisions as recorded, the workflow of a record, and events and notifications of its changes.

use gridwhistle_dispatcher::notify::{Notice, Recipient};
use gridwhistle_dispatcher::routing::rules::{Decision, Role as RoutedRole, Rule};
use gridwhistle_dispatcher::workflow::{Assignment, Change, Loop};
use gridwhistle_domain::{
    Actor, AssignmentRole, AssignmentState, DepartmentId, EventKind, Timestamp, UserId,
};

use crate::model::{
    AssignmentFacts, AssignmentRecord, NewEvent, NewNotification, ReportRecord, RoutedRecord,
    RoutingRecord, RoutingRule,
};

pub(super) fn routing_record(decision: &Decision) -> RoutingRecord {
    RoutingRecord {
        generation: decision.generation,
        rule: match decision.rule {
            Rule::SingleCover => RoutingRule::SingleCover,
            Rule::TieBreak => RoutingRule::TieBreak,
            Rule::Fallback => RoutingRule::Fallback,
        },
        near_border: decision.near_border,
        border_distance_m: decision.border_distance_m,
        needs_supervisor: decision.needs_supervisor,
        routed_lat: decision.routed_point.lat(),
        routed_lng: decision.routed_point.lng(),
        grid: decision.grid.as_ref().map(|g| g.as_str().to_owned()),
        explanation: decision.explanation.clone(),
        departments: decision
            .summoned
            .iter()
            .map(|s| RoutedRecord {
                department: s.department.as_str().to_owned(),
                department_type: s.department_type.as_str().to_owned(),
                role: role_of(s.role),
                jurisdiction: s.jurisdiction.clone(),
            })
            .collect(),
    }
}

pub(super) fn role_of(role: RoutedRole) -> AssignmentRole {
    match role {
        RoutedRole::Lead => AssignmentRole::Lead,
        RoutedRole::Assist => AssignmentRole::Assist,
    }
}

pub(super) fn summoned(decision: &Decision) -> Vec<(DepartmentId, AssignmentRole)> {
    decision
        .summoned
        .iter()
        .map(|s| (s.department.clone(), role_of(s.role)))
        .collect()
}

/// The outbox row of a step's notice; `author` filed the report.
pub(super) fn notification_of(notice: Notice, author: &UserId) -> NewNotification {
    let (department, audience, recipient) = match notice.recipient {
        Recipient::DutyOfficers(d) => (Some(d), "duty_officers", None),
        Recipient::Supervisors => (None, "supervisors", None),
        Recipient::Reporter => (None, "reporter", Some(*author)),
    };
    NewNotification {
        department,
        audience,
        kind: notice.kind,
        recipient,
        stage: None,
        escalation_level: 0,
        due_at: None,
    }
}

/// The state machine's view of a stored report.
pub(super) fn workflow(record: &ReportRecord) -> Loop {
    Loop {
        report: record.state,
        case: record.case.as_ref().map(|c| c.state),
        assignments: record
            .assignments
            .iter()
            .map(|a| Assignment {
                department: a.department.clone(),
                role: a.role,
                state: a.state,
                contacted: a.contacted,
            })
            .collect(),
        rework_count: record.case.as_ref().map_or(0, |c| c.rework_count),
    }
}

/// Writes the state machine's result back into the record; new assignments take their type and jurisdiction from `decision`.
pub(super) fn settle(
    record: &mut ReportRecord,
    next: &Loop,
    decision: Option<&Decision>,
    now: Timestamp,
) {
    record.state = next.report;
    if let (Some(case), Some(state)) = (record.case.as_mut(), next.case) {
        case.state = state;
        case.rework_count = next.rework_count;
    }
    for a in &next.assignments {
        if let Some(stored) = record.assignment_mut(&a.department) {
            // Summoned again after leaving the case: its share starts over.
            if a.state == AssignmentState::Summoned && !stored.state.is_active() {
                stored.summoned_at = now;
                stored.report_in_at = None;
                stored.contact_at = None;
                stored.complete_at = None;
                stored.result = None;
                stored.result_attachments.clear();
                stored.jurisdiction = None;
            }
            stored.role = a.role;
            stored.state = a.state;
            stored.contacted = a.contacted;
            continue;
        }
        let routed =
            decision.and_then(|d| d.summoned.iter().find(|s| s.department == a.department));
        record.assignments.push(AssignmentRecord {
            department: a.department.clone(),
            department_type: routed
                .map_or_else(String::new, |s| s.department_type.as_str().to_owned()),
            role: a.role,
            state: a.state,
            jurisdiction: routed.and_then(|s| s.jurisdiction.clone()),
            contacted: a.contacted,
            summoned_at: now,
            report_in_at: None,
            contact_at: None,
            complete_at: None,
            result: None,
            result_attachments: Vec::new(),
            facts: AssignmentFacts::default(),
        });
    }
}

pub(super) fn event(
    kind: EventKind,
    actor: &Actor,
    department: Option<DepartmentId>,
    text: String,
) -> NewEvent {
    NewEvent {
        kind,
        actor: Some(actor.user_id),
        department,
        text,
        attachments: Vec::new(),
    }
}

/// Turns the state machine's changes into timeline events with the caller's details.
pub(super) fn events_of(
    changes: Vec<Change>,
    actor: &Actor,
    text: impl Fn(&Change) -> String,
) -> Vec<NewEvent> {
    changes
        .into_iter()
        .map(|c| {
            let body = text(&c);
            event(c.kind, actor, c.department, body)
        })
        .collect()
}
