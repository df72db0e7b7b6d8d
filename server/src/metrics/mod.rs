//! The replica's Prometheus metrics: one registry per server (so servers in one test process never mix their figures), the families the API, the deadline engine, the push sender, routing and the business gauges write to, and the HTTP listener that serves them with liveness and readiness (`listener`).
//!
//! Counters and histograms are written where things happen (the access layer, the engine's passes, the push gateways, the loop's report-ins); the gauges read from the database are refreshed on a period by one task (`gauges`), so a scrape never waits on the database and answers while it is down.

pub mod gauges;
pub mod listener;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use prost::Message as _;

/// An RPC's method (its full path), the label of the per-RPC families.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub method: String,
}

/// An RPC's method and the gRPC code it ended with.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub method: String,
    pub code: String,
}

/// A push channel and what became of one attempt on it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushLabels {
    pub channel: String,
    pub outcome: String,
}

/// A department and the stage its open shares are at (`summoned`, `reported_in`, `contacted`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShareLabels {
    pub department: String,
    pub stage: String,
}

/// What the outbox backlog counts: notifications not yet expanded into deliveries, or deliveries queued for an attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BacklogLabels {
    pub queue: String,
}

/// The database pool's connections by state (`idle`, `in_use`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub state: String,
}

/// Makes the histograms of a family, each with the same buckets.
#[derive(Debug, Clone, Copy)]
pub struct Buckets {
    start: f64,
    factor: f64,
    count: u16,
}

impl Buckets {
    /// Call durations: 1 ms to about 33 s.
    const CALLS: Self = Self {
        start: 0.001,
        factor: 2.0,
        count: 16,
    };

    fn histogram(self) -> Histogram {
        Histogram::new(exponential_buckets(self.start, self.factor, self.count))
    }
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        self.histogram()
    }
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The label of a call to a path the server does not serve: clients cannot grow the families with made-up paths.
const OTHER_METHOD: &str = "other";

