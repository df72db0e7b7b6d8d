//! Load shedding: at most `--max-concurrent-rpcs` calls are handled at once by a replica; a call beyond them is answered at once `UNAVAILABLE` (reason `OVERLOADED`), so an overloaded replica refuses quickly instead of queueing without bound, and the client retries with backoff, here or on another replica.
//!
//! Health checks are never shed: a busy replica is not a broken one. A stream holds its slot only until its response starts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::Semaphore;

/// Limits the calls in flight of the routes it wraps (inside the access layer, so a shed call is logged and counted).
#[derive(Debug, Clone)]
pub struct ShedLayer {
    slots: Arc<Semaphore>,
}

impl ShedLayer {
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }
}

impl<S> tower::Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            slots: self.slots.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Shed<S> {
    inner: S,
    slots: Arc<Semaphore>,
}

impl<S, B> tower::Service<http::Request<B>> for Shed<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let exempt = request.uri().path().starts_with("/grpc.health.v1.Health/");
        let permit = if exempt {
            None
        } else {
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => return Box::pin(async { Ok(overloaded()) }),
            }
        };
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            drop(permit);
            response
        })
    }
}

/// The answer to a call shed: `UNAVAILABLE`, reason `OVERLOADED`.
fn overloaded() -> http::Response<tonic::body::Body> {
    let status = tonic::Status::from(crate::api::error::ApiError::Overloaded);
    status.into_http()
}
