//! Authentication: password login, rotating refresh tokens with replay detection, and the interceptor that turns a bearer token into a caller.

pub mod password;
pub mod revocations;
pub mod throttle;
pub mod tokens;

use std::net::IpAddr;
use std::sync::Arc;

use gridwhistle_dispatcher::Clock;
use gridwhistle_domain::{Password, Timestamp, Username};
use tonic::service::Interceptor;
use tonic::{Request, Status};
use tracing::{debug, info, instrument, warn};

use crate::storage::{NewRefreshToken, RefreshTokenRecord, StorageError, Store, User};
pub use password::HashError;
pub use tokens::{
    AccessToken, RefreshSecret, TokenError, TokenSettings, TokenSigner, VerifiedAccess,
};

/// Why an authentication step failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong username or password")]
    BadCredentials,
    #[error("refresh token is unknown, revoked or expired")]
    BadRefreshToken,
    #[error("a used refresh token was presented again; its session is revoked")]
    RefreshReplayed,
    /// Too many failed logins under this name or from this address: refused, unchecked, for `retry_after`.
    #[error("too many failed logins; refused for {retry_after:?}")]
    Throttled { retry_after: std::time::Duration },
    #[error("storage failed")]
    Storage(#[from] StorageError),
    #[error("password hashing failed")]
    Hash(#[from] HashError),
    #[error("token signing failed")]
    Token(#[from] TokenError),
}

/// What a successful login or refresh hands to the client.
#[derive(Debug)]
pub struct Session {
    pub user: User,
    pub access: AccessToken,
    pub refresh: RefreshSecret,
    pub refresh_expires_at: Timestamp,
    /// The session's family: every refresh token a login leads to shares it.
    pub family_id: String,
}

/// Logs users in and keeps their sessions.
#[derive(Debug)]
pub struct Authenticator {
    store: Store,
    signer: Arc<TokenSigner>,
    clock: Arc<dyn Clock>,
    // Checked when the user is unknown, so a login takes as long whether or not the name exists.
    decoy_hash: String,
}

impl Authenticator {
    pub async fn new(
        store: Store,
        signer: Arc<TokenSigner>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AuthError> {
        let decoy = Password::parse(&RefreshSecret::generate().expose())
            .map_err(|_| AuthError::BadCredentials)?;
        let decoy_hash = password::hash(decoy).await?;
        Ok(Self {
            store,
            signer,
            clock,
            decoy_hash,
        })
    }

    pub fn signer(&self) -> &Arc<TokenSigner> {
        &self.signer
    }

    /// Logs `username` in from `client` (when known), unless failed logins under the name or from the address are throttled (`throttle`).
    #[instrument(skip_all)]
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Session, AuthError> {
        let keys: Vec<String> = std::iter::once(throttle::user_key(username))
            .chain(client.map(throttle::address_key))
            .collect();
        let now = self.clock.now();
        if let Some(until) = self.store.logins().locked_until(&keys, now).await? {
            return Err(AuthError::Throttled {
                retry_after: until.duration_since(now),
            });
        }
        let credentials = match (Username::parse(username), Password::parse(password)) {
            (Ok(username), Ok(password)) => {
                match self.store.directory().find_credentials(&username).await? {
                    Some(found) => password::verify(password, found.password_hash.clone())
                        .await?
                        .then_some(found),
                    None => {
                        password::verify(password, self.decoy_hash.clone()).await?;
                        None
                    }
                }
            }
            _ => None,
        };
        let Some(credentials) = credentials.filter(|c| !c.user.disabled) else {
            info!("login refused");
            self.count_failure(&keys, client.is_some(), now).await?;
            return Err(AuthError::BadCredentials);
        };
        self.store.logins().clear(&keys[0]).await?;
        let family = uuid::Uuid::now_v7().simple().to_string();
        let session = self.open_session(credentials.user, family)?;
        self.store
            .directory()
            .insert_refresh_token(self.refresh_row(&session))
            .await?;
        info!(user = %session.user.id, role = %session.user.binding.role(), "login");
        Ok(session)
    }

    /// Forgets, every hour, the failed logins of names and addresses not locked and quiet for a day, so names tried once and never again do not pile up; runs until dropped.
    pub async fn keep_throttles_pruned(self: Arc<Self>) {
        crate::periodic::every(throttle::PRUNE_EVERY, || async {
            let now = self.clock.now();
            let quiet_since = now.saturating_sub(throttle::FORGET_AFTER);
            match self.store.logins().prune(now, quiet_since).await {
                Ok(0) => {}
                Ok(forgotten) => debug!(forgotten, "quiet failed-login counts forgotten"),
                Err(err) => warn!(error = %err, "failed-login counts were not pruned"),
            }
        })
        .await;
    }

    /// Counts a failed login under the name (`keys[0]`) and, when known, the address (`keys[1]`), and locks either that reached its limit.
    async fn count_failure(
        &self,
        keys: &[String],
        has_address: bool,
        now: Timestamp,
    ) -> Result<(), AuthError> {
        let logins = self.store.logins();
        let in_a_row = logins
            .count_failure(&keys[0], now, Timestamp::from_unix_millis(i64::MIN))
            .await?;
        if let Some(wait) = throttle::user_wait(in_a_row) {
            info!(
                failures = in_a_row,
                wait_secs = wait.as_secs(),
                "login name throttled"
            );
            logins.lock(&keys[0], now.saturating_add(wait)).await?;
        }
        if has_address {
            let window_start = now.saturating_sub(throttle::ADDRESS_WINDOW);
            let failures = logins.count_failure(&keys[1], now, window_start).await?;
            if let Some(wait) = throttle::address_wait(failures) {
                warn!(failures, "client address throttled");
                logins.lock(&keys[1], now.saturating_add(wait)).await?;
            }
        }
        Ok(())
    }

    /// Trades a refresh token for a new session of the same family; a replayed token revokes the family.
    #[instrument(skip_all)]
    pub async fn refresh(&self, presented: &str) -> Result<Session, AuthError> {
        let secret = RefreshSecret::parse(presented).ok_or(AuthError::BadRefreshToken)?;
        let record = self
            .store
            .directory()
            .find_refresh_token(&secret.id)
            .await?
            .filter(|record| secret.matches(&record.secret_sha256))
            .ok_or(AuthError::BadRefreshToken)?;
        let now = self.clock.now();
        if record.revoked_at.is_some() || record.expires_at <= now {
            return Err(AuthError::BadRefreshToken);
        }
        if record.used_at.is_some() {
            return Err(self.revoke_replayed(&record, now).await);
        }
        let user = self.store.directory().get_user(&record.user_id).await?;
        if user.disabled {
            self.store
                .directory()
                .revoke_refresh_family(&record.family_id, now)
                .await?;
            return Err(AuthError::BadRefreshToken);
        }
        let session = self.open_session(user, record.family_id.clone())?;
        if !self
            .store
            .directory()
            .rotate_refresh_token(&record.id, self.refresh_row(&session))
            .await?
        {
            // Another request used this token between our read and our write: a replay too.
            return Err(self.revoke_replayed(&record, now).await);
        }
        debug!(user = %session.user.id, "session refreshed");
        Ok(session)
    }

    /// Ends the session a refresh token belongs to; an unknown token changes nothing.
    #[instrument(skip_all)]
    pub async fn logout(&self, presented: &str) -> Result<(), AuthError> {
        let Some(secret) = RefreshSecret::parse(presented) else {
            return Ok(());
        };
        let record = self
            .store
            .directory()
            .find_refresh_token(&secret.id)
            .await?;
        if let Some(record) = record.filter(|r| secret.matches(&r.secret_sha256)) {
            self.store
                .directory()
                .revoke_refresh_family(&record.family_id, self.clock.now())
                .await?;
            info!(user = %record.user_id, "logout");
        }
        Ok(())
    }

    /// A used refresh token came back: its family and every access token of its user are revoked.
    async fn revoke_replayed(&self, record: &RefreshTokenRecord, now: Timestamp) -> AuthError {
        warn!(user = %record.user_id, "refresh token replayed; revoking its session and the user's access tokens");
        match self
            .store
            .directory()
            .revoke_replayed_family(&record.family_id, &record.user_id, now)
            .await
        {
            Ok(generation) => {
                self.signer.revocations().record(record.user_id, generation);
                AuthError::RefreshReplayed
            }
            Err(err) => AuthError::Storage(err),
        }
    }

    fn open_session(&self, user: User, family: String) -> Result<Session, AuthError> {
        let access = self.signer.issue(
            user.id,
            &user.username,
            &user.binding,
            user.token_generation,
        )?;
        let refresh = RefreshSecret::generate();
        let refresh_expires_at = self
            .clock
            .now()
            .saturating_add(self.signer.settings().refresh_ttl);
        Ok(Session {
            user,
            access,
            refresh,
            refresh_expires_at,
            family_id: family,
        })
    }

    fn refresh_row(&self, session: &Session) -> NewRefreshToken {
        NewRefreshToken {
            id: session.refresh.id.clone(),
            family_id: session.family_id.clone(),
            user_id: session.user.id,
            secret_sha256: session.refresh.sha256_hex(),
            issued_at: self.clock.now(),
            expires_at: session.refresh_expires_at,
        }
    }
}

/// Requires `authorization: Bearer {access token}` on every call and attaches the verified caller to the request.
#[derive(Debug, Clone)]
pub struct RequireAuth {
    signer: Arc<TokenSigner>,
}

impl RequireAuth {
    pub fn new(signer: Arc<TokenSigner>) -> Self {
        Self { signer }
    }
}

impl Interceptor for RequireAuth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let verified = bearer_token(&request)
            .ok_or(TokenError::Invalid("no bearer token".to_owned()))
            .and_then(|token| self.signer.verify(token));
        match verified {
            Ok(caller) => {
                // The access line names who called (a user id, nothing personal).
                tracing::Span::current()
                    .record("user", tracing::field::display(caller.actor.user_id));
                request.extensions_mut().insert(caller);
                Ok(request)
            }
            Err(err) => {
                debug!(reason = %err, "access token refused");
                Err(Status::unauthenticated("a valid access token is required"))
            }
        }
    }
}

/// The token of an `authorization: Bearer …` header, if any.
pub fn bearer_token<T>(request: &Request<T>) -> Option<&str> {
    let value = request.metadata().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}
