//! The event feed as a service: what resumable streams read, in commit order, and what wakes them.
//!
//! Streams (a grid worker's reports, a department's inbox, escalations, notifications) read through this handle, never the store itself; authorisation happens before a stream starts, by the service that owns the objects.

use crate::model::{
    EscalationRecord, EventFilter, EventPosition, EventRecord, ReportKey, ReportRecord,
};
use crate::storage::{InboxEntry, InboxPosition, InboxScope, StorageError, Store};

/// Reads the event log and the inbox after a position; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventFeed {
    store: Store,
}

impl EventFeed {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Where a stream that starts now begins.
    pub async fn horizon(&self) -> Result<EventPosition, StorageError> {
        self.store.timeline().horizon().await
    }

    /// Events matching `filter` after `after`, in commit order, at most `limit`.
    pub async fn events_after(
        &self,
        filter: &EventFilter,
        after: EventPosition,
        limit: u64,
    ) -> Result<Vec<EventRecord>, StorageError> {
        self.store.timeline().after(filter, after, limit).await
    }

    /// Entries of `scope`'s inbox after `after`, in commit order, at most `limit`.
    pub async fn inbox_after(
        &self,
        scope: &InboxScope,
        after: &InboxPosition,
        limit: u64,
    ) -> Result<Vec<InboxEntry>, StorageError> {
        self.store.devices().inbox_after(scope, after, limit).await
    }

    /// The report an event belongs to, as it stands now.
    pub async fn report(&self, key: ReportKey) -> Result<ReportRecord, StorageError> {
        self.store.reports().get(key).await
    }

    /// The escalation event `sequence` of `report` recorded, if it was one.
    pub async fn escalation_of(
        &self,
        report: &gridwhistle_domain::ReportId,
        sequence: i64,
    ) -> Result<Option<EscalationRecord>, StorageError> {
        self.store.outbox().escalation_of(report, sequence).await
    }

    /// Ticks after every committed write of this process.
    pub fn subscribe_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store.timeline().subscribe_commits()
    }
}
