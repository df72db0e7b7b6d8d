//! The operations listener, apart from the gRPC port: `/metrics` (Prometheus' text format), `/livez` (the process answers) and `/readyz` (the replica takes calls: its database answers and it is not draining; 503 otherwise).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::Metrics;
use crate::health::Health;

#[derive(Debug, Clone)]
struct Ops {
    metrics: Arc<Metrics>,
    health: Health,
}

async fn scrape(State(ops): State<Ops>) -> impl IntoResponse {
    // The health gauges are read as the scrape is taken, never a refresh behind.
    let m = &ops.metrics;
    m.database_up.set(i64::from(ops.health.database_up()));
    m.serving.set(i64::from(ops.health.serving()));
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        ops.metrics.encode(),
    )
}

async fn livez() -> &'static str {
    "ok\n"
}

async fn readyz(State(ops): State<Ops>) -> (StatusCode, &'static str) {
    if ops.health.serving() {
        (StatusCode::OK, "ready\n")
    } else if ops.health.database_up() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database not answering\n")
    }
}

/// Serves the operations routes on `listener` until the task running it is dropped.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    health: Health,
) -> std::io::Result<()> {
    let routes = Router::new()
        .route("/metrics", get(scrape))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .with_state(Ops { metrics, health });
    axum::serve(listener, routes).await
}
