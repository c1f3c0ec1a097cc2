//! `Bearer<S>`: the management API's typed extractor. A handler names the scope it needs in its
//! signature (`Bearer<TokensRead>`); the token is checked here, in memory (signature, expiry,
//! audience, revocation), never with a database query.
//!
//! The token's party restriction (`domain::access`) comes with it: [`Bearer::parties`] is what
//! the handler passes to every service that lists, reads or writes party data, and a route that
//! needs every party (creating parties, clients, users) says so in its type:
//! `Bearer<ClientsWrite, EveryParty>` refuses a restricted caller with 403 `other-party`.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::error::AdminError;
use crate::domain::access::PartyAccess;
use crate::domain::ids::PartyKey;
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

/// What a route requires of the token's party restriction.
pub trait PartyRequirement {
    /// True: only a caller that may act for every party.
    const EVERY_PARTY: bool;
}

/// A restricted caller is let in; the services it calls see only its parties.
pub struct SomeParties;
impl PartyRequirement for SomeParties {
    const EVERY_PARTY: bool = false;
}

/// Only an unrestricted caller (creating parties, clients and users).
pub struct EveryParty;
impl PartyRequirement for EveryParty {
    const EVERY_PARTY: bool = true;
}

/// The caller of a management route: a valid bearer token that carries `S` (and, with
/// `P = EveryParty`, no party restriction).
pub struct Bearer<S: ScopeRequirement, P: PartyRequirement = SomeParties> {
    pub principal: Principal,
    _requirements: PhantomData<(S, P)>,
}

impl<S: ScopeRequirement, P: PartyRequirement> Bearer<S, P> {
    /// The parties this caller may act for: passed to every service that touches party data.
    pub fn parties(&self) -> &PartyAccess {
        &self.principal.parties
    }

    /// A write that names `party` (a body field, a filter): refused with 403 `other-party` when
    /// the caller may not act for it.
    pub fn may_write_for(&self, field: &str, party: &PartyKey) -> Result<(), AdminError> {
        if self.principal.parties.permits(party) {
            Ok(())
        } else {
            Err(AdminError::OtherParty(format!(
                "{field}: {party} is not one of the caller's parties ({})",
                self.principal.parties
            )))
        }
    }

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

impl<S: ScopeRequirement + 'static, P: PartyRequirement + 'static> FromRequest for Bearer<S, P> {
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
            if P::EVERY_PARTY && principal.parties.is_restricted() {
                return Err(AdminError::OtherParty(format!(
                    "this route needs a caller that may act for every party; the token is restricted to {}",
                    principal.parties
                )));
            }
            Ok(Bearer {
                principal,
                _requirements: PhantomData,
            })
        })
    }
}
