//! The audit of parties' personal data shown unmasked, as stored (`storage::reveals`) and listed to admins.

use gridwhistle_domain::{Timestamp, UserId};

/// One answer that showed `subject`'s parties to `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReveal {
    pub user: UserId,
    /// `cases/{case}`, `reports/{report}` (not whistled) or `ledgerEntries/{entry}`.
    pub subject: String,
    /// The gRPC method that answered.
    pub method: String,
    pub request_id: String,
    pub at: Timestamp,
}

/// A stored reveal: its time-ordered id, and what was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealRecord {
    pub id: String,
    pub reveal: NewReveal,
}

/// Which reveals a listing shows; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevealFilter {
    pub user: Option<UserId>,
    pub subject: Option<String>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub before: Option<Timestamp>,
}
