//! The gauges read from the database and from the replica's parts, refreshed on a period by one task: open and overdue shares by department and stage, the outbox's backlog and dead letters, the pool and the routing table in force. (The health gauges are set as each scrape is taken, by the listener.)

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gridwhistle_dispatcher::Clock;

use super::{BacklogLabels, Metrics, PoolLabels, ShareLabels};
use crate::routing::Routing;
use crate::storage::{GaugeReading, StorageError, Store};

/// Refreshes the gauges of one replica.
#[derive(Debug)]
pub struct GaugeRefresher {
    metrics: Arc<Metrics>,
    store: Store,
    routing: Arc<Routing>,
    clock: Arc<dyn Clock>,
    /// The shares' labels set by the last refresh, so a department and stage with nothing open any more is dropped.
    shown: std::sync::Mutex<HashSet<ShareLabels>>,
}

impl GaugeRefresher {
    pub fn new(
        metrics: Arc<Metrics>,
        store: Store,
        routing: Arc<Routing>,
        clock: Arc<dyn Clock>,
        pool_max: u32,
    ) -> Self {
        metrics.pool_max.set(i64::from(pool_max));
        Self {
            metrics,
            store,
            routing,
            clock,
            shown: std::sync::Mutex::new(HashSet::new()),
        }
    }

    /// Refreshes every gauge, those of the database only when it answers (the others still move while it does not).
    pub async fn refresh(&self) -> Result<(), StorageError> {
        let m = &self.metrics;
        let (in_use, idle) = self.store.gauges().pool();
        for (state, count) in [("in_use", in_use), ("idle", idle)] {
            m.pool_connections
                .get_or_create(&PoolLabels {
                    state: state.to_owned(),
                })
                .set(i64::from(count));
        }
        m.routing_generation.set(self.routing.table().generation());
        m.routing_build.set(self.routing.last_build().as_secs_f64());
        let now = self.clock.now();
        let reading = self.store.gauges().read(now).await?;
        self.show(&reading);
        #[allow(
            clippy::cast_precision_loss,
            reason = "Unix milliseconds are far below 2^52"
        )]
        m.gauges_refreshed.set(now.as_unix_millis() as f64 / 1000.0);
        Ok(())
    }

    fn show(&self, reading: &GaugeReading) {
        let m = &self.metrics;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for (queue, n) in [
            ("notifications", reading.unsent_notifications),
            ("deliveries", reading.queued_deliveries),
        ] {
            m.outbox_backlog
                .get_or_create(&BacklogLabels {
                    queue: queue.to_owned(),
                })
                .set(count(n));
        }
        m.push_dead_letters.set(count(reading.dead_letters));
        let mut now_shown = HashSet::new();
        for share in &reading.shares {
            let labels = ShareLabels {
                department: share.department.clone(),
                stage: share.stage.clone(),
            };
            m.open_shares.get_or_create(&labels).set(share.open);
            m.overdue_shares.get_or_create(&labels).set(share.overdue);
            now_shown.insert(labels);
        }
        let mut shown = self
            .shown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for gone in shown.difference(&now_shown) {
            m.open_shares.remove(gone);
            m.overdue_shares.remove(gone);
        }
        *shown = now_shown;
    }

    /// Refreshes now and then every `period` until dropped; a failed refresh is counted and logged, and the last values stay.
    pub async fn keep_fresh(self, period: Duration) {
        let once = || async {
            if let Err(err) = self.refresh().await {
                self.metrics.gauges_failures.inc();
                tracing::debug!(error = %err, "the database gauges were not refreshed");
            }
        };
        once().await;
        crate::periodic::every(period, once).await;
    }
}
