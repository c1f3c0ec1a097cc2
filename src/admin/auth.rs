//! `Bearer<S>`: the management API's typed extractor. A handler names the scope it needs in its
//! signature (`Bearer<TokensRead>`); the token is checked here, in memory (signature, expiry,
//! audience, revocation), never with a database query.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::error::AdminError;
use crate::domain::oauth::Scope;
use crate::ops::request_context::CallerTag;
use crate::service::oauth::tokens::Principal;
use crate::service::AppState;

/// What a route requires of the token's scopes.
pub trait ScopeRequirement {
    /// `None`: any valid token.
    const SCOPE: Option<Scope>;
}

macro_rules! scope_requirements {
    ($($name:ident => $scope:expr),+ $(,)?) => {
        $(
            #[doc = concat!("Requires the scope `", stringify!($name), "`.")]
            pub struct $name;
            impl ScopeRequirement for $name {
                const SCOPE: Option<Scope> = Some($scope);
            }
        )+
    };
}

scope_requirements! {
    TokensRead => Scope::TokensRead,
    TokensWrite => Scope::TokensWrite,
    PartiesRead => Scope::PartiesRead,
    PartiesWrite => Scope::PartiesWrite,
    SessionsRead => Scope::SessionsRead,
    AuditRead => Scope::AuditRead,
    ClientsWrite => Scope::ClientsWrite,
}

/// Any valid token, whatever its scopes.
pub struct AnyScope;
impl ScopeRequirement for AnyScope {
    const SCOPE: Option<Scope> = None;
}

/// The caller of a management route: a valid bearer token that carries `S`.
pub struct Bearer<S: ScopeRequirement> {
    pub principal: Principal,
    _scope: PhantomData<S>,
}

impl<S: ScopeRequirement> Bearer<S> {
    /// Who the change log names for what this caller changes: `client:<id>` or `user:<subject>`.
    pub fn actor(&self) -> String {
        match &self.principal.client_id {
            Some(client) if *client == self.principal.subject => format!("client:{client}"),
            Some(client) => format!("user:{} via client:{client}", self.principal.subject),
            None => format!("user:{}", self.principal.subject),
        }
    }
}

/// The token of `Authorization: Bearer <token>`; anything else is "no token" (RFC 6750 §3.1).
fn bearer_token(req: &HttpRequest) -> Result<String, AdminError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AdminError::NoToken)?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AdminError::NoToken);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AdminError::InvalidRequest(
            "the Authorization header has no bearer token".into(),
        ));
    }
    Ok(token.to_owned())
}

impl<S: ScopeRequirement + 'static> FromRequest for Bearer<S> {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or(AdminError::Internal)?
                .clone();
            let token = bearer_token(&req)?;
            let principal = state
                .oauth
                .verify(&state.store, &token)
                .await
                .map_err(|rejection| AdminError::InvalidToken(rejection.to_string()))?;
            let tag = match &principal.client_id {
                Some(client) => format!("client:{client}"),
                None => format!("sub:{}", principal.subject),
            };
            req.extensions_mut().insert(CallerTag(tag));
            if let Some(scope) = S::SCOPE {
                if !principal.scopes.contains(scope) {
                    return Err(AdminError::InsufficientScope(scope));
                }
            }
            Ok(Bearer {
                principal,
                _scope: PhantomData,
            })
        })
    }
}
