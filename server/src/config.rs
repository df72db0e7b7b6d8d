//! Typed configuration from flags and `GRIDWHISTLE_*` environment variables, parsed once in `main` and passed down.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::TokenSettings;
use crate::storage::PoolSettings;

/// A secret value that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value.len() < 32 {
            Err("must be at least 32 characters".to_owned())
        } else {
            Ok(Secret(value.to_owned()))
        }
    }
}

/// Where attachment bytes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttachmentStore {
    /// Files in the data directory: one machine, or a directory every replica mounts.
    Filesystem,
    /// Rows in the database: every replica on the same database serves every upload and file.
    Database,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line for log collectors.
    Json,
}

/// Gridwhistle: urban grid governance, "whistle and report" (吹哨报到).
#[derive(Debug, Parser)]
#[command(name = "gridwhistle", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where the embedded SQLite database and local files live.
    #[arg(
        long,
        env = "GRIDWHISTLE_DATA_DIR",
        default_value = "data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// A PostgreSQL (postgres://…) or SQLite (sqlite://…) URL; defaults to SQLite in the data directory.
    #[arg(
        long,
        env = "GRIDWHISTLE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Maximum database connections per process.
    #[arg(
        long,
        env = "GRIDWHISTLE_DB_MAX_CONNECTIONS",
        default_value_t = 8,
        global = true
    )]
    pub db_max_connections: u32,
    /// A database statement slower than this is logged (WARN) with its duration and SQL text, in milliseconds; 0 logs none.
    #[arg(
        long,
        env = "GRIDWHISTLE_SLOW_STATEMENT_MS",
        default_value_t = 500,
        global = true
    )]
    pub slow_statement_ms: u64,
    #[arg(
        long,
        env = "GRIDWHISTLE_LOG_FORMAT",
        value_enum,
        default_value = "human",
        global = true
    )]
    pub log_format: LogFormat,
}

impl GlobalArgs {
    /// The database URL in force: the configured one, or the SQLite file in the data directory.
    pub fn resolved_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => sqlite_url(&self.data_dir.join("gridwhistle.db")),
        }
    }

    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.db_max_connections,
            slow_statement: (self.slow_statement_ms > 0)
                .then(|| Duration::from_millis(self.slow_statement_ms)),
            ..PoolSettings::default()
        }
    }
}

