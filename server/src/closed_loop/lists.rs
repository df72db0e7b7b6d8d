//! The case queue, supervision letters and extension requests as lists: supervisors see every department's, a department its own.

use gridwhistle_domain::{
    AccessError, Action, Actor, CaseId, DepartmentId, ExtensionId, LetterId, Timestamp,
};
use tracing::instrument;

use crate::model::{
    CaseQuery, ExtensionFilter, ExtensionRecord, LetterFilter, LetterRecord, QueuePosition,
    ReportRecord,
};

use super::{LoopError, LoopService, hidden_if_missing};

/// Whose letters and extensions a listing may show.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// The department asked for, or every department when none was.
    Asked(Option<DepartmentId>),
    /// Another unit's department was asked for: the answer is empty, as for a department that does not exist.
    Nothing,
}

/// Narrows `asked` to what the caller may list: a supervisor anything, a department its own.
fn scope(actor: &Actor, asked: Option<DepartmentId>) -> Result<Scope, LoopError> {
    // Reading what concerns a department's cases is reading those cases.
    match actor.authorize(Action::ReadCase { departments: &[] }) {
        Ok(()) => return Ok(Scope::Asked(asked)),
        Err(err @ AccessError::Forbidden { .. }) => return Err(LoopError::Access(err, "case")),
        Err(AccessError::Hidden) => {}
    }
    let own = actor
        .department()
        .cloned()
        .ok_or(LoopError::Access(AccessError::Hidden, "case"))?;
    Ok(match asked {
        Some(d) if d != own => Scope::Nothing,
        _ => Scope::Asked(Some(own)),
    })
}

impl LoopService {
    /// Letters by reply due time, after `after`, at most `limit`.
    pub async fn list_letters(
        &self,
        actor: &Actor,
        mut filter: LetterFilter,
        after: Option<(Timestamp, LetterId)>,
        limit: u64,
    ) -> Result<Vec<LetterRecord>, LoopError> {
        match scope(actor, filter.department.take())? {
            Scope::Nothing => Ok(Vec::new()),
            Scope::Asked(department) => {
                filter.department = department;
                Ok(self.store.letters().list(&filter, after, limit).await?)
            }
        }
    }

    /// The letter `id`, for a supervisor or the department it was sent to.
    #[instrument(skip_all, fields(letter = %id))]
    pub async fn get_letter(
        &self,
        actor: &Actor,
        id: &LetterId,
    ) -> Result<LetterRecord, LoopError> {
        actor
            .authorize(Action::ReadCase { departments: &[] })
            .or_else(|err| match err {
                AccessError::Hidden => Ok(()),
                forbidden => Err(LoopError::Access(forbidden, "supervision letter")),
            })?;
        let letter = self
            .store
            .letters()
            .get(id)
            .await
            .map_err(hidden_if_missing("supervision letter"))?;
        actor
            .authorize(Action::ReadCase {
                departments: std::slice::from_ref(&letter.department),
            })
            .map_err(|e| LoopError::Access(e, "supervision letter"))?;
        Ok(letter)
    }

    /// A page of the case queue, each case with its sort key; a department sees the cases it was summoned to.
    pub async fn list_cases(
        &self,
        actor: &Actor,
        mut query: CaseQuery,
        after: Option<QueuePosition>,
        limit: u64,
    ) -> Result<Vec<(i64, ReportRecord)>, LoopError> {
        match scope(actor, query.department.take())? {
            Scope::Nothing => Ok(Vec::new()),
            Scope::Asked(department) => {
                query.department = department;
                Ok(self.store.reports().queue(&query, after, limit).await?)
            }
        }
    }

    /// Extension requests in the order they were made, after `after`, at most `limit`, each with its case.
    pub async fn list_extensions(
        &self,
        actor: &Actor,
        mut filter: ExtensionFilter,
        after: Option<ExtensionId>,
        limit: u64,
    ) -> Result<Vec<(CaseId, ExtensionRecord)>, LoopError> {
        match scope(actor, filter.department.take())? {
            Scope::Nothing => Ok(Vec::new()),
            Scope::Asked(department) => {
                filter.department = department;
                Ok(self
                    .store
                    .reports()
                    .extensions(&filter, after.as_ref(), limit)
                    .await?)
            }
        }
    }
}
