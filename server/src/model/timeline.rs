//! The case timeline: events as appended and as stored, and where an event sits in commit order.

use gridwhistle_domain::{AttachmentId, DepartmentId, EventKind, ReportId, Timestamp, UserId};

/// A timeline entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    /// `None` for the system.
    pub actor: Option<UserId>,
    pub department: Option<DepartmentId>,
    pub text: String,
    pub attachments: Vec<AttachmentId>,
}

/// Where an event sits in commit order: the writing transaction (PostgreSQL; 0 on SQLite), then the row id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventPosition {
    pub txid: i64,
    pub id: i64,
}

/// A stored timeline entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub position: EventPosition,
    pub report: ReportId,
    pub sequence: i64,
    pub author: UserId,
    pub kind: EventKind,
    pub actor: Option<UserId>,
    pub department: Option<DepartmentId>,
    pub at: Timestamp,
    pub text: String,
    pub attachments: Vec<AttachmentId>,
}

/// Whose events a stream follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// Every event of the author's reports.
    Author(UserId),
    /// Every event of the cases the department is summoned to.
    Department(DepartmentId),
    /// Every event of one kind, on every case.
    Kind(EventKind),
}
