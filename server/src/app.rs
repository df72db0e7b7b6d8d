//! Builds the server and runs it on a pre-bound listener until the shutdown future completes, then drains for a bounded time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gridwhistle_dispatcher::Clock;
use gridwhistle_proto::v1::admin_service_server::AdminServiceServer;
use gridwhistle_proto::v1::attachment_service_server::AttachmentServiceServer;
use gridwhistle_proto::v1::auth_service_server::AuthServiceServer;
use gridwhistle_proto::v1::case_service_server::CaseServiceServer;
use gridwhistle_proto::v1::device_service_server::DeviceServiceServer;
use gridwhistle_proto::v1::directory_service_server::DirectoryServiceServer;
use gridwhistle_proto::v1::ledger_service_server::LedgerServiceServer;
use gridwhistle_proto::v1::report_service_server::ReportServiceServer;
use gridwhistle_proto::v1::supervision_service_server::SupervisionServiceServer;
use http::{HeaderName, HeaderValue, Method};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::{Span, info, info_span, warn};

use crate::api::{
    AdminApi, AttachmentApi, AuthApi, CaseApi, DeviceApi, DirectoryApi, LedgerApi, ReportApi,
    SupervisionApi,
};
use crate::auth::revocations::Revocations;
use crate::auth::tokens::{decode_signing_secret, generate_signing_secret};
use crate::auth::{AuthError, Authenticator, RequireAuth, TokenError, TokenSigner};
use crate::closed_loop::LoopService;
use crate::config::ServerConfig;
use crate::deadline_engine::EngineStore;
use crate::directory::Directory;
use crate::health::Health;
use crate::ledger::LedgerService;
use crate::notifications::Notifications;
use crate::push::OutboxDb;
use crate::routing::{Routing, RoutingServiceError};
use crate::stats::StatsService;
use crate::storage::{StorageError, Store};
use crate::time_limits::TimeLimits;
use crate::uploads::UploadService;
use gridwhistle_dispatcher::engine::Engine;
use gridwhistle_dispatcher::push::Sender;

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
}

/// How far ahead the deadline engine holds firings in memory.
const ENGINE_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// Most deadline rows one engine load reads.
const ENGINE_BATCH: usize = 10_000;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

fn cors_layer(origins: &[String]) -> Result<CorsLayer, ServeError> {
    let allow_origin = if origins.is_empty() {
        // Tokens travel in the authorization header, never in cookies, so any origin is safe by default.
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| ServeError::CorsOrigin(o.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            HeaderName::from_static("authorization"),
            HeaderName::from_static("content-type"),
            HeaderName::from_static("x-grpc-web"),
            HeaderName::from_static("x-user-agent"),
            HeaderName::from_static("grpc-timeout"),
            REQUEST_ID,
        ])
        .expose_headers([
            HeaderName::from_static("grpc-status"),
            HeaderName::from_static("grpc-message"),
            HeaderName::from_static("grpc-status-details-bin"),
            REQUEST_ID,
        ])
        .max_age(Duration::from_secs(24 * 3600)))
}

fn request_span(request: &http::Request<tonic::body::Body>) -> Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // The authentication interceptor records the caller's user id.
    info_span!(
        "rpc",
        method = %request.uri().path(),
        request_id = %request_id,
        user = tracing::field::Empty
    )
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
}

/// The one shutdown signal: every background task and every watch stream stops when it turns true.
type Stopping = watch::Receiver<bool>;

/// Completes when `stopping` turns true (or its sender is gone).
async fn stopped(mut stopping: Stopping) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Runs Gridwhistle on `listener` until `shutdown` completes: builds the shared parts, starts the background tasks, serves, and on shutdown stops every task with one signal and drains for a bounded time.
pub async fn run(
    config: ServerConfig,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let parts = build(&config, clock).await?;
    let (stop, stopping) = watch::channel(false);
    let tasks = start_tasks(&config, &parts, &stopping)?;
    let apis = apis(&config, &parts, stopping)?;
    serve(&config, &parts, apis, listener, shutdown, stop, tasks).await?;
    parts.store.close().await?;
    info!("stopped");
    Ok(())
}

/// Opens storage and builds what every replica shares: authentication, routing, time limits and the loop service.
async fn build(config: &ServerConfig, clock: Arc<dyn Clock>) -> Result<Parts, ServeError> {
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
    let service = Arc::new(LoopService::new(
        store.clone(),
        routing.clone(),
        time_limits.clone(),
        deadline_wake.clone(),
        clock.clone(),
        config.closed_loop,
    ));
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
        tasks.push(Task::spawn(async move {
            engine.run(stopped(stopping)).await;
        }));
    }
    tasks.extend(sender(config, parts, stopping.clone())?);
    Ok(tasks)
}

/// Takes up other replicas' imports, policies and revocations, retries a rebuild that failed after an import committed, and warns while next year's calendar is provisional.
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
    Task::spawn(async move {
        tokio::select! {
            () = routing.keep_fresh(period, stopped(stopping)) => {}
            () = time_limits.keep_fresh(period) => {}
            () = time_limits.keep_warning() => {}
            () = revoked => {}
        }
    })
}

