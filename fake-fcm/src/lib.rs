//! A local stand-in for Firebase Cloud Messaging that answers like FCM: an OAuth2 token endpoint that checks the service account's signed JWT assertion, and `POST /v1/projects/{project}/messages:send` over HTTP/1.1 or cleartext HTTP/2, with faults scripted per device token.
//!
//! It records every attempt and every accepted message, and the most requests it ever had in flight at once, so tests can check what the sender did.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The throwaway key the fake service account signs with (see `testdata/README.md`).
pub const TEST_PRIVATE_KEY: &str = include_str!("../testdata/test-key.pem");
const TEST_PUBLIC_KEY: &str = include_str!("../testdata/test-key.pub.pem");

/// The fake service account's email and project.
pub const CLIENT_EMAIL: &str = "push@gridwhistle-test.iam.gserviceaccount.com";
pub const PROJECT: &str = "gridwhistle-test";

/// One scripted answer to a send for a given device token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 `QUOTA_EXCEEDED` with `Retry-After`.
    QuotaExceeded { retry_after_secs: u64 },
    /// 503 `UNAVAILABLE`.
    Unavailable,
    /// 500 `INTERNAL`.
    Internal,
    /// Holds the request this long before answering 200 (longer than the client's timeout makes a timeout); its attempt is recorded on arrival with status 0.
    Hang(Duration),
    /// 404 `UNREGISTERED`.
    Unregistered,
    /// 400 `INVALID_ARGUMENT`.
    InvalidArgument,
}

/// One send the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub token: String,
    pub status: u16,
}

/// One message the fake accepted (answered 200).
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub token: String,
    /// The request body as sent.
    pub body: serde_json::Value,
}

#[derive(Debug, Default)]
struct Script {
    faults: HashMap<String, VecDeque<Fault>>,
    /// Tokens answered `UNREGISTERED` every time.
    unregistered: HashSet<String>,
    /// Access tokens issued and still honoured.
    access_tokens: HashSet<String>,
    attempts: Vec<Attempt>,
    accepted: Vec<Accepted>,
}

#[derive(Debug)]
struct State {
    script: Mutex<Script>,
    decoding_key: DecodingKey,
    token_url: String,
    /// Added to every send, so concurrency can be observed.
    latency: Duration,
    token_lifetime_secs: u64,
    /// Keep every accepted body (tests) or only count them (benchmarks).
    record_bodies: bool,
    issued: AtomicU64,
    sent: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl State {
    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct Options {
    pub latency: Duration,
    pub token_lifetime_secs: u64,
    pub record_bodies: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            token_lifetime_secs: 3600,
            record_bodies: true,
        }
    }
}

