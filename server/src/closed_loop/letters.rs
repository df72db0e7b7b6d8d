//! Supervision letters (督办函) as a service: a supervisor writes to one department about cases it is on, with a reply-by date that is itself a deadline with its own escalation; the department answers once.

use gridwhistle_dispatcher::deadlines::{DeadlineChange, Started};
use gridwhistle_dispatcher::notify::NoticeKind;
use gridwhistle_domain::{
    Action, Actor, CaseId, CaseState, DeadlineStage, DepartmentId, EventKind, LetterId, ReportId,
    Timestamp,
};
use tracing::instrument;

use super::{LoopError, LoopService, hidden_if_missing};
use crate::model::{
    AnswerOutcome, Effects, IssueOutcome, LetterRecord, NewEvent, NewLetter, NewNotification, Once,
    ReportKey, ReportRecord,
};
use crate::storage::StorageError;

/// A letter as the supervisor's console sent it, parsed.
#[derive(Debug, Clone)]
pub struct LetterDraft {
    pub id: LetterId,
    pub department: DepartmentId,
    pub cases: Vec<CaseId>,
    pub text: String,
    /// `None` takes the reply limit of the first case's time limits.
    pub reply_due: Option<Timestamp>,
    /// SHA-256 of the request, to tell a retry from a reuse of the id.
    pub request_hash: String,
}

