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
    let clock: Arc<dyn Clock> = clock;
    let store = gridwhistle_server::app::open_store(&config).await?;
    let routing =
        Arc::new(Routing::load(store.clone(), clock.clone(), config.near_border_meters).await?);
    gridwhistle_server::demo::load_if_empty(&store, &routing, &clock).await?;
    let time_limits = Arc::new(TimeLimits::load(store.clone(), clock.clone(), None).await?);
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
