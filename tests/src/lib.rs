//! The test harness: `spawn_app()` starts a real server on a fresh database and hands back typed gRPC clients, and `TestDatabase` gives each test its own SQLite file or PostgreSQL database.

pub mod database;
pub mod district;
pub mod lossy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gridwhistle_dispatcher::engine::Engine;
use gridwhistle_dispatcher::push::{Sender, SenderConfig};
use gridwhistle_dispatcher::{Clock, ManualClock};
use gridwhistle_domain::{Binding, DisplayName, Password, Timestamp, Username};
use gridwhistle_fake_fcm::{FakeFcm, Options as FakeOptions};
use gridwhistle_proto::v1;
use gridwhistle_proto::v1::admin_service_client::AdminServiceClient;
use gridwhistle_proto::v1::attachment_service_client::AttachmentServiceClient;
use gridwhistle_proto::v1::audit_service_client::AuditServiceClient;
use gridwhistle_proto::v1::auth_service_client::AuthServiceClient;
use gridwhistle_proto::v1::case_service_client::CaseServiceClient;
use gridwhistle_proto::v1::device_service_client::DeviceServiceClient;
use gridwhistle_proto::v1::directory_service_client::DirectoryServiceClient;
use gridwhistle_proto::v1::ledger_service_client::LedgerServiceClient;
use gridwhistle_proto::v1::report_service_client::ReportServiceClient;
use gridwhistle_proto::v1::supervision_service_client::SupervisionServiceClient;
use gridwhistle_server::deadline_engine::EngineStore;
use gridwhistle_server::directory::{self, UserDraft};
use gridwhistle_server::push::OutboxDb;
use gridwhistle_server::push::fcm::{FcmClient, FcmSettings, ServiceAccount};
use gridwhistle_server::storage::User;
use gridwhistle_server::time_limits::TimeLimits;
use gridwhistle_server::{ServeError, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

pub use database::{Backend, TestDatabase};

/// How long a push may take before the client gives up on it in tests; the fake's `Hang` fault outlasts it.
pub const PUSH_TIMEOUT: Duration = Duration::from_millis(500);

/// 2026-03-02T01:00:00Z, a Monday 09:00 in Beijing: where every test clock starts.
pub const TEST_EPOCH: Timestamp = Timestamp::from_unix_millis(1_772_413_200_000);

/// Adds `authorization: Bearer …` to every call.
#[derive(Debug, Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;

/// The fields a refusal names in its `google.rpc.BadRequest`, in order; none when it carries no such details.
pub fn field_violations(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// A refusal's details but its request id (`google.rpc.RequestInfo`, different on every call), in a comparable form: what must not tell another unit's object from a missing one.
pub fn details_but_request(status: &tonic::Status) -> String {
    use tonic_types::{ErrorDetail, StatusExt as _};
    let details: Vec<ErrorDetail> = status
        .get_error_details_vec()
        .into_iter()
        .filter(|d| !matches!(d, ErrorDetail::RequestInfo(_)))
        .collect();
    format!("{details:?}")
}

/// A running server with everything a test needs to talk to it.
#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    /// The operations listener (/metrics, /livez, /readyz), unless the config turned it off.
    pub ops_addr: Option<SocketAddr>,
    pub channel: Channel,
    pub clock: Arc<ManualClock>,
    pub database: TestDatabase,
    /// Holds the attachment directory for as long as the app lives.
    pub files: tempfile::TempDir,
    /// The local FCM the server's push channel points at.
    pub fcm: FakeFcm,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), ServeError>>>,
}

/// Starts a server on a fresh SQLite database and port 0.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDatabase::create(Backend::Sqlite).await).await
}

/// Starts a server on `database` and port 0, with a manual clock at [`TEST_EPOCH`].
pub async fn spawn_app_on(database: TestDatabase) -> TestApp {
    let mut config = ServerConfig::with_defaults(database.url().to_owned());
    // Tests drive push senders of their own on the test clock (`TestApp::push_sender`), unless they ask for the server's.
    config.push.sender = false;
    spawn_app_with(database, config).await
}

pub async fn spawn_app_with(database: TestDatabase, config: ServerConfig) -> TestApp {
    try_spawn_app(database, config, false, None)
        .await
        .expect("the test server starts")
}