impl LoopService {
    /// Issues a supervision letter; a retry with the same id and request answers the stored letter.
    ///
    /// The letter lands on every case's timeline, its reply-by date becomes a deadline on the first case (escalating by the `letter_reply` stage of that case's time limits), and the department's head is notified, all in one transaction.
    #[instrument(skip_all, fields(letter = %draft.id))]
    pub async fn issue_letter(
        &self,
        actor: &Actor,
        draft: LetterDraft,
    ) -> Result<LetterRecord, LoopError> {
        actor
            .authorize(Action::Supervise)
            .map_err(|e| LoopError::Access(e, "supervision letter"))?;
        // A retry answers the stored letter before anything else is checked: its cases may have moved on since.
        match self.store.letters().get(&draft.id).await {
            Ok(stored) if stored.request_hash == draft.request_hash => return Ok(stored),
            Ok(_) => return Err(LoopError::Conflict("letter_id")),
            Err(StorageError::NotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        self.named_department("department", &draft.department)
            .await?;
        let first = self.first_case(&draft).await?;
        let now = self.clock.now();
        let (due, next_fire_at) = self.reply_schedule(&first, draft.reply_due, now)?;
        let letter = draft.id;
        let department = draft.department.clone();
        let text = format!(
            "supervisionLetters/{letter} to {department}, reply by {}: {}",
            self.time_limits.snapshot().calendar.zone().format(due),
            draft.text
        );
        let issuer = actor.user_id;
        let new = NewLetter {
            id: draft.id,
            department: draft.department,
            issuer,
            text: draft.text,
            cases: draft.cases,
            reply_due: due,
            request_hash: draft.request_hash,
        };
        let outcome = self
            .store
            .letters()
            .issue(new, now, move |records| {
                let event = NewEvent {
                    kind: EventKind::SupervisionLetter,
                    actor: Some(issuer),
                    department: Some(department.clone()),
                    text,
                    attachments: Vec::new(),
                };
                // One reply deadline and one notification per letter, on its first case.
                Ok::<_, LoopError>(on_every_case(records, event, |first| {
                    reply_due(first, &department, letter, due, next_fire_at, now);
                }))
            })
            .await?;
        match outcome {
            IssueOutcome::Issued(letter) => {
                self.deadline_wake.notify_one();
                Ok(letter)
            }
            IssueOutcome::Replayed(letter) => Ok(letter),
            IssueOutcome::Conflict => Err(LoopError::Conflict("letter_id")),
        }
    }

    /// Checks every case the letter names (it exists, the department is summoned to it, it is not closed) and answers the first, whose time limits set the reply schedule.
    async fn first_case(&self, draft: &LetterDraft) -> Result<ReportRecord, LoopError> {
        let mut first = None;
        for (i, case) in draft.cases.iter().enumerate() {
            let name = format!("cases[{i}]");
            let record = match self.store.reports().get(ReportKey::Case(*case)).await {
                Ok(record) => record,
                Err(StorageError::NotFound { .. }) => {
                    return Err(LoopError::field(name, "does not exist"));
                }
                Err(err) => return Err(err.into()),
            };
            if !record.departments().contains(&draft.department) {
                return Err(LoopError::field(
                    name,
                    "the department is not summoned to this case",
                ));
            }
            if record.case.as_ref().map(|c| c.state) == Some(CaseState::Closed) {
                return Err(LoopError::field(name, "the case is closed"));
            }
            first.get_or_insert(record);
        }
        first.ok_or_else(|| LoopError::field("cases", "at least one case is required"))
    }

    /// The reply-by instant and the deadline's first firing under the first case's time limits.
    fn reply_schedule(
        &self,
        first: &ReportRecord,
        requested: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(Timestamp, Option<Timestamp>), LoopError> {
        let snapshot = self.time_limits.snapshot();
        let stage = match first.case.as_ref() {
            Some(case) => {
                let version = case
                    .policy_version
                    .unwrap_or_else(|| snapshot.policies.version());
                self.time_limits
                    .case_policy(version, &first.category, first.risk_grade, case.kind)?
                    .and_then(|p| p.stage(DeadlineStage::LetterReply).cloned())
            }
            None => None,
        };
        let due = match (requested, &stage) {
            (Some(due), _) if due <= now => {
                return Err(LoopError::field("reply_due_time", "must be in the future"));
            }
            (Some(due), _) => due,
            (None, Some(stage)) => stage.limit.due(&snapshot.calendar, now)?,
            (None, None) => {
                return Err(LoopError::field(
                    "reply_due_time",
                    "is required: the case's time limits set no reply limit for letters",
                ));
            }
        };
        let next_fire_at = match &stage {
            Some(stage) => stage
                .firings(&snapshot.calendar, now, due)?
                .first()
                .map(|f| f.at),
            None => None,
        };
        Ok((due, next_fire_at))
    }

    /// The department answers a letter sent to it; answering again with the same reply answers the letter as stored.
    #[instrument(skip_all, fields(letter = %id))]
    pub async fn answer_letter(
        &self,
        actor: &Actor,
        id: LetterId,
        reply: String,
        once: Option<Once<LetterRecord>>,
    ) -> Result<LetterRecord, LoopError> {
        actor
            .authorize(Action::UseInbox)
            .map_err(|e| LoopError::Access(e, "supervision letter"))?;
        let letter = self
            .store
            .letters()
            .get(&id)
            .await
            .map_err(hidden_if_missing("supervision letter"))?;
        actor
            .authorize(Action::WorkCase {
                departments: std::slice::from_ref(&letter.department),
            })
            .map_err(|e| LoopError::Access(e, "supervision letter"))?;
        if letter.answered_at.is_some() {
            return answered_before(letter, &reply);
        }
        let now = self.clock.now();
        let by = actor.user_id;
        let text = reply.clone();
        let outcome = self
            .store
            .letters()
            .answer(id, reply.clone(), by, now, once, move |letter, records| {
                let event = NewEvent {
                    kind: EventKind::LetterAnswered,
                    actor: Some(by),
                    department: Some(letter.department.clone()),
                    text: format!("supervisionLetters/{}: {text}", letter.id),
                    attachments: Vec::new(),
                };
                Ok::<_, LoopError>(on_every_case(records, event, |first| {
                    first.deadlines.push(DeadlineChange::LetterAnswered {
                        department: letter.department.clone(),
                        letter: letter.id,
                    });
                }))
            })
            .await?;
        match outcome {
            AnswerOutcome::Answered(letter) => Ok(letter),
            AnswerOutcome::AlreadyAnswered(letter) => answered_before(letter, &reply),
        }
    }
}

/// The same timeline event on every case of a letter, with what `on_first` adds to the first case.
fn on_every_case(
    records: &[ReportRecord],
    event: NewEvent,
    on_first: impl FnOnce(&mut Effects),
) -> Vec<(ReportId, Effects)> {
    let mut changes: Vec<(ReportId, Effects)> = records
        .iter()
        .map(|r| {
            let effects = Effects {
                events: vec![event.clone()],
                ..Effects::default()
            };
            (r.id, effects)
        })
        .collect();
    if let Some((_, first)) = changes.first_mut() {
        on_first(first);
    }
    changes
}

/// A letter answered before: the same reply is a retry, another is refused.
fn answered_before(letter: LetterRecord, reply: &str) -> Result<LetterRecord, LoopError> {
    if letter.reply.as_deref() == Some(reply) {
        Ok(letter)
    } else {
        Err(gridwhistle_dispatcher::workflow::IllegalStep(
            "the letter was already answered with another reply".to_owned(),
        )
        .into())
    }
}

/// The letter's reply deadline and its notice to the department head, on the letter's first case.
fn reply_due(
    first: &mut Effects,
    department: &DepartmentId,
    letter: LetterId,
    due: Timestamp,
    next_fire_at: Option<Timestamp>,
    now: Timestamp,
) {
    first.deadlines.push(DeadlineChange::Start(Started {
        department: department.clone(),
        stage: DeadlineStage::LetterReply,
        started_at: now,
        due_at: due,
        next_fire_at,
        letter: Some(letter),
        // The reply-by date is part of the letter as issued, so it is never counted again.
        provisional: false,
    }));
    first.notifications.push(NewNotification {
        department: Some(department.clone()),
        audience: "department_head",
        kind: NoticeKind::SupervisionLetter,
        recipient: None,
        stage: Some(DeadlineStage::LetterReply),
        escalation_level: 0,
        due_at: Some(due),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_reply_is_a_retry_and_another_is_refused() {
        let letter = LetterRecord {
            id: LetterId::generate(),
            department: DepartmentId::parse("housing").unwrap(),
            issuer: gridwhistle_domain::UserId::generate(),
            text: "请于三日内书面答复".to_owned(),
            cases: Vec::new(),
            reply_due: Timestamp::from_unix_millis(0),
            created_at: Timestamp::from_unix_millis(0),
            answered_at: Some(Timestamp::from_unix_millis(1)),
            answered_by: None,
            reply: Some("已整改".to_owned()),
            request_hash: String::new(),
        };
        assert!(answered_before(letter.clone(), "已整改").is_ok());
        assert!(matches!(
            answered_before(letter, "另一答复"),
            Err(LoopError::Illegal(_))
        ));
    }
}
