//! Our own thin Firebase Cloud Messaging HTTP v1 client over `reqwest`: OAuth2 access tokens from a service-account key (JWT bearer grant), cached and refreshed before expiry; `POST /v1/projects/{project}/messages:send` over one reused HTTP/2 connection under a concurrency cap; outcomes classified by FCM's error codes.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridwhistle_dispatcher::Clock;
use gridwhistle_dispatcher::push::{BoxFuture, Channel, PushGateway, PushMessage, SendOutcome};
use gridwhistle_domain::Timestamp;
use http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// The scope FCM sends need.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// How long before its expiry an access token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Why the FCM client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum FcmSetupError {
    #[error(
        "the service-account key is not valid JSON with project_id, client_email and private_key"
    )]
    Key(#[source] serde_json::Error),
    #[error("the service-account private key is not an RSA key in PEM")]
    PrivateKey(#[source] jsonwebtoken::errors::Error),
    #[error("the HTTP client could not be built")]
    Http(#[source] reqwest::Error),
}

/// Why an access token could not be had.
#[derive(Debug, thiserror::Error)]
enum TokenError {
    #[error("signing the assertion failed")]
    Sign(#[source] jsonwebtoken::errors::Error),
    #[error("the token endpoint could not be reached")]
    Http(#[source] reqwest::Error),
    #[error("the token endpoint answered {0}")]
    Status(StatusCode),
    #[error("the token endpoint's answer is unreadable")]
    Body(#[source] serde_json::Error),
    #[error("the access token cannot be sent in a header")]
    Malformed,
}

/// The fields of a Google service-account key file the client uses.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    pub fn from_json(text: &str) -> Result<Self, FcmSetupError> {
        serde_json::from_str(text).map_err(FcmSetupError::Key)
    }
}

/// How the client reaches FCM.
#[derive(Debug, Clone)]
pub struct FcmSettings {
    pub account: ServiceAccount,
    /// `https://fcm.googleapis.com` in production; a local endpoint in tests.
    pub base_url: String,
    /// Overrides the key's `token_uri`.
    pub token_url: Option<String>,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// A send taking longer is abandoned and retried later.
    pub timeout: Duration,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

#[derive(Debug, Clone)]
struct Cached {
    token: Arc<str>,
    /// `Bearer {token}`, made once per token rather than once per send.
    header: http::HeaderValue,
    refresh_at: Timestamp,
}

/// Access tokens, fetched once and shared until shortly before they expire.
struct AccessTokens {
    http: reqwest::Client,
    key: EncodingKey,
    key_id: Option<String>,
    client_email: String,
    token_url: String,
    clock: Arc<dyn Clock>,
    cached: Mutex<Option<Cached>>,
    /// One refresh at a time; the others wait for its token.
    refreshing: tokio::sync::Mutex<()>,
}

impl fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokens")
            .field("client_email", &self.client_email)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    fn current(&self) -> Option<(Arc<str>, http::HeaderValue)> {
        let now = self.clock.now();
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|c| now < c.refresh_at)
            .map(|c| (c.token.clone(), c.header.clone()))
    }

    async fn get(&self) -> Result<(Arc<str>, http::HeaderValue), TokenError> {
        if let Some(token) = self.current() {
            return Ok(token);
        }
        let _refreshing = self.refreshing.lock().await;
        if let Some(token) = self.current() {
            return Ok(token);
        }
        let now = self.clock.now();
        let iat = now.as_unix_millis() / 1000;
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_url,
            iat,
            exp: iat + 3600,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid.clone_from(&self.key_id);
        let assertion =
            jsonwebtoken::encode(&header, &claims, &self.key).map_err(TokenError::Sign)?;
        // The assertion is base64url with dots: nothing in it needs form encoding.
        let response = self
            .http
            .post(&self.token_url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
            ))
            .send()
            .await
            .map_err(TokenError::Http)?;
        let status = response.status();
        if !status.is_success() {
            return Err(TokenError::Status(status));
        }
        let body = response.bytes().await.map_err(TokenError::Http)?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(TokenError::Body)?;
        let lifetime = Duration::from_secs(answer.expires_in);
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let mut header = http::HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
            .map_err(|_| TokenError::Malformed)?;
        header.set_sensitive(true);
        let token: Arc<str> = answer.access_token.into();
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
            token: token.clone(),
            header: header.clone(),
            refresh_at: now.saturating_add(lifetime - margin),
        });
        tracing::debug!(expires_in = answer.expires_in, "fcm access token refreshed");
        Ok((token, header))
    }

    /// Forgets `token` after FCM refused it, unless another refresh already replaced it.
    fn invalidate(&self, token: &Arc<str>) {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if cached
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.token, token))
        {
            *cached = None;
        }
    }
}

/// The FCM HTTP v1 gateway.
#[derive(Debug)]
pub struct FcmClient {
    http: reqwest::Client,
    send_url: String,
    tokens: AccessTokens,
    permits: Semaphore,
    timeout: Duration,
}

