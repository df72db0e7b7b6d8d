//! Push delivery as the server runs it: the outbox's storage side for the dispatcher's [`Sender`](gridwhistle_dispatcher::push::Sender), and the channels configured (FCM today).

pub mod fcm;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gridwhistle_dispatcher::Clock;
use gridwhistle_dispatcher::push::{
    BoxFuture, Channel, Delivery, OutboxStore, PushGateway, SendOutcome, SenderConfig, Settlement,
};
use gridwhistle_domain::Timestamp;

use crate::storage::{StorageError, Store};
use fcm::{FcmClient, FcmSettings, FcmSetupError, ServiceAccount};

/// How pushes leave this server.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// A Firebase service-account key; none runs with the inbox only.
    pub fcm_credentials: Option<PathBuf>,
    pub fcm_base_url: String,
    pub fcm_token_url: Option<String>,
    /// Sends in flight at once per channel.
    pub concurrency: usize,
    pub timeout: Duration,
    /// Whether this process runs the sender.
    pub sender: bool,
    pub sender_config: SenderConfig,
}

/// Why push delivery could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PushSetupError {
    #[error("cannot read the FCM service-account key {0}")]
    ReadKey(PathBuf, #[source] std::io::Error),
    #[error(transparent)]
    Fcm(#[from] FcmSetupError),
}

/// The gateways `settings` configure: FCM when a key is given, none otherwise (the inbox alone).
pub fn gateways(
    settings: &PushSettings,
    clock: Arc<dyn Clock>,
) -> Result<Vec<Arc<dyn PushGateway>>, PushSetupError> {
    let mut gateways: Vec<Arc<dyn PushGateway>> = Vec::new();
    if let Some(path) = &settings.fcm_credentials {
        let text =
            std::fs::read_to_string(path).map_err(|e| PushSetupError::ReadKey(path.clone(), e))?;
        let account = ServiceAccount::from_json(&text)?;
        gateways.push(Arc::new(FcmClient::new(
            FcmSettings {
                account,
                base_url: settings.fcm_base_url.clone(),
                token_url: settings.fcm_token_url.clone(),
                concurrency: settings.concurrency,
                timeout: settings.timeout,
            },
            clock,
        )?));
    }
    Ok(gateways)
}

/// [`OutboxStore`] over the database; `owner` names this replica's claims.
#[derive(Debug, Clone)]
pub struct OutboxDb {
    store: Store,
    owner: String,
}

impl OutboxDb {
    pub fn new(store: Store, owner: String) -> Self {
        Self { store, owner }
    }
}

impl OutboxStore for OutboxDb {
    type Error = StorageError;

    async fn release_claims(&self) -> Result<(), StorageError> {
        self.store.outbox().release_claims(&self.owner).await
    }

    async fn take(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        stale_before: Timestamp,
        channels: &[Channel],
        limit: usize,
    ) -> Result<Vec<Delivery>, StorageError> {
        self.store
            .outbox()
            .take(&self.owner, now, lease_until, stale_before, channels, limit)
            .await
    }

    async fn settle(
        &self,
        settled: Vec<(Delivery, Settlement)>,
        finished: Vec<String>,
        now: Timestamp,
    ) -> Result<(), StorageError> {
        self.store.outbox().settle(settled, finished, now).await
    }

    async fn next_retry(&self) -> Result<Option<Timestamp>, StorageError> {
        self.store.outbox().next_retry().await
    }
}

/// A gateway that counts each attempt's outcome on its channel in the replica's metrics.
#[derive(Debug)]
pub struct Metered {
    inner: Arc<dyn PushGateway>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Metered {
    /// Wraps each of `gateways`.
    pub fn all(
        gateways: Vec<Arc<dyn PushGateway>>,
        metrics: &Arc<crate::metrics::Metrics>,
    ) -> Vec<Arc<dyn PushGateway>> {
        gateways
            .into_iter()
            .map(|inner| {
                Arc::new(Self {
                    inner,
                    metrics: metrics.clone(),
                }) as Arc<dyn PushGateway>
            })
            .collect()
    }
}

impl PushGateway for Metered {
    fn channel(&self) -> Channel {
        self.inner.channel()
    }

    fn send<'a>(
        &'a self,
        message: &'a gridwhistle_dispatcher::push::PushMessage,
    ) -> BoxFuture<'a, SendOutcome> {
        Box::pin(async move {
            let outcome = self.inner.send(message).await;
            let name = match &outcome {
                SendOutcome::Delivered => "delivered",
                SendOutcome::Unregistered => "unregistered",
                SendOutcome::Rejected { .. } => "rejected",
                SendOutcome::Retry { .. } => "retry",
            };
            self.metrics
                .push_outcomes
                .get_or_create(&crate::metrics::PushLabels {
                    channel: self.channel().as_str().to_owned(),
                    outcome: name.to_owned(),
                })
                .inc();
            outcome
        })
    }
}