/// Every RPC path the server serves (`/package.Service/Method`), read from the descriptor sets it registers for reflection.
fn served_methods() -> HashSet<String> {
    let sets = [
        gridwhistle_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut methods = HashSet::new();
    for set in sets {
        // The sets are compiled in; one that does not decode leaves its calls labelled "other".
        let Ok(set) = prost_types::FileDescriptorSet::decode(set) else {
            continue;
        };
        for file in set.file {
            for service in &file.service {
                for method in &service.method {
                    methods.insert(format!(
                        "/{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
    }
    methods
}

/// A gRPC code as the specification spells it (`NOT_FOUND`), the `code` label's value.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Every family this replica exports; cheap to share (`Arc`).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// The paths counted under their own name.
    methods: HashSet<String>,
    pub rpc_requests: Family<CallLabels, Counter>,
    pub rpc_duration: Family<MethodLabels, Histogram, Buckets>,
    pub pool_connections: Family<PoolLabels, Gauge>,
    pub pool_max: Gauge,
    pub database_up: Gauge,
    pub serving: Gauge,
    pub deadline_window: Gauge,
    pub deadline_firings: Counter,
    pub deadline_stale: Counter,
    pub deadline_lateness: Histogram,
    pub deadline_passes_failed: Counter,
    pub outbox_backlog: Family<BacklogLabels, Gauge>,
    pub push_dead_letters: Gauge,
    pub push_outcomes: Family<PushLabels, Counter>,
    pub routing_generation: Gauge,
    pub routing_build: FloatGauge,
    pub open_shares: Family<ShareLabels, Gauge>,
    pub overdue_shares: Family<ShareLabels, Gauge>,
    pub report_in: Histogram,
    pub gauges_refreshed: FloatGauge,
    pub gauges_failures: Counter,
}

impl Metrics {
    /// A registry with every family, `build_info` carrying this build's version.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let version = Info::new(vec![(
            "version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        )]);
        registry.register(
            "gridwhistle_build",
            "The build serving: its version",
            version,
        );
        let mut metrics = Self {
            rpc_requests: Family::default(),
            rpc_duration: Family::new_with_constructor(Buckets::CALLS),
            pool_connections: Family::default(),
            pool_max: Gauge::default(),
            database_up: Gauge::default(),
            serving: Gauge::default(),
            deadline_window: Gauge::default(),
            deadline_firings: Counter::default(),
            deadline_stale: Counter::default(),
            // A firing is on time within milliseconds; a replica that was down fires hours late.
            deadline_lateness: Histogram::new(exponential_buckets(0.001, 4.0, 12)),
            deadline_passes_failed: Counter::default(),
            outbox_backlog: Family::default(),
            push_dead_letters: Gauge::default(),
            push_outcomes: Family::default(),
            routing_generation: Gauge::default(),
            routing_build: FloatGauge::default(),
            open_shares: Family::default(),
            overdue_shares: Family::default(),
            // Report-in limits run from minutes (urgent) to days: 1 minute to about 11 days.
            report_in: Histogram::new(exponential_buckets(60.0, 2.0, 15)),
            gauges_refreshed: FloatGauge::default(),
            gauges_failures: Counter::default(),
            registry,
            methods: served_methods(),
        };
        metrics.register();
        Arc::new(metrics)
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "gridwhistle_rpc_requests",
            "RPCs ended, by method and gRPC code",
            self.rpc_requests.clone(),
        );
        r.register(
            "gridwhistle_rpc_duration_seconds",
            "RPC durations until the response ended, by method",
            self.rpc_duration.clone(),
        );
        r.register(
            "gridwhistle_db_pool_connections",
            "Database pool connections, by state",
            self.pool_connections.clone(),
        );
        r.register(
            "gridwhistle_db_pool_max_connections",
            "The database pool's size limit",
            self.pool_max.clone(),
        );
        r.register(
            "gridwhistle_database_up",
            "1 while the database answers the health check",
            self.database_up.clone(),
        );
        r.register(
            "gridwhistle_serving",
            "1 while the replica takes calls: the database answers and it is not draining",
            self.serving.clone(),
        );
        r.register(
            "gridwhistle_deadline_window_pending",
            "Firings the deadline engine holds in its window, after its last pass",
            self.deadline_window.clone(),
        );
        r.register(
            "gridwhistle_deadline_firings",
            "Deadline firings (reminders and escalation rungs) committed by this replica",
            self.deadline_firings.clone(),
        );
        r.register(
            "gridwhistle_deadline_stale",
            "Firings found met, cancelled or fired elsewhere when their turn came",
            self.deadline_stale.clone(),
        );
        r.register(
            "gridwhistle_deadline_lateness_seconds",
            "How late a firing committed against its scheduled time",
            self.deadline_lateness.clone(),
        );
        r.register(
            "gridwhistle_deadline_pass_failures",
            "Deadline engine passes that failed (the database refused); each is retried",
            self.deadline_passes_failed.clone(),
        );
        self.register_outbox_and_business();
    }

    fn register_outbox_and_business(&mut self) {
        let r = &mut self.registry;
        r.register(
            "gridwhistle_outbox_backlog",
            "Notifications waiting to be pushed (queue=notifications) and deliveries queued for an attempt (queue=deliveries)",
            self.outbox_backlog.clone(),
        );
        r.register(
            "gridwhistle_push_dead_letters",
            "Push deliveries given up on, kept for supervisors",
            self.push_dead_letters.clone(),
        );
        r.register(
            "gridwhistle_push_outcomes",
            "Push attempts by channel and outcome (delivered, unregistered, rejected, retry)",
            self.push_outcomes.clone(),
        );
        r.register(
            "gridwhistle_routing_generation",
            "The boundary generation the routing table in force was built from",
            self.routing_generation.clone(),
        );
        r.register(
            "gridwhistle_routing_build_seconds",
            "How long the last routing table build took",
            self.routing_build.clone(),
        );
        r.register(
            "gridwhistle_open_assignments",
            "Open department shares of cases, by department and stage",
            self.open_shares.clone(),
        );
        r.register(
            "gridwhistle_overdue_assignments",
            "Open department shares past their due time, by department and stage",
            self.overdue_shares.clone(),
        );
        r.register(
            "gridwhistle_report_in_seconds",
            "Wall time from a department's summons to its report-in (报到)",
            self.report_in.clone(),
        );
        r.register(
            "gridwhistle_gauges_refreshed_timestamp_seconds",
            "When the gauges read from the database were last refreshed (Unix time)",
            self.gauges_refreshed.clone(),
        );
        r.register(
            "gridwhistle_gauges_refresh_failures",
            "Refreshes of the database gauges that failed",
            self.gauges_failures.clone(),
        );
    }

    /// Counts one RPC that ended with `code` after `duration`.
    pub fn rpc(&self, method: &str, code: tonic::Code, duration: Duration) {
        let method = if self.methods.contains(method) {
            method
        } else {
            OTHER_METHOD
        };
        self.rpc_requests
            .get_or_create(&CallLabels {
                method: method.to_owned(),
                code: code_name(code).to_owned(),
            })
            .inc();
        self.rpc_duration
            .get_or_create(&MethodLabels {
                method: method.to_owned(),
            })
            .observe(duration.as_secs_f64());
    }

    /// Counts one deadline engine pass (`None`: it failed) and records what the engine holds after it.
    pub fn engine_pass(&self, pass: Option<(&gridwhistle_dispatcher::engine::Pass, usize)>) {
        let Some((pass, held)) = pass else {
            self.deadline_passes_failed.inc();
            return;
        };
        self.deadline_firings.inc_by(pass.fired);
        self.deadline_stale.inc_by(pass.stale);
        for late in &pass.lateness {
            self.deadline_lateness.observe(late.as_secs_f64());
        }
        self.deadline_window
            .set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    /// The registry in Prometheus' text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}
