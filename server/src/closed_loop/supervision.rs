//! What a supervisor decides on a case: an extension, and who leads and assists.

use std::collections::HashMap;

use gridwhistle_dispatcher::calendar::WorkingCalendar;
use gridwhistle_dispatcher::deadlines::{self, DeadlineChange};
use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::workflow::{IllegalStep, Step};
use gridwhistle_domain::{
    Action, Actor, CaseId, CaseState, DepartmentId, EventKind, ExtensionId, ExtensionState,
    RiskGrade, Timestamp,
};
use tracing::instrument;

use crate::model::{
    DeadlineState, Effects, ExtensionRecord, NewEvent, NewNotification, OverdueFilter,
    OverdueRecord, ReportKey, ReportRecord,
};
use crate::storage::DeadLetterRecord;

use super::records::{events_of, settle, workflow};
use super::{Guard, LoopError, LoopService, hidden_if_missing};
use crate::time_limits::TimeLimits;

impl LoopService {
    /// Pending deadlines past due now, by due time then id, after the `(due, id)` position `after`.
    pub async fn list_overdue(
        &self,
        actor: &Actor,
        filter: &OverdueFilter,
        after: Option<(Timestamp, i64)>,
        limit: u64,
    ) -> Result<Vec<OverdueRecord>, LoopError> {
        actor
            .authorize(Action::Supervise)
            .map_err(|e| LoopError::Access(e, "supervision"))?;
        Ok(self
            .store
            .deadlines()
            .list_overdue(self.clock.now(), filter, after, limit)
            .await?)
    }

    /// Pushes given up on after every retry, newest first, after the delivery id `before`.
    pub async fn dead_letters(
        &self,
        actor: &Actor,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<DeadLetterRecord>, LoopError> {
        actor
            .authorize(Action::Supervise)
            .map_err(|e| LoopError::Access(e, "supervision"))?;
        Ok(self.store.outbox().dead_letters(before, limit).await?)
    }

    /// A supervisor approves or refuses a pending extension (the step has no etag: only a pending extension is decided); approval moves the pending deadline's due time and resumes its schedule after what already fired.
    #[instrument(skip_all, fields(case = %case, extension = %id))]
    pub async fn decide_extension(
        &self,
        actor: &Actor,
        case: CaseId,
        id: ExtensionId,
        decision: ExtensionDecision,
        guard: Guard,
    ) -> Result<(ReportRecord, Effects), LoopError> {
        let ExtensionDecision {
            approved,
            approved_due,
            reason,
        } = decision;
        actor
            .authorize(Action::Supervise)
            .map_err(|e| LoopError::Access(e, "extension"))?;
        let extension = self
            .store
            .reports()
            .extension(&case, &id)
            .await
            .map_err(hidden_if_missing("extension"))?;
        if extension.state != ExtensionState::Pending {
            return Err(
                IllegalStep(format!("the extension was already {}", extension.state)).into(),
            );
        }
        let now = self.clock.now();
        let due = approved.then(|| approved_due.unwrap_or(extension.requested_due));
        if due.is_some_and(|due| due <= now) {
            return Err(LoopError::field(
                "approved_due_time",
                "must be in the future",
            ));
        }
        let decided = ExtensionRecord {
            state: if approved {
                ExtensionState::Approved
            } else {
                ExtensionState::Refused
            },
            approved_due: due,
            decision_reason: Some(reason).filter(|r| !r.is_empty()),
            decided_at: Some(now),
            ..extension
        };
        let actor = actor.clone();
        let time_limits = self.time_limits.clone();
        let written = decided.clone();
        self.change(ReportKey::Case(case), guard, now, move |record| {
            let snapshot = time_limits.snapshot();
            let moved = moved_deadline(record, &written, &time_limits, &snapshot.calendar, now)?;
            let text = decision_text(&written, &snapshot.calendar);
            Ok(Effects {
                events: vec![NewEvent {
                    kind: EventKind::ExtensionDecided,
                    actor: Some(actor.user_id),
                    department: Some(written.department.clone()),
                    text,
                    attachments: Vec::new(),
                }],
                deadlines: moved.into_iter().collect(),
                notifications: vec![extension_decided(&written)],
                decided_extension: Some(written.clone()),
                ..Effects::default()
            })
        })
        .await
    }

    /// A supervisor names a case's lead and assisting departments by hand (disputed or unroutable cases); the state machine decides what happens to each department, and the deadlines follow.
    #[instrument(skip_all, fields(case = %id))]
    pub async fn reassign(
        &self,
        actor: &Actor,
        id: CaseId,
        lead: DepartmentId,
        assists: Vec<DepartmentId>,
        reason: String,
        guard: Guard,
    ) -> Result<(ReportRecord, Effects), LoopError> {
        actor
            .authorize(Action::Supervise)
            .map_err(|e| LoopError::Access(e, "case"))?;
        // Every named department must exist; its type is recorded on a new assignment.
        let mut types = HashMap::new();
        let named = std::iter::once(("lead_department", &lead))
            .chain(assists.iter().map(|d| ("assisting_departments", d)));
        for (field, department) in named {
            let found = self.named_department(field, department).await?;
            types.insert(department.clone(), found.department_type);
        }
        let now = self.clock.now();
        let actor = actor.clone();
        let text = format!(
            "lead {lead}{}{}",
            if assists.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = assists.iter().map(DepartmentId::as_str).collect();
                format!(", assisting {}", names.join(", "))
            },
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        );
        let step = Step::Reassign { lead, assists };
        self.change(ReportKey::Case(id), guard, now, move |record| {
            let mut next = workflow(record);
            let changes = next.apply(&step)?;
            settle(record, &next, None, now);
            for a in &mut record.assignments {
                if let Some(kind) = types.get(&a.department)
                    && a.department_type.is_empty()
                {
                    a.department_type = kind.as_str().to_owned();
                }
            }
            Ok(Effects {
                events: events_of(changes, &actor, |_| text.clone()),
                ..Effects::default()
            })
        })
        .await
    }
}