/// The URL of a SQLite file, created if missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the gRPC server.
    Serve(Box<ServeArgs>),
    /// Applies pending database migrations and exits.
    Migrate,
    /// Manages users.
    #[command(subcommand)]
    User(UserCommand),
    /// Imports routing data from a file, as a new generation or catalogue version.
    Import(ImportArgs),
    /// Rebuilds every case's figures facts from its timeline (the event log) and reports how many differed from those kept step by step.
    RebuildFacts,
    /// Backs the database and the attachment store up into a new directory, while the server runs (PostgreSQL: needs pg_dump).
    Backup(BackupArgs),
    /// Restores a backup into an empty database and the data directory's attachment store, then migrates (PostgreSQL: needs pg_restore).
    Restore(RestoreArgs),
    /// Asks a running server whether it serves (the gRPC health service's overall status): exits 0 when SERVING, 1 otherwise; for a container's HEALTHCHECK.
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The directory to write, which must not exist yet.
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A directory `backup` wrote.
    #[arg(long)]
    pub from: PathBuf,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The server's gRPC address.
    #[arg(
        long,
        env = "GRIDWHISTLE_HEALTHCHECK_ADDRESS",
        default_value = "127.0.0.1:50051"
    )]
    pub address: SocketAddr,
    /// How long to wait for the answer, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportKind {
    /// A GeoJSON FeatureCollection of grids (grid_id, name, community, street, district).
    Grids,
    /// A GeoJSON FeatureCollection of department jurisdictions (department_id, department_type).
    Jurisdictions,
    /// A JSON dispatch catalogue: {"categories": [{"id", "display_name", "lead", "assists", "default_grade"}]}.
    Catalogue,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[arg(value_enum)]
    pub kind: ImportKind,
    pub file: PathBuf,
    /// Checks the file and reports problems without importing.
    #[arg(long)]
    pub validate_only: bool,
    /// A report closer than this to a jurisdiction border is flagged, in metres.
    #[arg(long, env = "GRIDWHISTLE_NEAR_BORDER_METERS", default_value_t = 30.0)]
    pub near_border_meters: f64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GRIDWHISTLE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// HS256 key for access tokens (at least 32 characters); by default a random key kept in the database and shared by every replica.
    #[arg(long, env = "GRIDWHISTLE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    #[arg(long, env = "GRIDWHISTLE_TOKEN_ISSUER", default_value = "gridwhistle")]
    pub token_issuer: String,
    #[arg(
        long,
        env = "GRIDWHISTLE_TOKEN_AUDIENCE",
        default_value = "gridwhistle-api"
    )]
    pub token_audience: String,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "GRIDWHISTLE_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens, in seconds (30 days: grid workers' phones stay offline for long).
    #[arg(long, env = "GRIDWHISTLE_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,
    /// How long to let in-flight calls finish on shutdown, in seconds.
    #[arg(long, env = "GRIDWHISTLE_DRAIN_TIMEOUT_SECS", default_value_t = 10)]
    pub drain_timeout_secs: u64,
    /// Largest request message accepted, in bytes.
    #[arg(long, env = "GRIDWHISTLE_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// Largest admin import message (GeoJSON) accepted, in bytes.
    #[arg(long, env = "GRIDWHISTLE_MAX_IMPORT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_import_bytes: usize,
    /// A report closer than this to a jurisdiction border is flagged for the worker to confirm, in metres.
    #[arg(long, env = "GRIDWHISTLE_NEAR_BORDER_METERS", default_value_t = 30.0)]
    pub near_border_meters: f64,
    /// How often to check the database for boundaries or a catalogue newer than the table in force (another replica's import), in seconds.
    #[arg(long, env = "GRIDWHISTLE_ROUTING_REFRESH_SECS", default_value_t = 5)]
    pub routing_refresh_secs: u64,
    /// How often to read which users' access tokens were revoked on another replica (disabled, new password, replayed refresh token), in milliseconds.
    #[arg(
        long,
        env = "GRIDWHISTLE_REVOCATION_REFRESH_MS",
        default_value_t = 1000
    )]
    pub revocation_refresh_ms: u64,
    /// How often to check that the database answers, in milliseconds: a replica whose database stops answering reports NOT_SERVING to health checks until it answers again.
    #[arg(long, env = "GRIDWHISTLE_HEALTH_CHECK_MS", default_value_t = 2000)]
    pub health_check_ms: u64,
    /// Largest attachment (photo or video) accepted, in bytes.
    #[arg(long, env = "GRIDWHISTLE_MAX_ATTACHMENT_BYTES", default_value_t = 50 * 1024 * 1024)]
    pub max_attachment_bytes: u64,
    /// How long a grid worker's phone may stay offline, in days: older observations are refused, and report idempotency keys are kept at least this long.
    #[arg(long, env = "GRIDWHISTLE_MAX_OFFLINE_DAYS", default_value_t = 14)]
    pub max_offline_days: u64,
    /// How far a device clock may run ahead of the server's, in seconds.
    #[arg(long, env = "GRIDWHISTLE_CLOCK_SKEW_SECS", default_value_t = 300)]
    pub clock_skew_secs: u64,
    /// Loads the sample district (departments, demo users, grids, jurisdictions, catalogue) into an empty database.
    #[arg(long, env = "GRIDWHISTLE_DEMO")]
    pub demo: bool,
    /// A time-limit policies file (JSON, as `server/defaults/time_limits.json`), imported as a new version when it differs from the one in force; without it the shipped defaults are imported once.
    #[arg(long, env = "GRIDWHISTLE_TIME_LIMITS_FILE")]
    pub time_limits: Option<PathBuf>,
    /// Runs the deadline engine in this process (`false` for a replica that only serves the API).
    #[arg(long, env = "GRIDWHISTLE_DEADLINE_ENGINE", default_value_t = true, action = clap::ArgAction::Set)]
    pub deadline_engine: bool,
    /// Browser origins allowed to call over gRPC-Web, comma-separated; none allows any origin.
    #[arg(long, env = "GRIDWHISTLE_CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
    /// A Firebase service-account key (JSON) for pushes over FCM; without it the server runs with the in-app inbox only.
    #[arg(long, env = "GRIDWHISTLE_FCM_CREDENTIALS")]
    pub fcm_credentials: Option<PathBuf>,
    /// Where FCM's HTTP v1 API is (a local endpoint for tests and drills).
    #[arg(
        long,
        env = "GRIDWHISTLE_FCM_BASE_URL",
        default_value = "https://fcm.googleapis.com"
    )]
    pub fcm_base_url: String,
    /// The OAuth2 token endpoint; by default the key's `token_uri`.
    #[arg(long, env = "GRIDWHISTLE_FCM_TOKEN_URL")]
    pub fcm_token_url: Option<String>,
    /// Pushes in flight at once per channel.
    #[arg(long, env = "GRIDWHISTLE_PUSH_CONCURRENCY", default_value_t = 100)]
    pub push_concurrency: usize,
    /// A push taking longer than this is abandoned and retried, in seconds.
    #[arg(long, env = "GRIDWHISTLE_PUSH_TIMEOUT_SECS", default_value_t = 10)]
    pub push_timeout_secs: u64,
    /// Runs the push sender in this process (`false` for a replica that only serves the API).
    #[arg(long, env = "GRIDWHISTLE_PUSH_SENDER", default_value_t = true, action = clap::ArgAction::Set)]
    pub push_sender: bool,
    /// Address of the operations listener (HTTP): Prometheus metrics at /metrics, liveness at /livez, readiness at /readyz.
    #[arg(
        long,
        env = "GRIDWHISTLE_METRICS_LISTEN",
        default_value = "127.0.0.1:9464"
    )]
    pub metrics_listen: SocketAddr,
    /// Where attachment bytes are kept: `filesystem` (the data directory) or `database` (shared by every replica on the database).
    #[arg(
        long,
        env = "GRIDWHISTLE_ATTACHMENT_STORE",
        value_enum,
        default_value = "filesystem"
    )]
    pub attachment_store: AttachmentStore,
    /// Runs no operations listener.
    #[arg(long, env = "GRIDWHISTLE_NO_METRICS")]
    pub no_metrics: bool,
    /// How often the gauges read from the database (open and overdue shares, the outbox backlog) are refreshed, in seconds.
    #[arg(long, env = "GRIDWHISTLE_METRICS_REFRESH_SECS", default_value_t = 15)]
    pub metrics_refresh_secs: u64,
    /// Calls handled at once; a call beyond them is answered UNAVAILABLE (reason OVERLOADED) at once, health checks aside.
    #[arg(long, env = "GRIDWHISTLE_MAX_CONCURRENT_RPCS", default_value_t = 512)]
    pub max_concurrent_rpcs: usize,
    /// Password checks (argon2id, 19 MiB each) run at once in the process; a login that cannot start one within 5 seconds is answered UNAVAILABLE (reason OVERLOADED). Defaults to one per core.
    #[arg(long, env = "GRIDWHISTLE_PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Adds a user; the password is read from standard input or GRIDWHISTLE_NEW_USER_PASSWORD, never from a flag.
    Add(UserAddArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub display_name: String,
    /// grid_worker, duty_officer, department_head, supervisor or admin.
    #[arg(long)]
    pub role: String,
    /// The grid id, for grid workers.
    #[arg(long)]
    pub grid: Option<String>,
    /// The department id, for duty officers and department heads.
    #[arg(long)]
    pub department: Option<String>,
    /// Reads the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[arg(
        long,
        env = "GRIDWHISTLE_NEW_USER_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    pub password_env: Option<Secret>,
}

