//! Devices and the in-app inbox as a service: a caller registers and removes their own devices, and reads and marks their own inbox, whose scope their binding decides.

use std::sync::Arc;

use gridwhistle_dispatcher::Clock;
use gridwhistle_domain::{Actor, Binding, Timestamp, UserId};

use crate::feed::EventFeed;
use crate::storage::{
    DeviceRecord, InboxEntry, InboxPosition, InboxScope, NewDevice, StorageError, Store,
};

/// The caller's devices and inbox; every call acts on the caller alone.
#[derive(Debug, Clone)]
pub struct Notifications {
    store: Store,
    feed: EventFeed,
    clock: Arc<dyn Clock>,
}

/// Whose inbox the caller reads: the audience of their role and unit.
pub fn inbox_scope(actor: &Actor) -> InboxScope {
    match &actor.binding {
        Binding::GridWorker(_) => InboxScope::Reporter(actor.user_id),
        Binding::DutyOfficer(d) => InboxScope::DutyOfficers(d.clone()),
        Binding::DepartmentHead(d) => InboxScope::DepartmentHead(d.clone()),
        Binding::Supervisor => InboxScope::Supervisors,
        Binding::DistrictLeader => InboxScope::Leader(actor.user_id),
        // Nothing addresses admins.
        Binding::Admin => InboxScope::Nobody,
    }
}

impl Notifications {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            feed: EventFeed::new(store.clone()),
            store,
            clock,
        }
    }

    /// Registers or refreshes the caller's device (idempotent on its id).
    pub async fn register_device(
        &self,
        user: &UserId,
        device: NewDevice,
    ) -> Result<DeviceRecord, StorageError> {
        self.store
            .devices()
            .register(user, device, self.clock.now())
            .await
    }

    /// Removes the caller's device; another user's is `NotFound`, like a missing one.
    pub async fn unregister_device(&self, user: &UserId, id: &str) -> Result<(), StorageError> {
        self.store.devices().unregister(user, id).await
    }

    /// The newest entries of the caller's inbox, older than `before` when given, and how many are unread in all.
    pub async fn inbox(
        &self,
        actor: &Actor,
        unread_only: bool,
        before: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<InboxEntry>, u64), StorageError> {
        self.store
            .devices()
            .inbox(
                &actor.user_id,
                &inbox_scope(actor),
                unread_only,
                before,
                limit,
            )
            .await
    }

    /// Marks read the caller's entries named in `ids` and, with `all_before`, every one created before it; answers how many were newly marked.
    pub async fn mark_read(
        &self,
        actor: &Actor,
        ids: Vec<String>,
        all_before: Option<Timestamp>,
    ) -> Result<u64, StorageError> {
        self.store
            .devices()
            .mark_read(
                &actor.user_id,
                &inbox_scope(actor),
                ids,
                all_before,
                self.clock.now(),
            )
            .await
    }

    /// Where a notification stream that starts now begins: after every notification of the horizon's event.
    pub async fn horizon(&self) -> Result<InboxPosition, StorageError> {
        Ok(InboxPosition {
            event: self.feed.horizon().await?,
            // "From now" means nothing already committed.
            id: "~".to_owned(),
        })
    }

    /// The feed the caller's notification stream reads, with the caller's scope.
    pub fn feed_for(&self, actor: &Actor) -> (EventFeed, InboxScope) {
        (self.feed.clone(), inbox_scope(actor))
    }
}