/// The push sender, when a channel is configured and this replica sends; it wakes on every commit of this process.
fn sender(
    config: &ServerConfig,
    parts: &Parts,
    stopping: Stopping,
) -> Result<Option<Task>, ServeError> {
    let gateways = crate::push::gateways(&config.push, parts.clock.clone())?;
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

/// The APIs, with their message-size limits; watch streams end on `stopping`.
struct Apis {
    auth: AuthServiceServer<AuthApi>,
    admin: AdminServiceServer<AdminApi>,
    devices: DeviceServiceServer<DeviceApi>,
    reports: ReportServiceServer<ReportApi>,
    cases: CaseServiceServer<CaseApi>,
    supervision: SupervisionServiceServer<SupervisionApi>,
    directory: DirectoryServiceServer<DirectoryApi>,
    attachments: AttachmentServiceServer<AttachmentApi>,
    ledger: LedgerServiceServer<LedgerApi>,
}

fn apis(config: &ServerConfig, parts: &Parts, stopping: Stopping) -> Result<Apis, ServeError> {
    let limit = config.max_message_bytes;
    let blobs: Arc<dyn crate::attachments::BlobStore> = Arc::new(
        crate::attachments::FsBlobStore::new(config.attachment_dir.clone())
            .map_err(ServeError::Attachments)?,
    );
    let uploads = UploadService::new(
        parts.store.clone(),
        blobs.clone(),
        config.max_attachment_bytes,
    );
    let service = &parts.service;
    let directory = Directory::new(
        parts.store.clone(),
        parts.clock.clone(),
        parts.revocations.clone(),
    );
    Ok(Apis {
        auth: AuthServiceServer::new(AuthApi::new(
            parts.authenticator.clone(),
            parts.time_limits.clone(),
        ))
        .max_decoding_message_size(limit),
        admin: AdminServiceServer::new(AdminApi::new(
            directory.clone(),
            parts.routing.clone(),
            parts.time_limits.clone(),
            parts.stats.clone(),
        ))
        .max_decoding_message_size(config.max_import_bytes),
        devices: DeviceServiceServer::new(DeviceApi::new(
            Notifications::new(parts.store.clone(), parts.clock.clone()),
            stopping.clone(),
        ))
        .max_decoding_message_size(limit),
        reports: ReportServiceServer::new(ReportApi::new(
            parts.routing.clone(),
            service.clone(),
            uploads,
            stopping.clone(),
        ))
        .max_decoding_message_size(limit),
        cases: CaseServiceServer::new(CaseApi::new(service.clone(), stopping.clone()))
            .max_decoding_message_size(limit),
        supervision: SupervisionServiceServer::new(SupervisionApi::new(
            service.clone(),
            parts.stats.clone(),
            stopping,
        ))
        .max_decoding_message_size(limit),
        directory: DirectoryServiceServer::new(DirectoryApi::new(directory, parts.routing.clone()))
            .max_decoding_message_size(limit),
        attachments: AttachmentServiceServer::new(AttachmentApi::new(service.clone(), blobs))
            .max_decoding_message_size(limit),
        ledger: LedgerServiceServer::new(LedgerApi::new(Arc::new(LedgerService::new(
            parts.store.clone(),
            parts.time_limits.clone(),
            parts.clock.clone(),
            service.clone(),
        ))))
        .max_decoding_message_size(limit),
    })
}

/// Server reflection over the contract and the health service.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(gridwhistle_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
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

/// Serves `apis` behind the transport layers, with health and reflection, until `shutdown` completes; then stops the background tasks and streams with one signal and drains for a bounded time.
async fn serve(
    config: &ServerConfig,
    parts: &Parts,
    apis: Apis,
    listener: TcpListener,
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
    let layers = tower::ServiceBuilder::new()
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
        .layer(crate::access::AccessLogLayer);
    let require_auth = parts.require_auth.clone();
    let router = Server::builder()
        .accept_http1(true)
        .layer(layers)
        .add_service(health_service)
        // grpcurl and most tools speak v1; some older clients still ask for v1alpha.
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(apis.auth)
        .add_service(InterceptedService::new(apis.admin, require_auth.clone()))
        .add_service(InterceptedService::new(apis.devices, require_auth.clone()))
        .add_service(InterceptedService::new(apis.reports, require_auth.clone()))
        .add_service(InterceptedService::new(apis.cases, require_auth.clone()))
        .add_service(InterceptedService::new(
            apis.supervision,
            require_auth.clone(),
        ))
        .add_service(InterceptedService::new(
            apis.directory,
            require_auth.clone(),
        ))
        .add_service(InterceptedService::new(
            apis.attachments,
            require_auth.clone(),
        ))
        .add_service(InterceptedService::new(apis.ledger, require_auth));

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
    Ok(())
}