/// Everything `run` needs, decided before it starts.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub database_url: String,
    pub pool: PoolSettings,
    pub jwt_secret: Option<Secret>,
    pub tokens: TokenSettings,
    pub drain_timeout: Duration,
    pub max_message_bytes: usize,
    pub max_import_bytes: usize,
    pub cors_allowed_origins: Vec<String>,
    pub near_border_meters: f64,
    pub routing_refresh: Duration,
    /// How often revoked token generations are read from storage.
    pub revocation_refresh: Duration,
    /// How often the database is pinged for the health service.
    pub health_check: Duration,
    pub closed_loop: crate::closed_loop::LoopSettings,
    /// Where uploaded attachments are kept, content-addressed, with the filesystem store.
    pub attachment_dir: PathBuf,
    pub attachment_store: AttachmentStore,
    /// Holds this replica's id, so a restarted replica resumes its own deadline claims at once.
    pub replica_id_file: PathBuf,
    pub max_attachment_bytes: u64,
    pub demo: bool,
    pub time_limits_file: Option<PathBuf>,
    pub deadline_engine: bool,
    pub push: crate::push::PushSettings,
    /// Where the operations listener binds; `None` runs none.
    pub metrics_listen: Option<SocketAddr>,
    /// How often the database gauges are refreshed.
    pub metrics_refresh: Duration,
    pub max_concurrent_rpcs: usize,
    /// Password checks at once in the process; `None` for one per core.
    pub password_hash_concurrency: Option<usize>,
}

