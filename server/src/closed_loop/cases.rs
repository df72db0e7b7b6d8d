//! What a department does with the cases it is summoned to: read them, list its inbox, and act (report in, contact, progress, extension requests, completion, return).

use std::time::Duration;

use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_dispatcher::routing::rules::{Decision, RoutingTable};
use gridwhistle_dispatcher::workflow::{Loop, Step};
use gridwhistle_domain::{
    AccessError, Action, Actor, CaseId, DepartmentId, EventKind, ExtensionId, ExtensionState,
    ReportId, Timestamp,
};
use tracing::instrument;

use crate::model::{
    Effects, ExtensionRecord, InboxFilter, NewNotification, ReportKey, ReportRecord,
};

use super::records::{events_of, routing_record, settle, summoned, workflow};
use super::{CaseAction, CaseView, Guard, LoopError, LoopService, hidden_if_missing};

impl LoopService {
    /// The case as its departments or a supervisor see it, with its timeline.
    #[instrument(skip_all, fields(case = %id))]
    pub async fn get_case(&self, actor: &Actor, id: CaseId) -> Result<CaseView, LoopError> {
        let report = self.case_record(actor, id).await?;
        let timeline = self.store.timeline().of_report(&report.id).await?;
        Ok(CaseView { report, timeline })
    }

    /// The case, without its timeline, for a caller who may read it.
    pub async fn case_record(&self, actor: &Actor, id: CaseId) -> Result<ReportRecord, LoopError> {
        // The role check comes before the lookup, so a role that may not read cases learns nothing.
        let own = actor.department().map_or(&[][..], std::slice::from_ref);
        actor
            .authorize(Action::ReadCase { departments: own })
            .map_err(|e| LoopError::Access(e, "case"))?;
        let report = self
            .store
            .reports()
            .get(ReportKey::Case(id))
            .await
            .map_err(hidden_if_missing("case"))?;
        actor
            .authorize(Action::ReadCase {
                departments: &report.departments(),
            })
            .map_err(|e| LoopError::Access(e, "case"))?;
        Ok(report)
    }

    pub async fn list_inbox(
        &self,
        actor: &Actor,
        filter: InboxFilter,
        after: Option<ReportId>,
        limit: u64,
    ) -> Result<Vec<ReportRecord>, LoopError> {
        let department = self.inbox_department(actor)?;
        Ok(self
            .store
            .reports()
            .list_inbox(&department, &filter, after.as_ref(), limit)
            .await?)
    }

    /// The caller's inbox by their department's nearest due time, each case with that time.
    pub async fn list_inbox_by_due(
        &self,
        actor: &Actor,
        filter: InboxFilter,
        after: Option<(i64, ReportId)>,
        limit: u64,
    ) -> Result<Vec<(i64, ReportRecord)>, LoopError> {
        let department = self.inbox_department(actor)?;
        Ok(self
            .store
            .reports()
            .list_inbox_by_due(&department, &filter, after, limit)
            .await?)
    }

    /// The department whose inbox the caller uses.
    pub fn inbox_department(&self, actor: &Actor) -> Result<DepartmentId, LoopError> {
        actor
            .authorize(Action::UseInbox)
            .map_err(|e| LoopError::Access(e, "case"))?;
        actor
            .department()
            .cloned()
            .ok_or(LoopError::Access(AccessError::Hidden, "case"))
    }

    /// Applies a department's action to a case it is summoned to.
    #[instrument(skip_all, fields(case = %id))]
    pub async fn act(
        &self,
        actor: &Actor,
        id: CaseId,
        action: CaseAction,
        guard: Guard,
    ) -> Result<(ReportRecord, Effects), LoopError> {
        let department = self.inbox_department(actor)?;
        let attachments = match &action {
            CaseAction::PostProgress { attachments, .. }
            | CaseAction::Complete { attachments, .. } => attachments.clone(),
            _ => Vec::new(),
        };
        self.check_attachments(&actor.user_id, &attachments, "attachments")
            .await?;
        let table = self.routing.table();
        let now = self.clock.now();
        against_the_clock(&action, now, self.settings.clock_skew)?;
        let actor = actor.clone();
        // Chosen once, so a retried write stores the same request.
        let extension_id =
            matches!(action, CaseAction::RequestExtension { .. }).then(ExtensionId::generate);
        let reporting_in = matches!(action, CaseAction::ReportIn { .. });
        let observed = department.clone();
        let done = self
            .change(ReportKey::Case(id), guard, now, move |record| {
                actor
                    .authorize(Action::WorkCase {
                        departments: &record.departments(),
                    })
                    .map_err(|e| LoopError::Access(e, "case"))?;
                let mut next = workflow(record);
                let Planned {
                    step,
                    text,
                    decision,
                    extension,
                } = plan(
                    &action,
                    record,
                    &next,
                    &department,
                    &table,
                    extension_id,
                    now,
                )?;
                let changes = next.apply(&step)?;
                settle(record, &next, decision.as_ref(), now);
                if let (Some(case), Some(decision)) = (record.case.as_mut(), &decision) {
                    case.routing = routing_record(decision);
                }
                record_work(record, &department, &action, now);
                let explanation = decision.as_ref().map(|d| d.explanation.clone());
                let mut events = events_of(changes, &actor, |c| match c.kind {
                    EventKind::Rerouted => explanation.clone().unwrap_or_default(),
                    _ => text.clone(),
                });
                if let Some(first) = events.first_mut() {
                    first.attachments = attachments.clone();
                }
                Ok(Effects {
                    events,
                    notifications: extension.iter().map(extension_requested).collect(),
                    extension,
                    ..Effects::default()
                })
            })
            .await?;
        if reporting_in {
            self.observe_report_in(&done.0, &observed, now);
        }
        Ok(done)
    }

