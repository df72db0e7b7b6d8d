//! The replica's health as the gRPC health service tells it: the overall status ("") and every service of the contract are SERVING while the database answers, NOT_SERVING within seconds of it failing and SERVING again once it recovers, and NOT_SERVING for good as soon as shutdown starts, so a load balancer stops sending calls while the replica drains.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

use crate::storage::Store;

/// The health service's statuses, set from what the replica sees; cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    reporter: HealthReporter,
    /// Whether the last check found the database answering.
    database_up: Arc<AtomicBool>,
    /// Set once shutdown starts; nothing serves after it.
    draining: Arc<AtomicBool>,
}

impl Health {
    /// A health service whose statuses start SERVING (the database answered at start-up), with the reporter that sets them.
    pub async fn start() -> (
        Self,
        tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    ) {
        let (reporter, service) = tonic_health::server::health_reporter();
        let health = Self {
            reporter,
            database_up: Arc::new(AtomicBool::new(true)),
            draining: Arc::new(AtomicBool::new(false)),
        };
        health.publish().await;
        (health, service)
    }

    /// Whether the replica takes calls: the database answers and shutdown has not started.
    pub fn serving(&self) -> bool {
        self.database_up.load(Ordering::SeqCst) && !self.draining.load(Ordering::SeqCst)
    }

    /// Whether the last check found the database answering.
    pub fn database_up(&self) -> bool {
        self.database_up.load(Ordering::SeqCst)
    }

    /// Sets the overall status and every service's to what the replica is now.
    async fn publish(&self) {
        let status = if self.serving() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
        for name in gridwhistle_proto::SERVICE_NAMES {
            self.reporter.set_service_status(*name, status).await;
        }
    }

    /// Marks the replica as draining: NOT_SERVING from now on, whatever the database does.
    pub async fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.publish().await;
    }

    /// Records one check of the database (`up`): a change is published and logged.
    pub async fn database(&self, up: bool) {
        if self.database_up.swap(up, Ordering::SeqCst) == up {
            return;
        }
        if up {
            info!("the database answers again: serving");
        } else {
            warn!("the database does not answer: not serving");
        }
        self.publish().await;
    }

    /// Pings the database every `period`, each ping given `period` to answer, and publishes what it finds; runs until dropped.
    pub async fn follow_database(self, store: Store, period: Duration) {
        crate::periodic::every(period, || async {
            let up = matches!(tokio::time::timeout(period, store.ping()).await, Ok(Ok(())));
            self.database(up).await;
        })
        .await;
    }
}
