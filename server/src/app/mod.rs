//! Builds the server and runs it on a pre-bound listener until the shutdown future completes, then drains for a bounded time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gridwhistle_dispatcher::Clock;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::{info, warn};

use crate::auth::revocations::Revocations;
use crate::auth::tokens::{decode_signing_secret, generate_signing_secret};
use crate::auth::{AuthError, Authenticator, RequireAuth, TokenError, TokenSigner};
use crate::closed_loop::LoopService;
use crate::config::ServerConfig;
use crate::deadline_engine::EngineStore;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::metrics::gauges::GaugeRefresher;
use crate::push::OutboxDb;
use crate::routing::{Routing, RoutingServiceError};
use crate::stats::StatsService;
use crate::storage::{StorageError, Store};
use crate::time_limits::TimeLimits;
use gridwhistle_dispatcher::engine::Engine;
use gridwhistle_dispatcher::push::Sender;

mod routes;

use routes::{Apis, REQUEST_ID, apis, cors_layer, grpc_routes, request_span};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("storage failed")]
    Storage(#[from] StorageError),
    #[error("authentication setup failed")]
    Auth(#[from] AuthError),
    #[error("signing key unusable")]
    SigningKey(#[from] TokenError),
    #[error("reflection setup failed")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("transport failed")]
    Transport(#[from] tonic::transport::Error),
    #[error("routing could not load")]
    Routing(#[from] RoutingServiceError),
    #[error("demo data could not load")]
    Demo(#[from] crate::demo::DemoError),
    #[error("the attachment directory is unusable")]
    Attachments(#[source] std::io::Error),
    #[error("bad CORS origin {0:?}")]
    CorsOrigin(String),
    #[error("cannot read the time-limit policies file {0}")]
    TimeLimitsFile(std::path::PathBuf, #[source] std::io::Error),
    #[error("cannot keep this replica's id")]
    ReplicaId(#[source] std::io::Error),
    #[error("time limits could not load")]
    TimeLimits(#[from] crate::time_limits::TimeLimitsError),
    #[error("push delivery could not be set up")]
    Push(#[from] crate::push::PushSetupError),
    #[error("cannot listen for metrics on {0}")]
    MetricsListen(std::net::SocketAddr, #[source] std::io::Error),
}

/// How far ahead the deadline engine holds firings in memory.
const ENGINE_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// Most deadline rows one engine load reads.
const ENGINE_BATCH: usize = 10_000;

/// Opens storage, applies migrations and loads the signing key: the state every replica shares.
pub async fn open_store(config: &ServerConfig) -> Result<Store, ServeError> {
    let store = Store::connect(&config.database_url, config.pool).await?;
    store.migrate().await?;
    Ok(store)
}

async fn token_signer(
    config: &ServerConfig,
    store: &Store,
    clock: Arc<dyn Clock>,
) -> Result<TokenSigner, ServeError> {
    let secret = match &config.jwt_secret {
        Some(secret) => secret.expose().as_bytes().to_vec(),
        None => {
            let stored = store
                .directory()
                .ensure_signing_key("access-token-hs256", generate_signing_secret(), clock.now())
                .await?;
            decode_signing_secret(&stored)?
        }
    };
    Ok(TokenSigner::new(&secret, config.tokens.clone(), clock))
}

/// What every service and background task of a replica shares, built before serving.
struct Parts {
    store: Store,
    clock: Arc<dyn Clock>,
    authenticator: Arc<Authenticator>,
    require_auth: RequireAuth,
    revocations: Arc<Revocations>,
    /// How far back revoked token generations are read: a token's lifetime and its leeway.
    revocation_window: Duration,
    routing: Arc<Routing>,
    time_limits: Arc<TimeLimits>,
    /// This replica's id, for its deadline claims and push leases.
    replica: String,
    /// Notified when a deadline starts or moves in this process.
    deadline_wake: Arc<tokio::sync::Notify>,
    service: Arc<LoopService>,
    stats: Arc<StatsService>,
    metrics: Arc<Metrics>,
}

/// The one shutdown signal: every background task and every watch stream stops when it turns true.
type Stopping = watch::Receiver<bool>;

/// Completes when `stopping` turns true (or its sender is gone).
async fn stopped(mut stopping: Stopping) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// The listeners a replica serves on, bound before it starts: gRPC, and the operations listener (metrics, liveness, readiness) when one runs.
#[derive(Debug)]
pub struct Listeners {
    pub grpc: TcpListener,
    pub ops: Option<TcpListener>,
}

/// Runs Gridwhistle on `listener` (and the operations listener `config` names) until `shutdown` completes; see [`run_on`].
pub async fn run(
    config: ServerConfig,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let ops = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| ServeError::MetricsListen(addr, e))?,
        ),
        None => None,
    };
    let listeners = Listeners {
        grpc: listener,
        ops,
    };
    run_on(config, clock, listeners, shutdown).await
}

/// Runs Gridwhistle on `listeners` until `shutdown` completes: builds the shared parts, starts the background tasks, serves, and on shutdown stops every task with one signal and drains for a bounded time.
pub async fn run_on(
    config: ServerConfig,
    clock: Arc<dyn Clock>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let parts = build(&config, clock).await?;
    let (stop, stopping) = watch::channel(false);
    let tasks = start_tasks(&config, &parts, &stopping)?;
    let apis = apis(&config, &parts, stopping)?;
    serve(&config, &parts, apis, listeners, shutdown, stop, tasks).await?;
    parts.store.close().await?;
    info!("stopped");
    Ok(())
}

/// Opens storage and builds what every replica shares: authentication, routing, time limits and the loop service.
async fn build(config: &ServerConfig, clock: Arc<dyn Clock>) -> Result<Parts, ServeError> {
    if let Some(concurrency) = config.password_hash_concurrency {
        crate::auth::password::configure(concurrency);
    }
    let store = open_store(config).await?;
    let signer = Arc::new(token_signer(config, &store, clock.clone()).await?);
    let authenticator =
        Arc::new(Authenticator::new(store.clone(), signer.clone(), clock.clone()).await?);
    // Access tokens revoked on any replica within a token's lifetime are refused here from the start.
    let revocations = signer.revocations().clone();
    let revocation_window = config.tokens.access_ttl + 2 * config.tokens.leeway;
    revocations
        .refresh(&store, clock.as_ref(), revocation_window)
        .await?;
    let routing =
        Arc::new(Routing::load(store.clone(), clock.clone(), config.near_border_meters).await?);
    if config.demo {
        crate::demo::load_if_empty(&store, &routing, &clock).await?;
    }
    let time_limits_file = match &config.time_limits_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| ServeError::TimeLimitsFile(path.clone(), e))?,
        ),
        None => None,
    };
    let time_limits = Arc::new(
        TimeLimits::load(store.clone(), clock.clone(), time_limits_file.as_deref()).await?,
    );
    let replica = crate::deadline_engine::replica_id(&config.replica_id_file)
        .map_err(ServeError::ReplicaId)?;
    let deadline_wake = Arc::new(tokio::sync::Notify::new());
    let metrics = Metrics::new();
    let service = Arc::new(
        LoopService::new(
            store.clone(),
            routing.clone(),
            time_limits.clone(),
            deadline_wake.clone(),
            clock.clone(),
            config.closed_loop,
        )
        .with_metrics(metrics.clone()),
    );
    let stats = Arc::new(StatsService::new(
        store.clone(),
        time_limits.clone(),
        clock.clone(),
    ));
    // Shares stored before the figures' facts existed are built from their timelines once.
    stats.rebuild_unbuilt().await?;
    Ok(Parts {
        store,
        clock,
        authenticator,
        require_auth: RequireAuth::new(signer),
        revocations,
        revocation_window,
        routing,
        time_limits,
        replica,
        deadline_wake,
        service,
        stats,
        metrics,
    })
}

/// A background task: aborted if dropped, awaited to its end on shutdown.
struct Task(tokio::task::JoinHandle<()>);

impl Task {
    fn spawn(work: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(work))
    }

    /// Waits for the task to end after the shutdown signal.
    async fn finish(mut self) {
        let _ = (&mut self.0).await;
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the background tasks, each stopping on `stopping`: the refreshers, the deadline engine and the push sender (each when configured).
fn start_tasks(
    config: &ServerConfig,
    parts: &Parts,
    stopping: &Stopping,
) -> Result<Vec<Task>, ServeError> {
    let mut tasks = vec![refresher(config, parts, stopping.clone())];
    if config.deadline_engine {
        let engine = Engine::new(
            EngineStore::new(
                parts.store.clone(),
                parts.time_limits.clone(),
                parts.replica.clone(),
            ),
            parts.clock.clone(),
            ENGINE_WINDOW,
            ENGINE_BATCH,
            parts.deadline_wake.clone(),
        );
        let stopping = stopping.clone();
        let metrics = parts.metrics.clone();
        tasks.push(Task::spawn(async move {
            engine
                .run_observed(stopped(stopping), |pass| metrics.engine_pass(pass))
                .await;
        }));
    }
    tasks.extend(sender(config, parts, stopping.clone())?);
    Ok(tasks)
}

/// Takes up other replicas' imports, policies and revocations, retries a rebuild that failed after an import committed, warns while next year's calendar is provisional, forgets quiet failed-login counts, and deletes reveals past their keeping time.
fn refresher(config: &ServerConfig, parts: &Parts, stopping: Stopping) -> Task {
    let routing = parts.routing.clone();
    let time_limits = parts.time_limits.clone();
    let period = config.routing_refresh;
    let revoked = parts.revocations.clone().keep_fresh(
        parts.store.clone(),
        parts.clock.clone(),
        parts.revocation_window,
        config.revocation_refresh,
    );
    let throttles = parts.authenticator.clone().keep_throttles_pruned();
    let reveals =
        crate::reveals::RevealAudit::new(parts.store.clone(), parts.clock.clone()).keep_pruned();
    Task::spawn(async move {
        tokio::select! {
            () = routing.keep_fresh(period, stopped(stopping)) => {}
            () = time_limits.keep_fresh(period) => {}
            () = time_limits.keep_warning() => {}
            () = revoked => {}
            () = throttles => {}
            () = reveals => {}
        }
    })
}

/// The push sender, when a channel is configured and this replica sends; it wakes on every commit of this process.
fn sender(
    config: &ServerConfig,
    parts: &Parts,
    stopping: Stopping,
) -> Result<Option<Task>, ServeError> {
    let gateways = crate::push::Metered::all(
        crate::push::gateways(&config.push, parts.clock.clone())?,
        &parts.metrics,
    );
    if gateways.is_empty() {
        info!(
            "no push channel configured (--fcm-credentials): notifications reach the in-app inbox only"
        );
        return Ok(None);
    }
    let channels: Vec<_> = gateways.iter().map(|g| g.channel().as_str()).collect();
    info!(
        ?channels,
        sender = config.push.sender,
        "push channels configured"
    );
    if !config.push.sender {
        return Ok(None);
    }
    let wake = Arc::new(tokio::sync::Notify::new());
    let sender = Sender::new(
        OutboxDb::new(parts.store.clone(), parts.replica.clone()),
        gateways,
        parts.clock.clone(),
        config.push.sender_config,
        wake.clone(),
    );
    let mut commits = parts.store.timeline().subscribe_commits();
    Ok(Some(Task::spawn(async move {
        // Every commit may have queued notifications; the sender's own idle passes write nothing, so this does not feed itself.
        let waker = async {
            while commits.changed().await.is_ok() {
                wake.notify_one();
            }
        };
        tokio::select! {
            () = sender.run(stopped(stopping)) => {}
            () = waker => {}
        }
    })))
}

/// What shutdown does before the drain: the replica stops serving in the health service (a load balancer sends nothing more, whatever the database does), and the background tasks and watch streams end.
async fn wind_down(health: &Health, following: Task, stop: &watch::Sender<bool>, tasks: Vec<Task>) {
    health.drain().await;
    drop(following);
    // Watch streams never end on their own; the signal ends them too, so the drain can finish.
    let _ = stop.send(true);
    for task in tasks {
        task.finish().await;
    }
}

/// The operations side of a replica, running while it serves: the database gauges' refresher and, when bound, the operations listener.
fn ops_tasks(
    config: &ServerConfig,
    parts: &Parts,
    health: &Health,
    listener: Option<TcpListener>,
) -> Vec<Task> {
    let refresher = GaugeRefresher::new(
        parts.metrics.clone(),
        parts.store.clone(),
        parts.routing.clone(),
        parts.clock.clone(),
        config.pool.max_connections,
    );
    let mut tasks = vec![Task::spawn(refresher.keep_fresh(config.metrics_refresh))];
    if let Some(listener) = listener {
        if let Ok(addr) = listener.local_addr() {
            info!(operations = %addr, "operations listener: /metrics, /livez, /readyz");
        }
        let (metrics, health) = (parts.metrics.clone(), health.clone());
        tasks.push(Task::spawn(async move {
            if let Err(err) = crate::metrics::listener::serve(listener, metrics, health).await {
                warn!(error = %err, "the operations listener stopped");
            }
        }));
    }
    tasks
}

/// Serves `apis` behind the transport layers, with health and reflection, until `shutdown` completes; then stops the background tasks and streams with one signal and drains for a bounded time.
async fn serve(
    config: &ServerConfig,
    parts: &Parts,
    apis: Apis,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
    stop: watch::Sender<bool>,
    tasks: Vec<Task>,
) -> Result<(), ServeError> {
    let (health, health_service) = Health::start().await;
    let following = Task::spawn(
        health
            .clone()
            .follow_database(parts.store.clone(), config.health_check),
    );
    let ops = ops_tasks(config, parts, &health, listeners.ops);
    let layers = tower::ServiceBuilder::new()
        // Outermost: the console's files are plain HTTP, not calls.
        .layer(crate::console::ConsoleLayer)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // The access line (`access`) replaces the tracing layer's own lines, which log every non-OK code as an error.
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(request_span)
                .on_response(())
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(cors_layer(&config.cors_allowed_origins)?)
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(crate::access::AccessLogLayer::new(parts.metrics.clone()))
        .layer(crate::shed::ShedLayer::new(config.max_concurrent_rpcs))
        // Innermost, so the access line and the metrics count an answer withheld for want of its audit as what it became.
        .layer(crate::reveals::RevealAuditLayer::new(
            parts.store.clone(),
            parts.clock.clone(),
        ));
    let router = Server::builder()
        .accept_http1(true)
        .layer(layers)
        .add_routes(grpc_routes(parts, apis, health_service)?);
    let listener = listeners.grpc;
    let local_addr = listener.local_addr().ok();
    let (stop_serving, serving_stopped) = tokio::sync::oneshot::channel::<()>();
    // Without TCP_NODELAY a response written in two parts waits for the client's delayed ACK (40 ms on Linux).
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = router.serve_with_incoming_shutdown(incoming, async {
        let _ = serving_stopped.await;
    });
    tokio::pin!(server);
    if let Some(addr) = local_addr {
        info!(%addr, backend = ?parts.store.backend(), "gridwhistle listening");
    }
    tokio::select! {
        result = &mut server => return result.map_err(ServeError::from),
        () = shutdown => {}
    }
    wind_down(&health, following, &stop, tasks).await;
    info!(drain_timeout = ?config.drain_timeout, "shutting down");
    let _ = stop_serving.send(());
    match tokio::time::timeout(config.drain_timeout, &mut server).await {
        Ok(result) => result?,
        Err(_) => warn!("drain timed out; dropping the calls still running"),
    }
    // Readiness answers 503 until the drain ends; the operations listener goes with the process.
    drop(ops);
    Ok(())
}