/// Starts a server like [`spawn_app_with`], but running its own deadline engine on the test clock (it fires when woken by a deadline started through the API, or every half minute).
pub async fn spawn_app_with_engine(database: TestDatabase, config: ServerConfig) -> TestApp {
    try_spawn_app(database, config, true, None)
        .await
        .expect("the test server starts")
}

/// Starts a server like [`spawn_app_with`] on a data directory made before (its `attachments` the server's store).
pub async fn spawn_app_in(
    database: TestDatabase,
    config: ServerConfig,
    files: tempfile::TempDir,
) -> TestApp {
    try_spawn_app(database, config, false, Some(files))
        .await
        .expect("the test server starts")
}

async fn try_spawn_app(
    database: TestDatabase,
    mut config: ServerConfig,
    own_engine: bool,
    files: Option<tempfile::TempDir>,
) -> anyhow::Result<TestApp> {
    let files = match files {
        Some(files) => files,
        None => tempfile::tempdir()?,
    };
    config.attachment_dir = files.path().join("attachments");
    config.replica_id_file = files.path().join("replica-id");
    // Tests drive deadline engines of their own on the test clock (`TestApp::engine`), unless they ask for the server's.
    config.deadline_engine = own_engine;
    let fcm = FakeFcm::start(FakeOptions::default()).await?;
    let key = files.path().join("fcm-service-account.json");
    std::fs::write(&key, fcm.service_account_json())?;
    config.push.fcm_credentials = Some(key);
    config.push.fcm_base_url = fcm.base_url();
    config.push.timeout = PUSH_TIMEOUT;
    let clock = Arc::new(ManualClock::new(TEST_EPOCH));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Every test server has its operations listener, on a port of its own.
    let ops = match config.metrics_listen {
        Some(_) => Some(TcpListener::bind("127.0.0.1:0").await?),
        None => None,
    };
    let ops_addr = ops.as_ref().map(TcpListener::local_addr).transpose()?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let listeners = gridwhistle_server::Listeners {
        grpc: listener,
        ops,
    };
    let server = tokio::spawn(gridwhistle_server::run_on(
        config,
        clock.clone() as Arc<dyn Clock>,
        listeners,
        async {
            let _ = shutdown_rx.await;
        },
    ));
    let channel = connect(addr, &server).await?;
    Ok(TestApp {
        addr,
        ops_addr,
        channel,
        clock,
        database,
        files,
        fcm,
        shutdown: Some(shutdown_tx),
        server: Some(server),
    })
}