impl FcmClient {
    pub fn new(settings: FcmSettings, clock: Arc<dyn Clock>) -> Result<Self, FcmSetupError> {
        let key = EncodingKey::from_rsa_pem(settings.account.private_key.as_bytes())
            .map_err(FcmSetupError::PrivateKey)?;
        let base = settings.base_url.trim_end_matches('/');
        let mut builder = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(settings.timeout);
        // FCM speaks HTTP/2 over TLS (ALPN); a plain-text test endpoint speaks it from the first byte.
        if base.starts_with("http://") {
            builder = builder.http2_prior_knowledge();
        }
        let http = builder.build().map_err(FcmSetupError::Http)?;
        let token_url = settings
            .token_url
            .or(settings.account.token_uri.clone())
            .unwrap_or_else(|| "https://oauth2.googleapis.com/token".to_owned());
        let token_http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(FcmSetupError::Http)?;
        Ok(Self {
            http,
            send_url: format!(
                "{base}/v1/projects/{}/messages:send",
                settings.account.project_id
            ),
            tokens: AccessTokens {
                http: token_http,
                key,
                key_id: settings.account.private_key_id,
                client_email: settings.account.client_email,
                token_url,
                clock,
                cached: Mutex::new(None),
                refreshing: tokio::sync::Mutex::new(()),
            },
            permits: Semaphore::new(settings.concurrency.max(1)),
            timeout: settings.timeout,
        })
    }

    async fn send_message(&self, message: &PushMessage) -> SendOutcome {
        let Ok(_permit) = self.permits.acquire().await else {
            return SendOutcome::Retry {
                after: None,
                reason: "client closed".into(),
            };
        };
        let body = message_body(message);
        // A token FCM refuses (expired early, revoked) is replaced once at once; a second refusal waits for a retry.
        for first in [true, false] {
            let (token, bearer) = match self.tokens.get().await {
                Ok(token) => token,
                Err(err) => {
                    tracing::warn!(error = %err, "fcm access token unavailable");
                    return SendOutcome::Retry {
                        after: None,
                        reason: "OAUTH_TOKEN_UNAVAILABLE".into(),
                    };
                }
            };
            let response = self
                .http
                .post(&self.send_url)
                .header(http::header::AUTHORIZATION, bearer)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .timeout(self.timeout)
                .send()
                .await;
            let response = match response {
                Ok(response) => response,
                Err(err) => {
                    return SendOutcome::Retry {
                        after: None,
                        reason: if err.is_timeout() {
                            "TIMEOUT".into()
                        } else {
                            "CONNECTION".into()
                        },
                    };
                }
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && first {
                // Read to the end before retrying: a response dropped unread resets its stream, and HTTP/2 closes a
                // connection that resets too many (h2's limit on locally reset streams).
                let _ = response.bytes().await;
                self.tokens.invalidate(&token);
                continue;
            }
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            // Read to the end even on success: the stream stays open (and counts against FCM's limit on concurrent streams) until its body is done, so the cap must cover it.
            let body = match response.bytes().await {
                Ok(bytes) if !status.is_success() => bytes.to_vec(),
                Ok(_) | Err(_) => Vec::new(),
            };
            return classify(status, retry_after, &body);
        }
        SendOutcome::Retry {
            after: None,
            reason: "UNAUTHENTICATED".into(),
        }
    }
}

impl PushGateway for FcmClient {
    fn channel(&self) -> Channel {
        Channel::Fcm
    }

    fn send<'a>(&'a self, message: &'a PushMessage) -> BoxFuture<'a, SendOutcome> {
        Box::pin(self.send_message(message))
    }
}

/// The v1 request body, borrowed from the message: written straight to bytes, with no JSON tree in between.
#[derive(Serialize)]
struct Body<'a> {
    message: Message<'a>,
}

#[derive(Serialize)]
struct Message<'a> {
    token: &'a str,
    notification: Notification<'a>,
    data: Data<'a>,
    android: Android<'a>,
    apns: Apns<'a>,
}

#[derive(Serialize)]
struct Notification<'a> {
    title: &'a str,
    body: &'a str,
}

#[derive(Serialize)]
struct Data<'a> {
    notification: &'a str,
    kind: &'a str,
    subject: &'a str,
}

#[derive(Serialize)]
struct Android<'a> {
    priority: &'a str,
    collapse_key: &'a str,
    notification: AndroidNotification<'a>,
}

#[derive(Serialize)]
struct AndroidNotification<'a> {
    tag: &'a str,
}

#[derive(Serialize)]
struct Apns<'a> {
    headers: ApnsHeaders<'a>,
}

#[derive(Serialize)]
struct ApnsHeaders<'a> {
    #[serde(rename = "apns-priority")]
    priority: &'a str,
    #[serde(rename = "apns-collapse-id")]
    collapse_id: &'a str,
}

