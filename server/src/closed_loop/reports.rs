//! What a grid worker does with their reports: file, read, settle on the spot, whistle, verify the result.

use gridwhistle_dispatcher::workflow::Step;
use gridwhistle_domain::{
    Action, Actor, AssignmentRole, AssignmentState, AttachmentId, CaseId, CaseState, ReportId,
    ReportState, RiskGrade, UserId, WhistleKind,
};
use tracing::instrument;

use crate::model::{CaseRecord, CreateOutcome, Effects, NewReport, ReportKey, ReportRecord};

use super::records::{events_of, routing_record, settle, summoned, workflow};
use super::{Guard, LoopError, LoopService, Verdict, hidden_if_missing, own};

impl LoopService {
    /// Files a report; a retry of the same id and payload returns the first answer (`true` says it was a retry).
    #[instrument(skip_all, fields(report = %draft.id))]
    pub async fn create_report(
        &self,
        actor: &Actor,
        draft: NewReport,
    ) -> Result<(ReportRecord, bool), LoopError> {
        actor
            .authorize(Action::FileReport)
            .map_err(|e| LoopError::Access(e, "report"))?;
        let now = self.clock.now();
        if draft.observed_at > now.saturating_add(self.settings.clock_skew) {
            return Err(LoopError::field("report.observe_time", "is in the future"));
        }
        if now.duration_since(draft.observed_at) > self.settings.max_offline {
            return Err(LoopError::field(
                "report.observe_time",
                format!(
                    "is older than the {}-day offline limit",
                    self.settings.max_offline.as_secs() / 86_400
                ),
            ));
        }
        let table = self.routing.table();
        if table.category(&draft.category).is_none() {
            return Err(LoopError::field(
                "report.category",
                format!("unknown category {}", draft.category),
            ));
        }
        self.check_attachments(&actor.user_id, &draft.attachments, "report.attachments")
            .await?;
        // The grid containing the point, or the worker's own grid when the point lies outside every grid.
        let grid = table
            .route(draft.location, &draft.category)
            .ok()
            .and_then(|d| d.grid)
            .or_else(|| actor.binding.grid().cloned());
        match self
            .store
            .reports()
            .create(actor.user_id, grid, draft, now)
            .await?
        {
            CreateOutcome::Created(record) => Ok((record, false)),
            CreateOutcome::Replayed(record) => Ok((record, true)),
            CreateOutcome::Conflict => Err(LoopError::Conflict("report_id")),
        }
    }

    /// Checks that every attachment was uploaded completely by `owner`.
    pub(super) async fn check_attachments(
        &self,
        owner: &UserId,
        attachments: &[AttachmentId],
        field: &'static str,
    ) -> Result<(), LoopError> {
        if attachments.is_empty() {
            return Ok(());
        }
        let missing = self
            .store
            .uploads()
            .missing_uploads(owner, attachments)
            .await?;
        match missing.first() {
            None => Ok(()),
            Some(first) => Err(LoopError::field(
                field,
                format!("attachments/{first} was not uploaded by the caller"),
            )),
        }
    }

    #[instrument(skip_all, fields(report = %id))]
    pub async fn get_report(&self, actor: &Actor, id: ReportId) -> Result<ReportRecord, LoopError> {
        self.authorize_report(actor)?;
        let record = self
            .store
            .reports()
            .get(ReportKey::Report(id))
            .await
            .map_err(hidden_if_missing("report"))?;
        actor
            .authorize(Action::OwnReport {
                author: &record.author,
            })
            .map_err(|e| LoopError::Access(e, "report"))?;
        Ok(record)
    }

    pub async fn list_my_reports(
        &self,
        actor: &Actor,
        state: Option<ReportState>,
        after: Option<ReportId>,
        limit: u64,
    ) -> Result<Vec<ReportRecord>, LoopError> {
        actor
            .authorize(Action::OwnReport {
                author: &actor.user_id,
            })
            .map_err(|e| LoopError::Access(e, "report"))?;
        Ok(self
            .store
            .reports()
            .by_author(&actor.user_id, state, after.as_ref(), limit)
            .await?)
    }

