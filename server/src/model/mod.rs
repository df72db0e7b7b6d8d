//! The closed loop's records, as every layer of the server shares them: storage reads and writes them, the loop service changes them, the API converts them.
//!
//! Nothing here does IO or knows a table; the types of one repository alone (devices, uploads, the directory's rows) stay with their repository in `storage`.

mod deadline;
mod ledger;
mod letter;
mod queue;
mod report;
mod request;
mod reveal;
mod stats;
mod timeline;

pub use deadline::{DeadlineRecord, DeadlineState, EscalationRecord, OverdueFilter, OverdueRecord};
pub use ledger::{
    AgendaSubject, InterviewFilter, InterviewRecord, LedgerCounts, LedgerEntryRecord,
    LedgerEventRecord, LedgerFilter, LedgerOpenOutcome, LedgerPosition, LedgerReader,
    LedgerStepRecord, LinkedCase, MeetingDecision, MeetingItemRecord, MeetingRecord,
    NewLedgerEvent, StepDeadlineChange, StepDeadlineRecord,
};
pub use letter::{AnswerOutcome, IssueOutcome, LetterFilter, LetterRecord, NewLetter};
pub use queue::{CaseOrder, CaseQuery, DegreeRange, QueuePosition, TimeRange};
pub use report::{
    AssignmentFacts, AssignmentRecord, CaseRecord, CreateOutcome, Effects, ExtensionFilter,
    ExtensionRecord, InboxFilter, NewNotification, NewReport, ReportHead, ReportKey, ReportRecord,
    RoutedRecord, RoutingRecord, RoutingRule,
};
pub use request::{Once, Render, RequestKey, StoredRequest};
pub use reveal::{NewReveal, RevealFilter, RevealRecord};
pub use stats::{
    AreaCounts, AreaGroup, Period, ShareCounts, ShareGroup, ShortfallKind, ShortfallPosition,
    ShortfallRecord, StoredFacts, WorkingTimes, working_bucket, working_bucket_span,
};
pub use timeline::{EventFilter, EventPosition, EventRecord, NewEvent};