impl ServerConfig {
    pub fn from_args(global: &GlobalArgs, serve: &ServeArgs) -> Self {
        Self {
            database_url: global.resolved_database_url(),
            pool: global.pool_settings(),
            jwt_secret: serve.jwt_secret.clone(),
            tokens: TokenSettings {
                issuer: serve.token_issuer.clone(),
                audience: serve.token_audience.clone(),
                access_ttl: Duration::from_secs(serve.access_token_ttl_secs),
                refresh_ttl: Duration::from_secs(serve.refresh_token_ttl_secs),
                leeway: Duration::from_secs(30),
            },
            drain_timeout: Duration::from_secs(serve.drain_timeout_secs),
            max_message_bytes: serve.max_message_bytes,
            max_import_bytes: serve.max_import_bytes,
            cors_allowed_origins: serve.cors_allowed_origins.clone(),
            near_border_meters: serve.near_border_meters,
            routing_refresh: Duration::from_secs(serve.routing_refresh_secs.max(1)),
            revocation_refresh: Duration::from_millis(serve.revocation_refresh_ms.max(10)),
            health_check: Duration::from_millis(serve.health_check_ms.max(10)),
            attachment_dir: global.data_dir.join("attachments"),
            attachment_store: serve.attachment_store,
            replica_id_file: global.data_dir.join("replica-id"),
            max_attachment_bytes: serve.max_attachment_bytes,
            closed_loop: crate::closed_loop::LoopSettings {
                max_offline: Duration::from_secs(serve.max_offline_days.max(1) * 24 * 3600),
                clock_skew: Duration::from_secs(serve.clock_skew_secs),
            },
            demo: serve.demo,
            time_limits_file: serve.time_limits.clone(),
            deadline_engine: serve.deadline_engine,
            push: crate::push::PushSettings {
                fcm_credentials: serve.fcm_credentials.clone(),
                fcm_base_url: serve.fcm_base_url.clone(),
                fcm_token_url: serve.fcm_token_url.clone(),
                concurrency: serve.push_concurrency.max(1),
                timeout: Duration::from_secs(serve.push_timeout_secs.max(1)),
                sender: serve.push_sender,
                sender_config: gridwhistle_dispatcher::push::SenderConfig {
                    concurrency: serve.push_concurrency.max(1),
                    ..Default::default()
                },
            },
            metrics_listen: (!serve.no_metrics).then_some(serve.metrics_listen),
            metrics_refresh: Duration::from_secs(serve.metrics_refresh_secs.max(1)),
            max_concurrent_rpcs: serve.max_concurrent_rpcs.max(1),
            password_hash_concurrency: serve.password_hash_concurrency,
        }
    }

    /// Defaults for a server on `database_url`, as `gridwhistle serve` would start with no flags.
    pub fn with_defaults(database_url: String) -> Self {
        let global = GlobalArgs {
            data_dir: PathBuf::from("data"),
            database_url: Some(database_url),
            db_max_connections: PoolSettings::default().max_connections,
            slow_statement_ms: 500,
            log_format: LogFormat::Human,
        };
        let cli = Cli::parse_from(["gridwhistle", "serve"]);
        match cli.command {
            Command::Serve(serve) => Self::from_args(&global, &serve),
            Command::Migrate
            | Command::User(_)
            | Command::Import(_)
            | Command::RebuildFacts
            | Command::Backup(_)
            | Command::Restore(_)
            | Command::Healthcheck(_) => {
                unreachable!("parsed the serve subcommand")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_and_must_be_long() {
        let secret: Secret = "a".repeat(32).parse().unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert!("short".parse::<Secret>().is_err());
    }

    #[test]
    fn the_default_database_is_sqlite_in_the_data_directory() {
        let cli = Cli::parse_from(["gridwhistle", "--data-dir", "/var/lib/gw", "migrate"]);
        assert_eq!(
            cli.global.resolved_database_url(),
            "sqlite:///var/lib/gw/gridwhistle.db?mode=rwc"
        );
    }

    #[test]
    fn serve_defaults_are_sane() {
        let config = ServerConfig::with_defaults("sqlite::memory:".to_owned());
        assert_eq!(config.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(config.drain_timeout, Duration::from_secs(10));
        assert_eq!(config.max_message_bytes, 4 * 1024 * 1024);
        assert!(config.jwt_secret.is_none());
    }
}
