//! Access tokens (HS256 JWTs with issuer, audience and expiry, checked against the injected clock) and opaque refresh tokens.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gridwhistle_dispatcher::Clock;
use gridwhistle_domain::{Actor, Binding, DepartmentId, GridId, Role, Timestamp, UserId, Username};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::revocations::Revocations;

/// Why a token was refused. The variants are for logs; clients only ever see "unauthenticated".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed or badly signed token: {0}")]
    Invalid(String),
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token revoked")]
    Revoked,
    #[error("token claims are inconsistent: {0}")]
    BadClaims(String),
    #[error("token signing failed: {0}")]
    Signing(String),
}

/// Who signs and checks tokens, and for how long they live.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Tolerated clock skew between replicas when checking expiry.
    pub leeway: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    /// Not before: a token is refused until this time (less the leeway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    exp: i64,
    /// The user's token generation at issue ([`Revocations`]); tokens from before generations existed count as 0.
    #[serde(default, rename = "gen")]
    generation: i64,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dept: Option<String>,
    name: String,
}

/// The caller an access token vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccess {
    pub actor: Actor,
    pub username: Username,
    pub expires_at: Timestamp,
}

/// A signed access token and when it stops working.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: Timestamp,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Issues and checks access tokens with one HS256 key.
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    settings: TokenSettings,
    clock: Arc<dyn Clock>,
    revocations: Arc<Revocations>,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    pub fn new(secret: &[u8], settings: TokenSettings, clock: Arc<dyn Clock>) -> Self {
        // The allow-list is HS256 alone: a token naming any other algorithm, "none" included, is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.required_spec_claims =
            HashSet::from(["exp", "iss", "aud", "sub"].map(str::to_owned));
        // Expiry is checked below against the injected clock, not the library's wall clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            settings,
            clock,
            revocations: Arc::new(Revocations::default()),
        }
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// The token generations this signer refuses tokens below.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    /// Signs an access token for the user in their current token `generation`.
    pub fn issue(
        &self,
        user_id: UserId,
        username: &Username,
        binding: &Binding,
        generation: i64,
    ) -> Result<AccessToken, TokenError> {
        let now = self.clock.now();
        let expires_at = now.saturating_add(self.settings.access_ttl);
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: user_id.to_string(),
            iat: now.as_unix_seconds(),
            nbf: None,
            exp: expires_at.as_unix_seconds(),
            generation,
            role: binding.role().as_str().to_owned(),
            grid: binding.grid().map(|g| g.as_str().to_owned()),
            dept: binding.department().map(|d| d.as_str().to_owned()),
            name: username.as_str().to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|err| TokenError::Signing(err.to_string()))?;
        Ok(AccessToken {
            token,
            expires_at: Timestamp::from_unix_millis(claims.exp.saturating_mul(1000)),
        })
    }

    pub fn verify(&self, token: &str) -> Result<VerifiedAccess, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| TokenError::Invalid(err.to_string()))?;
        let claims = data.claims;
        // Claims are whole seconds; compared as instants, with the leeway as a duration.
        let instant = |seconds: i64, claim: &str| {
            seconds
                .checked_mul(1000)
                .map(Timestamp::from_unix_millis)
                .ok_or_else(|| TokenError::BadClaims(format!("{claim} is out of range")))
        };
        let now = Timestamp::from_unix_millis(self.clock.now().as_unix_seconds() * 1000);
        let leeway = self.settings.leeway;
        if now >= instant(claims.exp, "exp")?.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = claims.nbf
            && now < instant(nbf, "nbf")?.saturating_sub(leeway)
        {
            return Err(TokenError::NotYetValid);
        }
        let bad = |what: &dyn fmt::Display| TokenError::BadClaims(what.to_string());
        let role: Role = claims.role.parse().map_err(|e| bad(&e))?;
        let grid = claims
            .grid
            .as_deref()
            .map(GridId::parse)
            .transpose()
            .map_err(|e| bad(&e))?;
        let dept = claims
            .dept
            .as_deref()
            .map(DepartmentId::parse)
            .transpose()
            .map_err(|e| bad(&e))?;
        let user_id = UserId::parse(&claims.sub).map_err(|e| bad(&e))?;
        if !self.revocations.allows(&user_id, claims.generation) {
            return Err(TokenError::Revoked);
        }
        Ok(VerifiedAccess {
            actor: Actor {
                user_id,
                binding: Binding::new(role, grid, dept).map_err(|e| bad(&e))?,
            },
            username: Username::parse(&claims.name).map_err(|e| bad(&e))?,
            expires_at: Timestamp::from_unix_millis(claims.exp.saturating_mul(1000)),
        })
    }
}

/// A refresh token as the client holds it: `{id}.{secret}`; only the id and the secret's SHA-256 are stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshSecret {
    pub id: String,
    secret: String,
}