/// A running fake FCM; it stops when dropped.
#[derive(Debug)]
pub struct FakeFcm {
    addr: SocketAddr,
    state: Arc<State>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Stops the server's own runtime, when it has one.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for FakeFcm {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl FakeFcm {
    /// Starts the fake on an ephemeral local port, on the caller's runtime.
    pub async fn start(options: Options) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let (addr, state, router) = Self::prepare(&listener, options)?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            addr,
            state,
            task: Some(task),
            stop: None,
        })
    }

    /// Starts the fake on a thread and runtime of its own, as a remote service would be: a benchmark's client then never shares its runtime's workers with the server's connection tasks.
    pub fn start_apart(options: Options) -> std::io::Result<Self> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let (addr, state, router) = Self::prepare(&listener, options)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("fake-fcm".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = axum::serve(listener, router) => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Self {
            addr,
            state,
            task: None,
            stop: Some(stop),
        })
    }

    fn prepare(
        listener: &tokio::net::TcpListener,
        options: Options,
    ) -> std::io::Result<(SocketAddr, Arc<State>, axum::Router)> {
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            script: Mutex::new(Script::default()),
            decoding_key: DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes())
                .map_err(std::io::Error::other)?,
            token_url: format!("http://{addr}/token"),
            latency: options.latency,
            token_lifetime_secs: options.token_lifetime_secs,
            record_bodies: options.record_bodies,
            issued: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let router = axum::Router::new().fallback({
            let state = state.clone();
            move |uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { route(&state, &uri, &headers, body).await }
            }
        });
        Ok((addr, state, router))
    }

    /// `http://127.0.0.1:{port}`, FCM's base URL for the client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token_url(&self) -> String {
        self.state.token_url.clone()
    }

    /// A service-account key file's contents whose `token_uri` is this fake.
    pub fn service_account_json(&self) -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "test-key-1",
            "private_key": TEST_PRIVATE_KEY,
            "client_email": CLIENT_EMAIL,
            "token_uri": self.token_url(),
        })
        .to_string()
    }

    /// Answers the next sends to `token` with `faults`, in order, then normally.
    pub fn script(&self, token: &str, faults: impl IntoIterator<Item = Fault>) {
        self.state
            .script()
            .faults
            .entry(token.to_owned())
            .or_default()
            .extend(faults);
    }

    /// Answers every send to `token` with `UNREGISTERED` from now on.
    pub fn unregister(&self, token: &str) {
        self.state.script().unregistered.insert(token.to_owned());
    }

    /// Revokes every access token issued so far, as if they had expired early: the next send with one is refused with 401.
    pub fn expire_access_tokens(&self) {
        self.state.script().access_tokens.clear();
    }

    /// Issues an access token without the OAuth exchange, for a benchmark's plain client.
    pub fn issue_access_token(&self) -> String {
        let n = self.state.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let access = format!("fake-access-token-{n}");
        self.state.script().access_tokens.insert(access.clone());
        access
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// Messages accepted so far.
    pub fn sent(&self) -> u64 {
        self.state.sent.load(Ordering::SeqCst)
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.state.script().attempts.clone()
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        self.state.script().accepted.clone()
    }

    /// The most sends that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn route(state: &State, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response {
    let path = uri.path();
    if path == "/token" {
        return token(state, &body);
    }
    let expected = format!("/v1/projects/{PROJECT}/messages:send");
    if path == expected {
        return send(state, headers, &body).await;
    }
    fcm_error(StatusCode::NOT_FOUND, "NOT_FOUND", None)
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    scope: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// The JWT bearer grant: the assertion must be signed by the service account's key, for FCM's scope, addressed to this endpoint.
fn token(state: &State, body: &[u8]) -> Response {
    let body = String::from_utf8_lossy(body);
    let mut grant = None;
    let mut assertion = None;
    for pair in body.split('&') {
        match pair.split_once('=') {
            Some(("grant_type", v)) => grant = Some(v.to_owned()),
            Some(("assertion", v)) => assertion = Some(v.to_owned()),
            _ => {}
        }
    }
    if grant.as_deref() != Some("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer") {
        return oauth_error("unsupported_grant_type");
    }
    let Some(assertion) = assertion else {
        return oauth_error("invalid_request");
    };
    let mut validation = Validation::new(Algorithm::RS256);
    // The tests' clock is not the wall clock; the lifetime is checked below instead.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    validation.set_audience(&[state.token_url.as_str()]);
    let claims = match jsonwebtoken::decode::<Claims>(&assertion, &state.decoding_key, &validation)
    {
        Ok(data) => data.claims,
        Err(_) => return oauth_error("invalid_grant"),
    };
    if claims.iss != CLIENT_EMAIL
        || claims.scope != "https://www.googleapis.com/auth/firebase.messaging"
        || claims.aud != state.token_url
        || claims.exp - claims.iat != 3600
    {
        return oauth_error("invalid_grant");
    }
    let n = state.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let access = format!("fake-access-token-{n}");
    state.script().access_tokens.insert(access.clone());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({
            "access_token": access,
            "expires_in": state.token_lifetime_secs,
            "token_type": "Bearer",
        })
        .to_string(),
    )
        .into_response()
}