/// The timeline's words for a decided extension: the new due time when approved, and the supervisor's note.
fn decision_text(decided: &ExtensionRecord, calendar: &WorkingCalendar) -> String {
    let stage = &decided.stage;
    match (decided.approved_due, &decided.decision_reason) {
        (Some(due), None) => format!(
            "{stage} extension approved: due {}",
            calendar.zone().format(due)
        ),
        (Some(due), Some(note)) => format!(
            "{stage} extension approved: due {} ({note})",
            calendar.zone().format(due)
        ),
        (None, Some(reason)) => format!("{stage} extension refused: {reason}"),
        (None, None) => format!("{stage} extension refused"),
    }
}

impl LoopService {
    /// A supervisor raises or lowers a case's risk grade with a reason. Due times stay; each running deadline of the loop resumes under the new grade's policy after what already fired (a letter's reply deadline keeps its letter's schedule).
    #[instrument(skip_all, fields(case = %id, grade = %grade))]
    pub async fn regrade(
        &self,
        actor: &Actor,
        id: CaseId,
        grade: RiskGrade,
        reason: String,
        guard: Guard,
    ) -> Result<(ReportRecord, Effects), LoopError> {
        actor
            .authorize(Action::Supervise)
            .map_err(|e| LoopError::Access(e, "case"))?;
        let now = self.clock.now();
        let actor = actor.clone();
        let time_limits = self.time_limits.clone();
        self.change(ReportKey::Case(id), guard, now, move |record| {
            let was = record.risk_grade;
            if was == Some(grade) {
                return Err(LoopError::field(
                    "risk_grade",
                    "is the case's grade already",
                ));
            }
            let Some(kind) = record.case.as_ref().map(|c| c.kind) else {
                return Err(IllegalStep("the report was not whistled".to_owned()).into());
            };
            if record
                .case
                .as_ref()
                .is_some_and(|c| c.state == CaseState::Closed)
            {
                return Err(IllegalStep("a closed case keeps its grade".to_owned()).into());
            }
            record.risk_grade = Some(grade);
            let calendar = time_limits.snapshot().calendar.clone();
            let mut moved = Vec::new();
            for d in record
                .deadlines
                .iter()
                .filter(|d| d.state == DeadlineState::Pending && d.letter.is_none())
            {
                let policy = time_limits.case_policy(
                    d.policy_version,
                    &record.category,
                    Some(grade),
                    kind,
                )?;
                if let Some(stage) = policy.as_ref().and_then(|p| p.stage(d.stage)) {
                    moved.push(deadlines::moved(
                        &d.department,
                        stage,
                        &calendar,
                        d.started_at,
                        d.due_at,
                        now,
                    )?);
                }
            }
            let was = was.map_or_else(|| "none".to_owned(), |g| g.to_string());
            Ok(Effects {
                events: vec![NewEvent {
                    kind: EventKind::Regraded,
                    actor: Some(actor.user_id),
                    department: None,
                    text: format!("risk grade {was} → {grade}: {reason}"),
                    attachments: Vec::new(),
                }],
                deadlines: moved,
                ..Effects::default()
            })
        })
        .await
    }
}

/// A supervisor's decision on a request for more time.
#[derive(Debug, Clone)]
pub struct ExtensionDecision {
    pub approved: bool,
    /// Defaults to the requested due time when approved.
    pub approved_due: Option<Timestamp>,
    pub reason: String,
}

/// The move of the pending deadline an approved extension names: counted again under its case's policy (resuming its schedule after what already fired), or moved as it stands when the policy no longer has the stage.
fn moved_deadline(
    record: &ReportRecord,
    decided: &ExtensionRecord,
    time_limits: &TimeLimits,
    calendar: &WorkingCalendar,
    now: Timestamp,
) -> Result<Option<DeadlineChange>, LoopError> {
    let pending = record.deadlines.iter().find(|d| {
        d.department == decided.department
            && d.stage == decided.stage
            && d.state == DeadlineState::Pending
    });
    let (Some(due), Some(d), Some(case)) = (decided.approved_due, pending, record.case.as_ref())
    else {
        return Ok(None);
    };
    let policy = time_limits.case_policy(
        d.policy_version,
        &record.category,
        record.risk_grade,
        case.kind,
    )?;
    Ok(Some(match policy.as_ref().and_then(|p| p.stage(d.stage)) {
        Some(stage) => deadlines::moved(&d.department, stage, calendar, d.started_at, due, now)?,
        None => DeadlineChange::Move {
            department: d.department.clone(),
            stage: d.stage,
            due_at: due,
            next_step: d.next_step,
            next_fire_at: None,
            escalation_level: d.escalation_level,
            provisional: false,
        },
    }))
}

/// The requesting department hears of the decision on its request.
fn extension_decided(x: &ExtensionRecord) -> NewNotification {
    NewNotification {
        department: Some(x.department.clone()),
        audience: "duty_officers",
        kind: NoticeKind::ExtensionDecided,
        recipient: None,
        stage: None,
        escalation_level: 0,
        due_at: x.approved_due,
    }
}
