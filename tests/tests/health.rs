//! The health service and readiness (`/readyz`) tell the truth: a replica whose database stops answering reports NOT_SERVING (overall and for every service) within seconds and SERVING again once it answers, `gridwhistle healthcheck` exits accordingly, and a replica reports NOT_SERVING as soon as its shutdown starts, while it drains.

use std::time::Duration;

use clap::Parser as _;
use gridwhistle_server::config::{Cli, ServerConfig};
use gridwhistle_tests::database::{Backend, TestDatabase, backends};
use gridwhistle_tests::{TestApp, spawn_app_with};
use sea_orm::{ConnectionTrait, Database};
use tokio_stream::StreamExt as _;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

async fn app(backend: Backend) -> TestApp {
    let database = TestDatabase::create(backend).await;
    let mut config = ServerConfig::with_defaults(database.url().to_owned());
    config.health_check = Duration::from_millis(100);
    config.drain_timeout = Duration::from_secs(5);
    spawn_app_with(database, config).await
}

async fn status(app: &TestApp, service: &str) -> ServingStatus {
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("the health service answers")
        .into_inner()
        .status()
}

/// Waits, boundedly, for the overall status to become `want`.
async fn until(app: &TestApp, want: ServingStatus) {
    for _ in 0..200 {
        if status(app, "").await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the overall status never became {want:?}");
}

/// Runs `gridwhistle healthcheck` against `app`.
async fn healthcheck(app: &TestApp) -> anyhow::Result<()> {
    let address = app.addr.to_string();
    let cli = Cli::parse_from(["gridwhistle", "healthcheck", "--address", &address]);
    gridwhistle_server::cli::execute(cli).await
}

/// Runs `statement` on the PostgreSQL server as its administrator.
async fn admin(url: &str, statement: &str) {
    let db = Database::connect(url)
        .await
        .expect("the administration URL");
    db.execute_unprepared(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    db.close().await.expect("close");
}

#[tokio::test]
async fn a_replica_whose_database_stops_answering_is_not_serving_until_it_answers_again() {
    let Some(backend) = backends().into_iter().find(|b| *b == Backend::Postgres) else {
        return;
    };
    let app = app(backend).await;
    assert_eq!(status(&app, "").await, ServingStatus::Serving);
    healthcheck(&app)
        .await
        .expect("healthcheck passes while serving");
    let (url, name) = app.database.postgres().expect("a PostgreSQL database");
    // The database refuses new connections and the server's are cut.
    admin(
        url,
        &format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"),
    )
    .await;
    admin(
        url,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    )
    .await;
    until(&app, ServingStatus::NotServing).await;
    assert_eq!(
        status(&app, "gridwhistle.v1.CaseService").await,
        ServingStatus::NotServing
    );
    assert_eq!(
        app.ops_get("/readyz").await,
        (503, "database not answering\n".to_owned())
    );
    // The process itself is alive: a restart would not help.
    assert_eq!(app.ops_get("/livez").await.0, 200);
    let scrape = app.ops_get("/metrics").await.1;
    assert!(scrape.contains("\ngridwhistle_serving 0\n"), "{scrape}");
    let refused = healthcheck(&app).await.expect_err("healthcheck fails");
    assert!(refused.to_string().contains("NOT_SERVING"), "{refused:#}");

    admin(
        url,
        &format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"),
    )
    .await;
    until(&app, ServingStatus::Serving).await;
    assert_eq!(
        status(&app, "gridwhistle.v1.LedgerService").await,
        ServingStatus::Serving
    );
    assert_eq!(app.ops_get("/readyz").await, (200, "ready\n".to_owned()));
    healthcheck(&app).await.expect("healthcheck passes again");
    app.stop().await.expect("a clean stop");
}

#[tokio::test]
async fn a_replica_is_not_serving_as_soon_as_it_starts_to_drain() {
    let backend = backends()[0];
    let mut app = app(backend).await;
    let mut watch = HealthClient::new(app.channel.clone())
        .watch(HealthCheckRequest::default())
        .await
        .expect("the health service streams")
        .into_inner();
    let first = watch.next().await.expect("a status").expect("no error");
    assert_eq!(first.status(), ServingStatus::Serving);
    app.begin_stop();
    let next = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("a status change while draining")
        .expect("the stream stays open while draining")
        .expect("no error");
    assert_eq!(next.status(), ServingStatus::NotServing);
    // The watch stream held open keeps the drain going (up to its timeout): readiness says why.
    assert_eq!(app.ops_get("/readyz").await, (503, "draining\n".to_owned()));
    let gone = healthcheck(&app).await;
    assert!(gone.is_err(), "a draining replica fails its healthcheck");
}
