//! Summoned interviews (约谈): a supervisor records calling in a department's responsible person, with the letters and ledger entries behind it and what came of it; departments read their own, supervisors, leaders and admins all.

use gridwhistle_domain::{
    AccessError, Action, Actor, Binding, DepartmentId, InterviewId, LedgerEntryId, LetterId,
    Timestamp,
};
use tracing::instrument;

use super::{LedgerError, LedgerService, replayed};
use crate::model::{InterviewFilter, InterviewRecord};
use crate::storage::StorageError;

/// An interview as the supervisor records it.
#[derive(Debug, Clone)]
pub struct NewInterview {
    pub id: InterviewId,
    pub department: DepartmentId,
    pub person: String,
    pub reason: String,
    pub letters: Vec<LetterId>,
    pub entries: Vec<LedgerEntryId>,
    pub outcome: String,
    pub held_at: Timestamp,
    /// SHA-256 of the request, to tell a retry from a reuse of the id.
    pub request_hash: String,
}

impl LedgerService {
    /// Records an interview (supervisors), idempotent on its id; the letters behind it must be to its department, and the entries its department's (as the unit or in the plan).
    #[instrument(skip_all, fields(interview = %new.id))]
    pub async fn record_interview(
        &self,
        actor: &Actor,
        new: NewInterview,
    ) -> Result<InterviewRecord, LedgerError> {
        actor
            .authorize(Action::RecordInterview)
            .map_err(|e| LedgerError::Access(e, "interview"))?;
        let now = self.now();
        self.check_department("department", &new.department).await?;
        if new.held_at > now {
            return Err(LedgerError::field("held_time", "must not be in the future"));
        }
        for (i, letter) in new.letters.iter().enumerate() {
            let field = format!("supervision_letters[{i}]");
            match self.store.letters().get(letter).await {
                Ok(l) if l.department == new.department => {}
                Ok(_) => return Err(LedgerError::field(field, "is to another department")),
                Err(StorageError::NotFound { .. }) => {
                    return Err(LedgerError::field(field, "no such letter"));
                }
                Err(err) => return Err(err.into()),
            }
        }
        for (i, entry) in new.entries.iter().enumerate() {
            let field = format!("ledger_entries[{i}]");
            match self.store.ledger().get(entry).await? {
                Some(e)
                    if e.unit == new.department || e.departments().contains(&new.department) => {}
                Some(_) => {
                    return Err(LedgerError::field(field, "does not concern the department"));
                }
                None => return Err(LedgerError::field(field, "no such entry")),
            }
        }
        let hash = new.request_hash.clone();
        let stored = self
            .store
            .interviews()
            .record(InterviewRecord {
                id: new.id,
                department: new.department,
                person: new.person,
                reason: new.reason,
                letters: new.letters,
                entries: new.entries,
                outcome: new.outcome,
                interviewer: actor.user_id,
                held_at: new.held_at,
                created_at: now,
                request_hash: new.request_hash,
            })
            .await?;
        replayed(stored, |s| &s.request_hash, &hash)
    }

    /// A page of the interviews the caller may read: a department's staff only their own department's (asked for or not).
    #[instrument(skip_all)]
    pub async fn interviews(
        &self,
        actor: &Actor,
        mut filter: InterviewFilter,
        before: Option<(Timestamp, InterviewId)>,
        limit: u64,
    ) -> Result<Vec<InterviewRecord>, LedgerError> {
        if let (Binding::DutyOfficer(own) | Binding::DepartmentHead(own), None) =
            (&actor.binding, &filter.department)
        {
            filter.department = Some(own.clone());
        }
        actor
            .authorize(Action::ReadInterviews {
                department: filter.department.as_ref(),
            })
            .map_err(|e| match e {
                // Another department's interviews are answered as none of them exist.
                AccessError::Hidden => LedgerError::Access(AccessError::Hidden, "department"),
                forbidden => LedgerError::Access(forbidden, "interview"),
            })?;
        Ok(self.store.interviews().list(&filter, before, limit).await?)
    }
}