    /// Records in the metrics how long `department` took to report in on `record`, when it did so `now` (not on a retry answered from before).
    fn observe_report_in(&self, record: &ReportRecord, department: &DepartmentId, now: Timestamp) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let share = record
            .assignments
            .iter()
            .find(|a| &a.department == department && a.report_in_at == Some(now));
        if let Some(share) = share {
            metrics
                .report_in
                .observe(now.duration_since(share.summoned_at).as_secs_f64());
        }
    }
}

/// Checks the times an action names against the clock: a contact not in the future, an extension's due time in it.
///
/// Checked here, not at the edge, so that a retry under a request id done before reaches its first answer however late it comes.
fn against_the_clock(action: &CaseAction, now: Timestamp, skew: Duration) -> Result<(), LoopError> {
    match action {
        CaseAction::RecordContact {
            contact_time: Some(at),
            ..
        } if *at > now.saturating_add(skew) => Err(LoopError::field(
            "contact_time",
            "must not be in the future",
        )),
        CaseAction::RequestExtension { requested_due, .. } if *requested_due <= now => Err(
            LoopError::field("requested_due_time", "must be in the future"),
        ),
        _ => Ok(()),
    }
}

/// What a department's action becomes: the step for the state machine, the timeline text, and what a return or an extension request adds.
struct Planned {
    step: Step,
    text: String,
    /// A return's new routing.
    decision: Option<Decision>,
    /// An extension request's record.
    extension: Option<ExtensionRecord>,
}

/// Plans `action` by `department` on `record`, whose loop stands at `next`.
fn plan(
    action: &CaseAction,
    record: &ReportRecord,
    next: &Loop,
    department: &DepartmentId,
    table: &RoutingTable,
    extension_id: Option<ExtensionId>,
    now: Timestamp,
) -> Result<Planned, LoopError> {
    let d = department.clone();
    let planned = |step, text: &str| Planned {
        step,
        text: text.to_owned(),
        decision: None,
        extension: None,
    };
    Ok(match action {
        CaseAction::ReportIn { on_scene } => {
            let text = on_scene.map_or_else(String::new, |p| {
                format!("on scene at {:.6},{:.6}", p.point.lat(), p.point.lng())
            });
            planned(Step::ReportIn(d), &text)
        }
        CaseAction::RecordContact { contact_time, note } => {
            let whistled_at = record.case.as_ref().map(|c| c.whistled_at);
            if contact_time
                .zip(whistled_at)
                .is_some_and(|(at, whistled)| at < whistled)
            {
                return Err(LoopError::field(
                    "contact_time",
                    "must not be before the case was whistled",
                ));
            }
            planned(Step::RecordContact(d), note)
        }
        CaseAction::PostProgress { text, .. } => planned(Step::PostProgress(d), text),
        CaseAction::Complete { result, .. } => planned(Step::Complete(d), result),
        CaseAction::RequestExtension {
            stage,
            requested_due,
            reason,
        } => Planned {
            extension: extension_id.map(|id| ExtensionRecord {
                id,
                report: record.id,
                department: department.clone(),
                stage: *stage,
                requested_due: *requested_due,
                reason: reason.clone(),
                state: ExtensionState::Pending,
                approved_due: None,
                decision_reason: None,
                created_at: now,
                decided_at: None,
            }),
            ..planned(Step::RequestExtension(d), reason)
        },
        CaseAction::Return { reason } => {
            let mut excluded = next.returned();
            excluded.push(d.clone());
            let rerouted = table
                .route_excluding(record.location, &record.category, &excluded)
                .map_err(|e| {
                    LoopError::field("name", format!("the case cannot be re-routed: {e}"))
                })?;
            let step = Step::Return {
                department: d,
                rerouted: summoned(&rerouted),
            };
            Planned {
                decision: Some(rerouted),
                ..planned(step, reason)
            }
        }
    })
}

/// Records on the department's assignment when it reported in, reached the parties, or completed, with its result.
fn record_work(
    record: &mut ReportRecord,
    department: &DepartmentId,
    action: &CaseAction,
    now: Timestamp,
) {
    if let Some(a) = record.assignment_mut(department) {
        match action {
            CaseAction::ReportIn { .. } => a.report_in_at = Some(now),
            CaseAction::RecordContact { contact_time, .. } => {
                a.contact_at = Some(contact_time.unwrap_or(now));
            }
            CaseAction::Complete {
                result,
                attachments,
            } => {
                a.complete_at = Some(now);
                a.result = Some(result.clone());
                a.result_attachments = attachments.clone();
            }
            _ => {}
        }
    }
}

/// A request for more time is the supervisors' to decide.
fn extension_requested(x: &ExtensionRecord) -> NewNotification {
    NewNotification {
        department: Some(x.department.clone()),
        audience: "supervisors",
        kind: NoticeKind::ExtensionRequested,
        recipient: None,
        stage: None,
        escalation_level: 0,
        due_at: Some(x.requested_due),
    }
}
