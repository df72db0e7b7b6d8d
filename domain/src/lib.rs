//! Domain types of Gridwhistle: identifiers, users and roles, time, and the access policy; no IO, no transport, no database.

pub mod access;
pub mod case;
pub mod ids;
pub mod ledger;
pub mod location;
pub mod risk;
pub mod time;
pub mod user;

pub use access::{AccessError, Action, Actor, LedgerScope};
pub use case::{
    AssignmentRole, AssignmentState, CaseState, DeadlineStage, DeadlineSubject, EventKind,
    ExtensionState, IdNumber, MaskedParty, Party, PartyError, PhoneNumber, ReportState, TextError,
    WhistleKind, check_text,
};
pub use ids::{
    AttachmentId, CaseId, CategoryId, DepartmentId, ExtensionId, GridId, IdError, InterviewId,
    LedgerEntryId, LetterId, MeetingId, ReportId, RequestId, UploadId, UserId,
};
pub use location::{CoordinateSystem, GeoPoint, LocationError};
pub use risk::RiskGrade;
pub use time::Timestamp;
pub use user::{
    Binding, BindingError, DepartmentType, DisplayName, Password, Role, UserFieldError, Username,
};
