//! One access line per RPC, and its count and duration in the metrics, when its response ends (or the client leaves): the method and request id (fields of the `rpc` span), the caller's user id (recorded on the span by the authentication interceptor), the gRPC code and the duration; never a request's or response's content.
//!
//! Every error answered leaves here carrying the request id (`google.rpc.RequestInfo`) and a stable reason (`google.rpc.ErrorInfo`; the handler's own, or its code's name).
//!
//! Successes and the clients' own errors (a field violation, a missing or hidden object, a stale etag, a refused token…) are INFO, so an alert on ERROR lines means something: a replica that is overloaded, unavailable or out of time is WARN, and our own defects (INTERNAL, UNKNOWN, DATA_LOSS) are ERROR (the cause chain is logged where the error is turned into its status).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Frame, SizeHint};
use tonic::Code;
use tonic::codegen::Bytes;
use tracing::Span;

use crate::metrics::Metrics;

/// The header that carries a call's request id: the client's, or one the server set (`tower_http::request_id`).
pub(crate) const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Wraps the gRPC routes (inside the tracing layer, whose `rpc` span is current when a call starts) so each call logs its access line and is counted in the replica's metrics.
#[derive(Debug, Clone)]
pub struct AccessLogLayer {
    metrics: Arc<Metrics>,
}

impl AccessLogLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccessLog<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> tower::Service<http::Request<B>> for AccessLog<S>
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
        let request_id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut line = Line {
            span: Span::current(),
            method: request.uri().path().to_owned(),
            metrics: self.metrics.clone(),
            start: Instant::now(),
            code: None,
            ended: false,
        };
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = match future.await {
                Ok(response) => response,
                Err(err) => {
                    line.end(Code::Unknown);
                    return Err(err);
                }
            };
            let (mut parts, body) = response.into_parts();
            // A call refused before any message (trailers-only) carries its code in the headers.
            line.code = code_of(&parts.headers);
            annotate(&mut parts.headers, line.code, &request_id);
            let body = tonic::body::Body::new(Logged {
                inner: body,
                line,
                request_id,
            });
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

/// The gRPC code in `headers`' `grpc-status`, if any.
fn code_of(headers: &http::HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(value.parse().ok()?))
}

/// Adds to the error status `code` in `headers` (the trailers, or the headers of a trailers-only answer) the request id (`google.rpc.RequestInfo`) and, when the error has none yet, a `google.rpc.ErrorInfo` whose reason is its code's name: every error the server answers carries both, whoever made it (a handler, the authentication interceptor, tonic itself).
fn annotate(headers: &mut http::HeaderMap, code: Option<Code>, request_id: &str) {
    use tonic_types::StatusExt as _;
    if matches!(code, None | Some(Code::Ok)) {
        return;
    }
    let Some(status) = tonic::Status::from_header_map(headers) else {
        return;
    };
    let mut details = status.get_error_details();
    if details.error_info().is_none() {
        details.set_error_info(
            crate::metrics::code_name(status.code()),
            crate::api::error::reason::DOMAIN,
            std::collections::HashMap::new(),
        );
    }
    details.set_request_info(request_id, "");
    let annotated = tonic::Status::with_error_details(status.code(), status.message(), details);
    // A status that cannot be written as headers keeps the one it had.
    let _ = annotated.add_header(headers);
}

/// One call's access line, written (and the call counted) when it is dropped: once, whatever way the call ends.
struct Line {
    span: Span,
    method: String,
    metrics: Arc<Metrics>,
    start: Instant,
    code: Option<Code>,
    /// The response body was read to its end; a line dropped before that was cut short by the client.
    ended: bool,
}

impl Line {
    /// Ends the call with `code`, writing its line.
    fn end(mut self, code: Code) {
        self.code = Some(code);
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let elapsed = self.start.elapsed();
        let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let code = match (self.code, self.ended) {
            (Some(code), _) => code,
            // Not a gRPC response (a CORS preflight): nothing to log.
            (None, true) => return,
            (None, false) => Code::Cancelled,
        };
        self.metrics.rpc(&self.method, code, elapsed);
        let code_name = code.description();
        let _entered = self.span.enter();
        match level(code) {
            tracing::Level::ERROR => {
                tracing::error!(code = ?code, duration_ms, "rpc failed: {code_name}");
            }
            tracing::Level::WARN => {
                tracing::warn!(code = ?code, duration_ms, "rpc not served: {code_name}");
            }
            _ => tracing::info!(code = ?code, duration_ms, "rpc"),
        }
    }
}

/// How loud a call that ended with `code` is.
fn level(code: Code) -> tracing::Level {
    match code {
        Code::Internal | Code::Unknown | Code::DataLoss => tracing::Level::ERROR,
        Code::Unavailable
        | Code::ResourceExhausted
        | Code::DeadlineExceeded
        | Code::Unimplemented => tracing::Level::WARN,
        Code::Ok
        | Code::Cancelled
        | Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unauthenticated => tracing::Level::INFO,
    }
}

/// A response body that tells its line the code in its trailers, or the error it ended with.
struct Logged {
    inner: tonic::body::Body,
    line: Line,
    request_id: String,
}

impl http_body::Body for Logged {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        let mut polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &mut polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_mut() {
                    let code = code_of(trailers);
                    this.line.code = code.or(this.line.code);
                    annotate(trailers, code, &this.request_id);
                }
            }
            Poll::Ready(Some(Err(status))) => this.line.code = Some(status.code()),
            Poll::Ready(None) => this.line.ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_defects_are_errors_and_clients_mistakes_are_info() {
        for code in [
            Code::InvalidArgument,
            Code::NotFound,
            Code::PermissionDenied,
            Code::AlreadyExists,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::Unauthenticated,
            Code::Ok,
        ] {
            assert_eq!(level(code), tracing::Level::INFO, "{code:?}");
        }
        assert_eq!(level(Code::Internal), tracing::Level::ERROR);
        assert_eq!(level(Code::Unavailable), tracing::Level::WARN);
    }
}
