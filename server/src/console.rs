//! The web console (`console/`), built into the binary and served under `/console/` on the API's own port.
//!
//! The console calls the API through gRPC-Web from the same origin, so it needs no CORS setting. Its bundle is embedded at build time (`build.rs`): hashed assets are cached for a year, `index.html` is revalidated, and any other path under `/console/` without a file extension is a console page and gets `index.html`. `/` redirects to the console.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, LOCATION, VARY,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use tonic::body::Body;

/// The bundle: each file's path under `console/dist`, its bytes and its bytes gzipped.
static ASSETS: &[(&str, &[u8], &[u8])] = include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// Where the console lives.
pub const PREFIX: &str = "/console/";

/// What the console's pages may load: scripts and styles of their own (the map sets inline styles), photos as blobs, and calls to this origin only.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Serves the console's paths and passes every other request on.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleLayer;

impl<S> tower::Layer<S> for ConsoleLayer {
    type Service = Console<S>;

    fn layer(&self, inner: S) -> Console<S> {
        Console { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Console<S> {
    inner: S,
}

impl<S, B, R> tower::Service<Request<B>> for Console<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    R::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if let Some(answer) = answer(&request) {
            return Box::pin(std::future::ready(Ok(answer)));
        }
        let future = self.inner.call(request);
        Box::pin(async move { Ok(future.await?.map(Body::new)) })
    }
}

/// The console's answer to `request`, or `None` when it is not the console's.
fn answer<B>(request: &Request<B>) -> Option<Response<Body>> {
    let path = request.uri().path();
    if path == "/" || path == "/console" {
        let mut response = plain(StatusCode::PERMANENT_REDIRECT, "");
        response
            .headers_mut()
            .insert(LOCATION, HeaderValue::from_static(PREFIX));
        return Some(response);
    }
    let rest = path.strip_prefix(PREFIX)?;
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Some(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "the console is read with GET",
        ));
    }
    let name = if rest.is_empty() { "index.html" } else { rest };
    let page = !name.rsplit('/').next().unwrap_or(name).contains('.');
    let Some((name, raw, gzipped)) = ASSETS
        .iter()
        .find(|(file, _, _)| *file == name)
        .or_else(|| page.then(|| ASSETS.iter().find(|(file, _, _)| *file == "index.html"))?)
        .copied()
    else {
        return Some(plain(
            StatusCode::NOT_FOUND,
            if ASSETS.is_empty() {
                "this build has no console: build it in console/ (npm run build) and rebuild"
            } else {
                "no such file in the console"
            },
        ));
    };
    let gzip = accepts_gzip(request);
    let body = if request.method() == Method::HEAD {
        Body::empty()
    } else if gzip {
        Body::new(http_body_util::Full::new(bytes::Bytes::from_static(
            gzipped,
        )))
    } else {
        Body::new(http_body_util::Full::new(bytes::Bytes::from_static(raw)))
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    let cache = if name.starts_with("assets/") {
        // Vite names these by their content's hash.
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    secure(headers);
    Some(response)
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_util::Full::new(
        bytes::Bytes::from_static(text.as_bytes()),
    )));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    secure(headers);
    response
}

fn secure(headers: &mut http::HeaderMap) {
    headers.insert("content-security-policy", HeaderValue::from_static(POLICY));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

fn accepts_gzip<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_unless_refused() {
        let request = |value: &str| {
            Request::builder()
                .header(ACCEPT_ENCODING, value)
                .body(())
                .unwrap_or_default()
        };
        assert!(accepts_gzip(&request("gzip, deflate, br")));
        assert!(accepts_gzip(&request("br;q=1.0, *;q=0.5")));
        assert!(!accepts_gzip(&request("gzip;q=0, br")));
        assert!(!accepts_gzip(&request("identity")));
    }

    #[test]
    fn pages_fall_back_to_the_index_and_files_do_not() {
        let get = |path: &str| {
            let request = Request::builder().uri(path).body(()).unwrap_or_default();
            answer(&request).map(|r| r.status())
        };
        assert_eq!(get("/"), Some(StatusCode::PERMANENT_REDIRECT));
        assert_eq!(get("/gridwhistle.v1.AuthService/Login"), None);
        assert_eq!(get("/console/nothing.js"), Some(StatusCode::NOT_FOUND));
        let index = if ASSETS.is_empty() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(get("/console/"), Some(index));
        assert_eq!(get("/console/cases/abc"), Some(index));
    }
}
