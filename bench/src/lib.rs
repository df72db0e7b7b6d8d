//! What the benchmark programs share: the closed loop as a service over a database, in this process, on a manual clock, with the demo district loaded.

use std::sync::Arc;

use anyhow::Context as _;
use gridwhistle_dispatcher::{Clock, ManualClock};
use gridwhistle_domain::{Actor, Username};
use gridwhistle_server::ServerConfig;
use gridwhistle_server::closed_loop::{LoopService, LoopSettings};
use gridwhistle_server::routing::Routing;
use gridwhistle_server::storage::Store;
use gridwhistle_server::time_limits::TimeLimits;

/// The services the closed loop needs, over `url`, on `clock`, with the demo district loaded into an empty database.
pub async fn open_loop(
    url: &str,
    clock: Arc<ManualClock>,
) -> anyhow::Result<(Store, Arc<LoopService>, Arc<TimeLimits>)> {
    let config = ServerConfig::with_defaults(url.to_owned());
    let store = gridwhistle_server::app::open_store(&config).await?;
    loop_on(store, clock).await
}

/// [`open_loop`] over a store opened already (`Store::without_rollups`, say).
pub async fn loop_on(
    store: Store,
    clock: Arc<ManualClock>,
) -> anyhow::Result<(Store, Arc<LoopService>, Arc<TimeLimits>)> {
    let config = ServerConfig::with_defaults(String::new());
    let clock: Arc<dyn Clock> = clock;
    let routing =
        Arc::new(Routing::load(store.clone(), clock.clone(), config.near_border_meters).await?);
    gridwhistle_server::demo::load_if_empty(&store, &routing, &clock).await?;
    let time_limits = Arc::new(TimeLimits::load(store.clone(), clock.clone(), None).await?);
    // As a replica does when it starts: the figures' daily rollups exist, and every step keeps them.
    let zone = time_limits.snapshot().calendar.zone().offset_ms();
    store.stats().ensure_rollups(zone).await?;
    let service = Arc::new(LoopService::new(
        store.clone(),
        routing,
        time_limits.clone(),
        Arc::new(tokio::sync::Notify::new()),
        clock,
        LoopSettings::default(),
    ));
    Ok((store, service, time_limits))
}

/// Analyzes the PostgreSQL database at `url` every ten seconds, as autovacuum would, until the handle is aborted; nothing on SQLite.
///
/// A PostgreSQL without autovacuum (as on the benchmark machines) never refreshes its statistics: the foreign-key checks' plans, cached while the tables were nearly empty, keep scanning whole tables and seeding slows quadratically. Analyzing keeps them on their indexes.
pub async fn analyze_while_seeding(
    url: &str,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    use sea_orm::ConnectionTrait as _;
    if !url.starts_with("postgres") {
        return Ok(None);
    }
    let db = sea_orm::Database::connect(url).await?;
    Ok(Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            if let Err(err) = db.execute_unprepared("ANALYZE").await {
                eprintln!("  analyze while seeding failed: {err}");
            }
        }
    })))
}

/// A fresh PostgreSQL database made on the server of `base` for one benchmark run, and dropped after it.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin: sea_orm::DatabaseConnection,
    name: String,
    /// The database's URL.
    pub url: String,
}

impl ScratchDatabase {
    /// Makes a database named `{prefix}_{random}` on the server `base` names a database of.
    pub async fn create(base: &str, prefix: &str) -> anyhow::Result<Self> {
        use sea_orm::ConnectionTrait as _;
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(base).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        let url = match base.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => anyhow::bail!("--postgres-url must name a database"),
        };
        Ok(Self { admin, name, url })
    }

    /// Keeps the database: its URL is printed for later runs.
    pub fn keep(self) -> String {
        self.url
    }

    pub async fn drop(self) -> anyhow::Result<()> {
        use sea_orm::ConnectionTrait as _;
        self.admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await?;
        Ok(())
    }
}

/// The store a benchmark measures through, over one connection, after `VACUUM ANALYZE` on PostgreSQL: a database that grew to this size in service has planner statistics and a visibility map.
pub async fn measuring_store(url: &str) -> anyhow::Result<gridwhistle_server::storage::Store> {
    use sea_orm::ConnectionTrait as _;
    if url.starts_with("postgres") {
        let db = sea_orm::Database::connect(url).await?;
        // As autovacuum would have by now (the benchmark machines run without it): statistics, and the visibility map that lets the open counts read their partial index alone.
        db.execute_unprepared("VACUUM ANALYZE").await?;
        db.close().await?;
    }
    // No slow-statement lines: the benchmark measures every statement itself.
    let settings = gridwhistle_server::storage::PoolSettings {
        max_connections: 1,
        busy_timeout: std::time::Duration::from_secs(5),
        slow_statement: None,
    };
    let store = gridwhistle_server::storage::Store::connect(url, settings).await?;
    // A database seeded by an earlier build (`--measure-only`) gets the tables added since, as a replica would.
    store.migrate().await?;
    Ok(store)
}

/// p50 and p99 of `samples` runs of `run`, in microseconds; a run answering nothing fails, since the seed then does not fit what is measured.
pub async fn measure<F, Fut>(samples: u64, mut run: F) -> anyhow::Result<(u64, u64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut h = hdrhistogram::Histogram::<u64>::new(3)?;
    for _ in 0..samples {
        let started = std::time::Instant::now();
        if run().await? == 0 {
            anyhow::bail!("a query answered nothing: the seed does not fit the filter");
        }
        h.record(u64::try_from(started.elapsed().as_micros())?)?;
    }
    Ok((h.value_at_quantile(0.5), h.value_at_quantile(0.99)))
}

/// The demo user `username` as an actor of the loop.
pub async fn actor(store: &Store, username: &str) -> anyhow::Result<Actor> {
    let user = store
        .directory()
        .find_credentials(&Username::parse(username)?)
        .await?
        .with_context(|| format!("demo user {username} is missing"))?
        .user;
    Ok(Actor {
        user_id: user.id,
        binding: user.binding,
    })
}

/// A channel to a server just started at `addr`, retrying while it comes up (ten seconds at most).
pub async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<tonic::transport::Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?;
    for _ in 0..200 {
        if let Ok(channel) = endpoint.connect().await {
            return Ok(channel);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("the server at {addr} did not come up")
}

/// The access token of the demo user `username`.
pub async fn login(channel: tonic::transport::Channel, username: &str) -> anyhow::Result<String> {
    login_with(channel, username, gridwhistle_server::demo::DEMO_PASSWORD).await
}

/// The access token of `username` with `password`.
pub async fn login_with(
    channel: tonic::transport::Channel,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    use gridwhistle_proto::v1;
    Ok(v1::auth_service_client::AuthServiceClient::new(channel)
        .login(v1::LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        })
        .await
        .with_context(|| format!("login as {username}"))?
        .into_inner()
        .tokens
        .context("login returned no tokens")?
        .access_token)
}

/// `message` with the bearer `token`.
pub fn authorized<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}
