//! `AuthService`: login, refresh, logout and who-am-i over gRPC.

use std::sync::Arc;

use gridwhistle_proto::v1::{self, auth_service_server::AuthService};
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::convert::{role_to_proto, timestamp};
use super::error::ApiError;
use crate::auth::{Authenticator, Session, VerifiedAccess, bearer_token};
use crate::time_limits::TimeLimits;

/// The gRPC face of the [`Authenticator`]; its calls need no access token, except `WhoAmI`, which checks its own.
#[derive(Debug, Clone)]
pub struct AuthApi {
    auth: Arc<Authenticator>,
    time_limits: Arc<TimeLimits>,
}

impl AuthApi {
    pub fn new(auth: Arc<Authenticator>, time_limits: Arc<TimeLimits>) -> Self {
        Self { auth, time_limits }
    }
}

fn token_pair(session: &Session) -> v1::TokenPair {
    v1::TokenPair {
        access_token: session.access.token.clone(),
        access_token_expire_time: Some(timestamp(session.access.expires_at)),
        refresh_token: session.refresh.expose(),
        refresh_token_expire_time: Some(timestamp(session.refresh_expires_at)),
    }
}

pub(crate) fn caller_to_proto(access: &VerifiedAccess) -> v1::Caller {
    let binding = &access.actor.binding;
    v1::Caller {
        user: format!("users/{}", access.actor.user_id),
        username: access.username.to_string(),
        role: role_to_proto(binding.role()).into(),
        grid: binding
            .grid()
            .map(|g| format!("grids/{g}"))
            .unwrap_or_default(),
        department: binding
            .department()
            .map(|d| format!("departments/{d}"))
            .unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    #[instrument(skip_all)]
    async fn login(
        &self,
        request: Request<v1::LoginRequest>,
    ) -> Result<Response<v1::LoginResponse>, Status> {
        let client = request.remote_addr().map(|a| a.ip());
        let request = request.into_inner();
        let session = self
            .auth
            .login(&request.username, &request.password, client)
            .await
            .map_err(ApiError::from)?;
        let caller = VerifiedAccess {
            actor: gridwhistle_domain::Actor {
                user_id: session.user.id,
                binding: session.user.binding.clone(),
            },
            username: session.user.username.clone(),
            expires_at: session.access.expires_at,
        };
        Ok(Response::new(v1::LoginResponse {
            tokens: Some(token_pair(&session)),
            caller: Some(caller_to_proto(&caller)),
        }))
    }

    #[instrument(skip_all)]
    async fn refresh_token(
        &self,
        request: Request<v1::RefreshTokenRequest>,
    ) -> Result<Response<v1::RefreshTokenResponse>, Status> {
        let session = self
            .auth
            .refresh(&request.into_inner().refresh_token)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::RefreshTokenResponse {
            tokens: Some(token_pair(&session)),
        }))
    }

    #[instrument(skip_all)]
    async fn logout(
        &self,
        request: Request<v1::LogoutRequest>,
    ) -> Result<Response<v1::LogoutResponse>, Status> {
        self.auth
            .logout(&request.into_inner().refresh_token)
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(v1::LogoutResponse {}))
    }

    #[instrument(skip_all)]
    async fn who_am_i(
        &self,
        request: Request<v1::WhoAmIRequest>,
    ) -> Result<Response<v1::WhoAmIResponse>, Status> {
        let access = bearer_token(&request)
            .and_then(|token| self.auth.signer().verify(token).ok())
            .ok_or(ApiError::Unauthenticated)?;
        Ok(Response::new(v1::WhoAmIResponse {
            caller: Some(caller_to_proto(&access)),
            access_token_expire_time: Some(timestamp(access.expires_at)),
            provisional_calendar_years: self.time_limits.provisional_years(),
        }))
    }
}