    #[instrument(skip_all, fields(report = %id))]
    pub async fn resolve_on_site(
        &self,
        actor: &Actor,
        id: ReportId,
        resolution: String,
        attachments: Vec<AttachmentId>,
        guard: Guard,
    ) -> Result<(ReportRecord, Effects), LoopError> {
        self.authorize_report(actor)?;
        self.check_attachments(&actor.user_id, &attachments, "attachments")
            .await?;
        let actor = actor.clone();
        let now = self.clock.now();
        self.change(ReportKey::Report(id), guard, now, move |record| {
            own(&actor, record)?;
            let mut next = workflow(record);
            let changes = next.apply(&Step::ResolveOnSite)?;
            settle(record, &next, None, now);
            record.resolution = Some(resolution.clone());
            let mut events = events_of(changes, &actor, |_| resolution.clone());
            if let Some(e) = events.first_mut() {
                e.attachments = attachments.clone();
            }
            Ok(Effects {
                events,
                extension: None,
                ..Effects::default()
            })
        })
        .await
    }

    /// Whistles a report: routes it and opens a case for the summoned departments.
    #[instrument(skip_all, fields(report = %id))]
    pub async fn whistle(
        &self,
        actor: &Actor,
        id: ReportId,
        kind: WhistleKind,
        grade: Option<RiskGrade>,
        note: String,
        guard: Guard,
    ) -> Result<(ReportRecord, Effects), LoopError> {
        self.authorize_report(actor)?;
        let table = self.routing.table();
        let actor = actor.clone();
        let now = self.clock.now();
        self.change(ReportKey::Report(id), guard, now, move |record| {
            own(&actor, record)?;
            let decision = table
                .route(record.location, &record.category)
                .map_err(|e| {
                    LoopError::field("name", format!("the report cannot be routed: {e}"))
                })?;
            let default_grade = table
                .category(&record.category)
                .map_or(RiskGrade::C, |c| c.default_grade);
            let mut next = workflow(record);
            let changes = next.apply(&Step::Whistle {
                summoned: summoned(&decision),
            })?;
            record.risk_grade = Some(grade.or(record.risk_grade).unwrap_or(default_grade));
            record.case = Some(CaseRecord {
                id: CaseId::generate(),
                state: CaseState::Open,
                kind,
                note: note.clone(),
                whistled_at: now,
                routing: routing_record(&decision),
                rework_count: 0,
                satisfaction: None,
                // Set with the deadlines, by `change`.
                policy_version: None,
            });
            settle(record, &next, Some(&decision), now);
            let explanation = decision.explanation.clone();
            Ok(Effects {
                events: events_of(changes, &actor, |_| {
                    if note.is_empty() {
                        explanation.clone()
                    } else {
                        format!("{note}\n{explanation}")
                    }
                }),
                extension: None,
                ..Effects::default()
            })
        })
        .await
    }

    #[instrument(skip_all, fields(report = %id))]
    pub async fn verify(
        &self,
        actor: &Actor,
        id: ReportId,
        verdict: Verdict,
        guard: Guard,
    ) -> Result<(ReportRecord, Effects), LoopError> {
        self.authorize_report(actor)?;
        let actor = actor.clone();
        let now = self.clock.now();
        self.change(ReportKey::Report(id), guard, now, move |record| {
            own(&actor, record)?;
            let mut next = workflow(record);
            let (step, text) = match &verdict {
                Verdict::Accept { satisfaction } => {
                    (Step::Accept, format!("satisfaction {satisfaction}/5"))
                }
                Verdict::Reject { reason } => (Step::Reject, reason.clone()),
            };
            let changes = next.apply(&step)?;
            settle(record, &next, None, now);
            if let (Some(case), Verdict::Accept { satisfaction }) = (record.case.as_mut(), &verdict)
            {
                case.satisfaction = Some(*satisfaction);
            }
            if matches!(verdict, Verdict::Reject { .. }) {
                // The lead's result was not accepted: it works on, and completes again.
                for a in &mut record.assignments {
                    if a.role == AssignmentRole::Lead && a.state != AssignmentState::Completed {
                        a.complete_at = None;
                    }
                }
            }
            Ok(Effects {
                events: events_of(changes, &actor, |_| text.clone()),
                extension: None,
                ..Effects::default()
            })
        })
        .await
    }
}