/// Connects once the server accepts calls; fails fast if the server task died during start-up.
async fn connect(
    addr: SocketAddr,
    server: &JoinHandle<Result<(), ServeError>>,
) -> anyhow::Result<Channel> {
    let endpoint =
        Endpoint::from_shared(format!("http://{addr}"))?.connect_timeout(Duration::from_secs(5));
    for _ in 0..500 {
        if server.is_finished() {
            anyhow::bail!("the server stopped during start-up");
        }
        let channel = endpoint.connect().await?;
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let check = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await;
        if check.is_ok() {
            return Ok(channel);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("the server did not answer health checks")
}

impl TestApp {
    /// GETs `path` from the operations listener: its status code and body.
    pub async fn ops_get(&self, path: &str) -> (u16, String) {
        let addr = self.ops_addr.expect("the operations listener runs");
        let response = reqwest::get(format!("http://{addr}{path}"))
            .await
            .expect("the operations listener answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a text body"))
    }

    /// A deadline engine over this app's database on its test clock: call `run_due` after moving the clock. Several may run at once, like replicas.
    pub async fn engine(&self) -> Engine<EngineStore> {
        let store = self.database.store().await;
        let clock = self.clock.clone() as Arc<dyn Clock>;
        let time_limits = Arc::new(
            TimeLimits::load(store.clone(), clock.clone(), None)
                .await
                .expect("time limits load"),
        );
        Engine::new(
            EngineStore::new(store, time_limits, uuid::Uuid::new_v4().to_string()),
            clock,
            Duration::from_secs(60),
            10_000,
            Arc::new(tokio::sync::Notify::new()),
        )
    }

    /// A push sender over this app's database on its test clock, sending to the app's fake FCM through the real FCM client: call `run_due` after moving the clock.
    pub async fn push_sender(&self, config: SenderConfig) -> Sender<OutboxDb> {
        let clock = self.clock.clone() as Arc<dyn Clock>;
        let fcm = FcmClient::new(
            FcmSettings {
                account: ServiceAccount::from_json(&self.fcm.service_account_json())
                    .expect("the fake's key parses"),
                base_url: self.fcm.base_url(),
                token_url: None,
                concurrency: config.concurrency,
                timeout: PUSH_TIMEOUT,
            },
            clock.clone(),
        )
        .expect("the FCM client builds");
        Sender::new(
            OutboxDb::new(
                self.database.store().await,
                uuid::Uuid::new_v4().to_string(),
            ),
            vec![Arc::new(fcm)],
            clock,
            config,
            Arc::new(tokio::sync::Notify::new()),
        )
    }

    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }

    /// The `authorization` header of `token`, for clients on channels of their own.
    pub fn bearer(token: &str) -> Bearer {
        Bearer(format!("Bearer {token}").parse().expect("tokens are ASCII"))
    }

    pub fn admin(&self, access_token: &str) -> AdminServiceClient<Authed> {
        AdminServiceClient::with_interceptor(self.channel.clone(), Self::bearer(access_token))
    }

    pub fn devices(&self, access_token: &str) -> DeviceServiceClient<Authed> {
        DeviceServiceClient::with_interceptor(self.channel.clone(), Self::bearer(access_token))
    }

    pub fn reports(&self, access_token: &str) -> ReportServiceClient<Authed> {
        ReportServiceClient::with_interceptor(self.channel.clone(), Self::bearer(access_token))
    }

    pub fn cases(&self, access_token: &str) -> CaseServiceClient<Authed> {
        CaseServiceClient::with_interceptor(self.channel.clone(), Self::bearer(access_token))
    }

    pub fn supervision(&self, access_token: &str) -> SupervisionServiceClient<Authed> {
        SupervisionServiceClient::with_interceptor(self.channel.clone(), Self::bearer(access_token))
    }

    pub fn directory(&self, access_token: &str) -> DirectoryServiceClient<Authed> {
        DirectoryServiceClient::with_interceptor(self.channel.clone(), Self::bearer(access_token))
    }

    pub fn attachments(&self, access_token: &str) -> AttachmentServiceClient<Authed> {
        AttachmentServiceClient::with_interceptor(self.channel.clone(), Self::bearer(access_token))
    }

    pub fn ledger(&self, access_token: &str) -> LedgerServiceClient<Authed> {
        LedgerServiceClient::with_interceptor(self.channel.clone(), Self::bearer(access_token))
    }

    pub fn audit(&self, access_token: &str) -> AuditServiceClient<Authed> {
        AuditServiceClient::with_interceptor(self.channel.clone(), Self::bearer(access_token))
    }

    /// Adds a user exactly as `gridwhistle user add` does: the bootstrap path, before any admin exists.
    pub async fn add_user(&self, username: &str, password: &str, binding: Binding) -> User {
        let store = self.database.store().await;
        let draft = UserDraft {
            username: Username::parse(username).expect("valid username"),
            display_name: DisplayName::parse(username).expect("valid display name"),
            binding,
            password: Password::parse(password).expect("valid password"),
        };
        directory::add_user(&store, draft, self.clock.now())
            .await
            .expect("user added")
    }

    /// Logs in and returns the token pair.
    pub async fn login(&self, username: &str, password: &str) -> v1::TokenPair {
        self.auth()
            .login(v1::LoginRequest {
                username: username.to_owned(),
                password: password.to_owned(),
            })
            .await
            .expect("login succeeds")
            .into_inner()
            .tokens
            .expect("login returns tokens")
    }

    /// Adds an admin and logs in as them; returns the access token.
    pub async fn admin_token(&self) -> String {
        self.add_user("admin", "admin-password-1", Binding::Admin)
            .await;
        self.login("admin", "admin-password-1").await.access_token
    }

    /// Starts the server's shutdown without waiting for it: it drains while the test looks on.
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts the server down and waits for its drain to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.context("server task panicked")??;
        }
        Ok(())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Declares one test per named check of a storage contract suite: each runs `checks::$name(&store, backend)` on a fresh, migrated store of every backend under test.
#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                for backend in $crate::database::backends() {
                    let database = $crate::database::TestDatabase::create(backend).await;
                    let store = database.store().await;
                    eprintln!("{} on {backend:?}", stringify!($name));
                    checks::$name(&store, backend).await;
                    store.close().await.expect("close");
                }
            }
        )*
    };
}
