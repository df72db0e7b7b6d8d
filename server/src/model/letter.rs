//! Supervision letters (督办函) as issued and answered.

use gridwhistle_domain::{CaseId, DepartmentId, LetterId, Timestamp, UserId};

/// A letter as the supervisor issues it.
#[derive(Debug, Clone)]
pub struct NewLetter {
    pub id: LetterId,
    pub department: DepartmentId,
    pub issuer: UserId,
    pub text: String,
    pub cases: Vec<CaseId>,
    pub reply_due: Timestamp,
    /// SHA-256 of the issuing request, to tell a retry from a reuse of the id.
    pub request_hash: String,
}

/// Which letters a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LetterFilter {
    /// Only letters to this department.
    pub department: Option<DepartmentId>,
    /// Only letters not answered yet.
    pub unanswered_only: bool,
}

/// A stored letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterRecord {
    pub id: LetterId,
    pub department: DepartmentId,
    pub issuer: UserId,
    pub text: String,
    /// In the order the supervisor named them.
    pub cases: Vec<CaseId>,
    pub reply_due: Timestamp,
    pub created_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub answered_by: Option<UserId>,
    pub reply: Option<String>,
    /// SHA-256 of the issuing request.
    pub request_hash: String,
}

/// How issuing a letter went.
#[derive(Debug, Clone)]
pub enum IssueOutcome {
    Issued(LetterRecord),
    /// The same id and request were issued before: the letter as stored.
    Replayed(LetterRecord),
    /// The id was used before for another request.
    Conflict,
}

/// How answering a letter went.
#[derive(Debug, Clone)]
pub enum AnswerOutcome {
    Answered(LetterRecord),
    /// The letter was answered before; nothing was written.
    AlreadyAnswered(LetterRecord),
}