/// The v1 request body: generic text, ids only, priority and collapse settings for Android and APNs.
fn message_body(message: &PushMessage) -> Vec<u8> {
    let (android_priority, apns_priority) = if message.urgent {
        ("HIGH", "10")
    } else {
        ("NORMAL", "5")
    };
    let body = Body {
        message: Message {
            token: &message.token,
            notification: Notification {
                title: message.title,
                body: message.body,
            },
            data: Data {
                notification: &message.notification,
                kind: message.kind.as_str(),
                subject: &message.subject,
            },
            android: Android {
                priority: android_priority,
                collapse_key: &message.collapse_key,
                notification: AndroidNotification {
                    tag: &message.collapse_key,
                },
            },
            apns: Apns {
                headers: ApnsHeaders {
                    priority: apns_priority,
                    collapse_id: &message.collapse_key,
                },
            },
        },
    };
    // Serialising borrowed strings into a Vec cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorStatus,
}

#[derive(Deserialize, Default)]
struct ErrorStatus {
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default, rename = "errorCode")]
    error_code: Option<String>,
}

/// FCM's answer as an outcome, by its error code first and its HTTP status after.
fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> SendOutcome {
    if status.is_success() {
        return SendOutcome::Delivered;
    }
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let code = parsed
        .error
        .details
        .iter()
        .find_map(|d| d.error_code.clone())
        .unwrap_or(parsed.error.status);
    match (code.as_str(), status) {
        ("UNREGISTERED" | "SENDER_ID_MISMATCH", _) | (_, StatusCode::NOT_FOUND) => {
            SendOutcome::Unregistered
        }
        ("INVALID_ARGUMENT", _) | (_, StatusCode::BAD_REQUEST) => SendOutcome::Rejected {
            reason: if code.is_empty() {
                "INVALID_ARGUMENT".into()
            } else {
                code
            },
        },
        _ => SendOutcome::Retry {
            after: retry_after,
            reason: if code.is_empty() {
                format!("HTTP {}", status.as_u16())
            } else {
                code
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use gridwhistle_dispatcher::notify::NoticeKind;

    use super::*;

    fn fcm_error(status: u16, code: &str) -> Vec<u8> {
        serde_json::json!({"error": {"code": status, "message": "m", "status": "S",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn fcm_error_codes_decide_between_deactivating_dropping_and_retrying() {
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert_eq!(classify(s(200), None, b"{}"), SendOutcome::Delivered);
        assert_eq!(
            classify(s(404), None, &fcm_error(404, "UNREGISTERED")),
            SendOutcome::Unregistered
        );
        assert_eq!(classify(s(404), None, b""), SendOutcome::Unregistered);
        assert_eq!(
            classify(s(400), None, &fcm_error(400, "INVALID_ARGUMENT")),
            SendOutcome::Rejected {
                reason: "INVALID_ARGUMENT".into()
            }
        );
        assert_eq!(
            classify(
                s(429),
                Some(Duration::from_secs(7)),
                &fcm_error(429, "QUOTA_EXCEEDED")
            ),
            SendOutcome::Retry {
                after: Some(Duration::from_secs(7)),
                reason: "QUOTA_EXCEEDED".into()
            }
        );
        assert_eq!(
            classify(s(503), None, b"<html>"),
            SendOutcome::Retry {
                after: None,
                reason: "HTTP 503".into()
            }
        );
        assert_eq!(
            classify(s(500), None, &fcm_error(500, "INTERNAL")),
            SendOutcome::Retry {
                after: None,
                reason: "INTERNAL".into()
            }
        );
    }

    #[test]
    fn the_body_carries_ids_and_generic_text_and_wakes_the_phone_only_when_urgent() {
        let (title, body) = NoticeKind::Escalation.generic_text(true);
        let message = PushMessage {
            token: "tok".into(),
            notification: "n-1".into(),
            kind: NoticeKind::Escalation,
            subject: "cases/c-1".into(),
            collapse_key: "c-1/report_in".into(),
            urgent: true,
            title,
            body,
        };
        let json: serde_json::Value = serde_json::from_slice(&message_body(&message)).unwrap();
        let m = &json["message"];
        assert_eq!(m["token"], "tok");
        assert_eq!(m["data"]["subject"], "cases/c-1");
        assert_eq!(m["android"]["priority"], "HIGH");
        assert_eq!(m["apns"]["headers"]["apns-priority"], "10");
        assert_eq!(m["apns"]["headers"]["apns-collapse-id"], "c-1/report_in");
        let calm = PushMessage {
            urgent: false,
            ..message
        };
        let json: serde_json::Value = serde_json::from_slice(&message_body(&calm)).unwrap();
        assert_eq!(json["message"]["android"]["priority"], "NORMAL");
        assert_eq!(json["message"]["apns"]["headers"]["apns-priority"], "5");
    }
}
