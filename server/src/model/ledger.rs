//! The ledger of long-standing cases (积案台账): entries with their plans and timelines, as storage keeps them and the ledger service changes them.

use gridwhistle_dispatcher::deadlines::Schedule;
use gridwhistle_domain::ledger::{
    AgendaReason, Colour, LedgerEventKind, LedgerState, Level, Nature, StepState,
};
use gridwhistle_domain::{
    AttachmentId, CaseId, DepartmentId, InterviewId, LedgerEntryId, LetterId, MeetingId, Party,
    ReportId, RiskGrade, Timestamp, UserId,
};

/// The case an entry was taken from: its report, and who reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedCase {
    pub report: ReportId,
    pub case: CaseId,
    pub reporter: UserId,
}

/// One step of an entry's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerStepRecord {
    /// From 1 within the entry; never reused by a revision.
    pub number: u32,
    pub department: DepartmentId,
    pub description: String,
    pub due_at: Timestamp,
    pub state: StepState,
    /// The plan revision that added it, from 1.
    pub revision: u32,
    pub done_at: Option<Timestamp>,
    pub done_by: Option<UserId>,
    pub result: Option<String>,
    pub attachments: Vec<AttachmentId>,
}

/// An entry of the ledger with its plan (every step, done, open and superseded, by number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntryRecord {
    pub id: LedgerEntryId,
    pub case: Option<LinkedCase>,
    pub title: String,
    pub summary: String,
    pub nature: Nature,
    pub since: Timestamp,
    pub complexity: Level,
    pub social_impact: Level,
    pub grade: RiskGrade,
    pub unit: DepartmentId,
    pub responsible_person: String,
    pub leader: Option<UserId>,
    pub parties: Vec<Party>,
    pub state: LedgerState,
    pub close_result: Option<String>,
    pub parties_stance: Option<String>,
    pub steps: Vec<LedgerStepRecord>,
    /// How many timeline events the entry has; the etag.
    pub version: i64,
    /// SHA-256 of the opening request, to tell a retry from a reuse of the id.
    pub request_hash: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

impl LedgerEntryRecord {
    pub fn colour(&self) -> Colour {
        Colour::of(self.grade)
    }

    /// The steps not done nor superseded, by number.
    pub fn open_steps(&self) -> impl Iterator<Item = &LedgerStepRecord> {
        self.steps.iter().filter(|s| s.state == StepState::Open)
    }

    /// The nearest due time of an open step.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.open_steps().map(|s| s.due_at).min()
    }

    /// The departments the plan names, each once, in step order.
    pub fn departments(&self) -> Vec<DepartmentId> {
        let mut departments: Vec<DepartmentId> = Vec::new();
        for step in &self.steps {
            if !departments.contains(&step.department) {
                departments.push(step.department.clone());
            }
        }
        departments
    }
}

/// One entry of an entry's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEventRecord {
    /// From 1, in order.
    pub sequence: i64,
    pub kind: LedgerEventKind,
    pub actor: Option<UserId>,
    pub text: String,
    pub at: Timestamp,
}

/// Whose entries a listing may show: every entry, or those a department, leader or grid worker may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerReader {
    All,
    /// Entries the department is responsible for or whose plan names it.
    Department(DepartmentId),
    Leader(UserId),
    /// Entries taken from the grid worker's own reports.
    Reporter(UserId),
}

/// Which entries a listing shows, most urgent grade first, then the nearest open step's due time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerFilter {
    pub reader: LedgerReader,
    pub grade: Option<RiskGrade>,
    pub nature: Option<Nature>,
    pub unit: Option<DepartmentId>,
    pub leader: Option<UserId>,
    /// Only entries with an open step due before this time.
    pub overdue_at: Option<Timestamp>,
    pub state: Option<LedgerState>,
}

impl LedgerFilter {
    pub fn new(reader: LedgerReader) -> Self {
        Self {
            reader,
            grade: None,
            nature: None,
            unit: None,
            leader: None,
            overdue_at: None,
            state: None,
        }
    }
}

/// Where a listing goes on from: the last entry's grade, next due time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPosition {
    pub grade: RiskGrade,
    pub next_due_ms: i64,
    pub id: LedgerEntryId,
}

/// Entries not closed by colour, and how many of them are overdue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerCounts {
    pub red: i64,
    pub yellow: i64,
    pub blue: i64,
    pub overdue: i64,
}

/// How opening an entry went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerOpenOutcome {
    Opened(Box<LedgerEntryRecord>),
    /// An entry under this id existed already: the stored one, for the caller to compare.
    Existing(Box<LedgerEntryRecord>),
}

/// A timeline entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLedgerEvent {
    pub kind: LedgerEventKind,
    pub actor: Option<UserId>,
    pub text: String,
}

/// A change to the deadline of one step of an entry's plan, written in the transaction of the change to the entry that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepDeadlineChange {
    /// A step added to the plan: its deadline starts, due when the step is.
    Start {
        step: u32,
        department: DepartmentId,
        policy_version: i64,
        started_at: Timestamp,
        due_at: Timestamp,
        /// The first reminder or escalation; `None` when the policy has neither.
        next_fire_at: Option<Timestamp>,
    },
    /// The step was done.
    Satisfy { step: u32 },
    /// A revision of the plan superseded the step.
    Cancel { step: u32 },
    /// The entry's grade changed: the schedule resumes under the new grade's policy where it stands now, what fired before stays fired.
    Resume { step: u32, schedule: Schedule },
}

/// The deadline of one step of an entry's plan, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDeadlineRecord {
    pub step: u32,
    pub deadline: super::DeadlineRecord,
}

/// A summoned interview (约谈) of a department's responsible person, with what led to it and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterviewRecord {
    pub id: InterviewId,
    pub department: DepartmentId,
    /// The official interviewed, as the supervisor names them (not a party).
    pub person: String,
    pub reason: String,
    /// The supervision letters behind it.
    pub letters: Vec<LetterId>,
    /// The ledger entries behind it.
    pub entries: Vec<LedgerEntryId>,
    pub outcome: String,
    pub interviewer: UserId,
    pub held_at: Timestamp,
    pub created_at: Timestamp,
    /// SHA-256 of the recording request, to tell a retry from a reuse of the id.
    pub request_hash: String,
}

/// Which interviews a listing shows, the most recent first: one department's (or all), held in `[from, until)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterviewFilter {
    pub department: Option<DepartmentId>,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// What an agenda item is about: an entry of the ledger, or a case (with its report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgendaSubject {
    Entry(LedgerEntryId),
    Case { report: ReportId, case: CaseId },
}

/// What a joint meeting decided on an item: a lead and assisting departments (and, for an entry, its new plan), like a reassignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingDecision {
    pub lead: DepartmentId,
    pub assists: Vec<DepartmentId>,
    pub text: String,
    pub decided_by: UserId,
    pub decided_at: Timestamp,
}

/// One item of a joint meeting's agenda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingItemRecord {
    /// From 1.
    pub number: u32,
    pub subject: AgendaSubject,
    pub reasons: Vec<AgendaReason>,
    /// Why, in the server's language (which step is overdue, which departments the plan crosses).
    pub detail: String,
    pub decision: Option<MeetingDecision>,
}

/// A joint meeting (联席会议) of a month with its agenda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRecord {
    pub id: MeetingId,
    /// `YYYY-MM`.
    pub month: String,
    pub title: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    /// SHA-256 of the calling request, to tell a retry from a reuse of the id.
    pub request_hash: String,
    pub items: Vec<MeetingItemRecord>,
}
