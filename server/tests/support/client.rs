//! A gRPC client of a `gridwhistle` child process, for the crash tests: lazy channels that survive the server's restarts, and bearer tokens.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// A channel to `addr` that connects lazily, so calls fail fast and retry while the server is down.
pub(crate) fn channel(addr: &str) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("an address")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect_lazy()
}

/// `message` with the caller's access token.
pub(crate) fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    request
}