fn oauth_error(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": error }).to_string(),
    )
        .into_response()
}

fn fcm_error(status: StatusCode, code: &str, retry_after: Option<u64>) -> Response {
    let body = serde_json::json!({
        "error": {
            "code": status.as_u16(),
            "message": "fake fcm error",
            "status": code,
            "details": [{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": code,
            }],
        }
    })
    .to_string();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(secs) = retry_after
        && let Ok(value) = secs.to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Counts a request in flight for as long as it lives.
struct InFlight<'a>(&'a State);

impl<'a> InFlight<'a> {
    fn enter(state: &'a State) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn send(state: &State, headers: &HeaderMap, body: &[u8]) -> Response {
    let _in_flight = InFlight::enter(state);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(body) else {
        return fcm_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", None);
    };
    let token = message["message"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let authorised = bearer.is_some_and(|b| state.script().access_tokens.contains(&b));
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    let (status, response) = if !authorised {
        (
            StatusCode::UNAUTHORIZED,
            fcm_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", None),
        )
    } else if token.is_empty() || !well_formed(&message["message"]) {
        (
            StatusCode::BAD_REQUEST,
            fcm_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", None),
        )
    } else {
        let fault = {
            let mut script = state.script();
            if script.unregistered.contains(&token) {
                Some(Fault::Unregistered)
            } else {
                script.faults.get_mut(&token).and_then(VecDeque::pop_front)
            }
        };
        match fault {
            None => (StatusCode::OK, accepted(state, &token, message)),
            Some(Fault::Hang(time)) => {
                // Recorded on arrival with status 0 (no answer yet): a client that gives up first never sees an answer, and this future is dropped with its stream.
                if state.record_bodies {
                    state.script().attempts.push(Attempt {
                        token: token.clone(),
                        status: 0,
                    });
                }
                tokio::time::sleep(time).await;
                return accepted(state, &token, message);
            }
            Some(Fault::QuotaExceeded { retry_after_secs }) => (
                StatusCode::TOO_MANY_REQUESTS,
                fcm_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "QUOTA_EXCEEDED",
                    Some(retry_after_secs),
                ),
            ),
            Some(Fault::Unavailable) => (
                StatusCode::SERVICE_UNAVAILABLE,
                fcm_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", None),
            ),
            Some(Fault::Internal) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                fcm_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", None),
            ),
            Some(Fault::Unregistered) => (
                StatusCode::NOT_FOUND,
                fcm_error(StatusCode::NOT_FOUND, "UNREGISTERED", None),
            ),
            Some(Fault::InvalidArgument) => (
                StatusCode::BAD_REQUEST,
                fcm_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", None),
            ),
        }
    };
    if state.record_bodies {
        state.script().attempts.push(Attempt {
            token,
            status: status.as_u16(),
        });
    }
    response
}

/// FCM refuses a message whose data values are not all strings, or whose Android priority or APNs headers are malformed.
fn well_formed(message: &serde_json::Value) -> bool {
    let data_ok = message["data"]
        .as_object()
        .is_none_or(|data| data.values().all(serde_json::Value::is_string));
    let priority_ok = message["android"]["priority"]
        .as_str()
        .is_none_or(|p| p == "HIGH" || p == "NORMAL");
    let apns_ok = message["apns"]["headers"]
        .as_object()
        .is_none_or(|h| h.values().all(serde_json::Value::is_string));
    data_ok && priority_ok && apns_ok
}

fn accepted(state: &State, token: &str, message: serde_json::Value) -> Response {
    let n = state.sent.fetch_add(1, Ordering::SeqCst) + 1;
    if state.record_bodies {
        state.script().accepted.push(Accepted {
            token: token.to_owned(),
            body: message,
        });
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "name": format!("projects/{PROJECT}/messages/{n}") }).to_string(),
    )
        .into_response()
}