impl fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshSecret")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl RefreshSecret {
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut secret);
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            secret: URL_SAFE_NO_PAD.encode(secret),
        }
    }

    pub fn parse(token: &str) -> Option<Self> {
        let (id, secret) = token.split_once('.')?;
        let well_formed = id.len() == 32
            && id.bytes().all(|b| b.is_ascii_hexdigit())
            && !secret.is_empty()
            && secret.len() <= 64;
        well_formed.then(|| Self {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The text handed to the client.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    pub fn sha256_hex(&self) -> String {
        Sha256::digest(self.secret.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Compares against a stored digest in constant time.
    pub fn matches(&self, stored_sha256_hex: &str) -> bool {
        self.sha256_hex()
            .as_bytes()
            .ct_eq(stored_sha256_hex.as_bytes())
            .into()
    }
}

/// A fresh random signing secret, base64-encoded for storage.
pub fn generate_signing_secret() -> String {
    let mut secret = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut secret);
    URL_SAFE_NO_PAD.encode(secret)
}

/// Decodes a stored signing secret.
pub fn decode_signing_secret(encoded: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|err| TokenError::Signing(format!("stored signing key is not base64: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwhistle_dispatcher::ManualClock;

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "gridwhistle".to_owned(),
            audience: "gridwhistle-api".to_owned(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(86_400),
            leeway: Duration::from_secs(0),
        }
    }

    fn signer(clock: Arc<ManualClock>) -> TokenSigner {
        TokenSigner::new(b"0123456789abcdef0123456789abcdef", settings(), clock)
    }

    fn worker() -> (UserId, Username, Binding) {
        (
            UserId::generate(),
            Username::parse("wang.li").unwrap(),
            Binding::GridWorker(GridId::parse("g-7").unwrap()),
        )
    }

    #[test]
    fn an_issued_token_verifies_to_the_same_actor_until_it_expires() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
            1_800_000_000_000,
        )));
        let signer = signer(clock.clone());
        let (id, name, binding) = worker();
        let token = signer.issue(id, &name, &binding, 0).unwrap();
        let verified = signer.verify(&token.token).unwrap();
        assert_eq!(
            verified.actor,
            Actor {
                user_id: id,
                binding
            }
        );
        assert_eq!(verified.username, name);
        clock.advance(Duration::from_secs(899));
        assert!(signer.verify(&token.token).is_ok());
        clock.advance(Duration::from_secs(1));
        assert_eq!(signer.verify(&token.token), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_not_valid_yet_is_refused_until_its_nbf_less_the_leeway() {
        let now = Timestamp::from_unix_millis(1_800_000_000_000);
        let clock = Arc::new(ManualClock::new(now));
        let mut lenient = settings();
        lenient.leeway = Duration::from_secs(30);
        let signer = TokenSigner::new(b"0123456789abcdef0123456789abcdef", lenient, clock.clone());
        let (id, name, binding) = worker();
        // A token correctly signed with our key, but valid only from ten minutes on.
        let claims = Claims {
            iss: "gridwhistle".to_owned(),
            aud: "gridwhistle-api".to_owned(),
            sub: id.to_string(),
            iat: now.as_unix_seconds(),
            nbf: Some(now.as_unix_seconds() + 600),
            exp: now.as_unix_seconds() + 900,
            generation: 0,
            role: binding.role().as_str().to_owned(),
            grid: binding.grid().map(|g| g.as_str().to_owned()),
            dept: None,
            name: name.as_str().to_owned(),
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(signer.verify(&token), Err(TokenError::NotYetValid));
        clock.advance(Duration::from_secs(569));
        assert_eq!(signer.verify(&token), Err(TokenError::NotYetValid));
        clock.advance(Duration::from_secs(1));
        assert!(
            signer.verify(&token).is_ok(),
            "within the leeway of its nbf"
        );
    }

    #[test]
    fn a_token_of_a_revoked_generation_is_refused() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
            1_800_000_000_000,
        )));
        let signer = signer(clock);
        let (id, name, binding) = worker();
        let old = signer.issue(id, &name, &binding, 0).unwrap();
        assert!(signer.verify(&old.token).is_ok());
        signer.revocations().record(id, 1);
        assert_eq!(signer.verify(&old.token), Err(TokenError::Revoked));
        let new = signer.issue(id, &name, &binding, 1).unwrap();
        assert!(signer.verify(&new.token).is_ok());
    }

    #[test]
    fn tokens_from_another_key_issuer_or_algorithm_are_refused() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
            1_800_000_000_000,
        )));
        let (id, name, binding) = worker();
        let ours = signer(clock.clone());
        let other_key = TokenSigner::new(
            b"another key entirely, 32 bytes!!",
            settings(),
            clock.clone(),
        );
        let foreign = other_key.issue(id, &name, &binding, 0).unwrap();
        assert!(matches!(
            ours.verify(&foreign.token),
            Err(TokenError::Invalid(_))
        ));

        let mut other_settings = settings();
        other_settings.issuer = "someone-else".to_owned();
        let other_issuer =
            TokenSigner::new(b"0123456789abcdef0123456789abcdef", other_settings, clock);
        let foreign = other_issuer.issue(id, &name, &binding, 0).unwrap();
        assert!(matches!(
            ours.verify(&foreign.token),
            Err(TokenError::Invalid(_))
        ));

        // An unsigned token claiming alg "none" with otherwise valid claims.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let genuine = ours.issue(id, &name, &binding, 0).unwrap();
        let payload = genuine.token.split('.').nth(1).unwrap();
        assert!(matches!(
            ours.verify(&format!("{header}.{payload}.")),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn a_tampered_payload_breaks_the_signature() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
            1_800_000_000_000,
        )));
        let ours = signer(clock);
        let (id, name, binding) = worker();
        let token = ours.issue(id, &name, &binding, 0).unwrap().token;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        let forged = claims.replace("grid_worker", "admin");
        parts[1] = URL_SAFE_NO_PAD.encode(forged);
        assert!(matches!(
            ours.verify(&parts.join(".")),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn refresh_secrets_round_trip_and_match_only_their_digest() {
        let secret = RefreshSecret::generate();
        let parsed = RefreshSecret::parse(&secret.expose()).unwrap();
        assert_eq!(parsed, secret);
        assert!(parsed.matches(&secret.sha256_hex()));
        assert!(!RefreshSecret::generate().matches(&secret.sha256_hex()));
        assert_eq!(RefreshSecret::parse("no-dot"), None);
        assert_eq!(RefreshSecret::parse("short.secret"), None);
        assert!(!format!("{secret:?}").contains(&secret.expose()));
    }
}
