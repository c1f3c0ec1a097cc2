//! Typed extractors for OCPI authentication (credentials token) and party identity (routing
//! headers). Handlers name what they need in their signature; the checks live here.

use std::marker::PhantomData;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use base64::Engine;
use futures_util::future::LocalBoxFuture;

use super::error::OcpiError;
use super::routing::RoutedCaller;
use crate::domain::ids::PartyKey;
use crate::domain::party::{CredentialsKind, PartyRole, Platform, Role};
use crate::error::Error;
use crate::ops::request_context::CallerTag;
use crate::service::credentials::{platform_for_token, TokenLookup};
use crate::service::AppState;

/// OCPI's bound on a credentials token (`string(64)`), and the Base64 form of the longest one.
const MAX_TOKEN_LEN: usize = 64;
const MAX_ENCODED_TOKEN_LEN: usize = 88;

/// What may be a credentials token: 1 to 64 printable, non-whitespace ASCII characters.
fn is_token_shaped(token: &str) -> bool {
    (1..=MAX_TOKEN_LEN).contains(&token.len()) && token.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Why the header yields nothing to look up: answered without touching the database.
enum Rejected {
    /// No `Token` header at all, or another scheme: the message says how to call.
    Header(Error),
    /// A token no platform can hold (too long, not printable): answered like an unknown one.
    Malformed,
}

/// The token values to try for an `Authorization: Token ...` header: the Base64-decoded token
/// (OCPI 2.2+) first, then the raw value (many 2.1.1/2.2 peers send it raw); only values that can
/// be a credentials token at all.
fn candidate_tokens(headers: &HeaderMap) -> Result<Vec<String>, Rejected> {
    let missing = || {
        Rejected::Header(Error::Unauthorized(
            "missing Authorization header (Token ...)".into(),
        ))
    };
    let value = headers
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| Rejected::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("token") || token.is_empty() {
        return Err(Rejected::Header(Error::Unauthorized(
            "the Authorization header must be `Token <credentials token>`".into(),
        )));
    }
    if token.len() > MAX_ENCODED_TOKEN_LEN {
        return Err(Rejected::Malformed);
    }
    let mut candidates = Vec::with_capacity(2);
    if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token) {
        if let Ok(text) = String::from_utf8(decoded) {
            if is_token_shaped(&text) {
                candidates.push(text);
            }
        }
    }
    if is_token_shaped(token) {
        candidates.push(token.to_owned());
    }
    if candidates.is_empty() {
        return Err(Rejected::Malformed);
    }
    Ok(candidates)
}

fn unknown_token() -> Error {
    Error::Unauthorized("unknown credentials token".into())
}

/// The platform and the credentials token as it presented it (decoded or raw).
///
/// Unauthenticated callers must not be able to keep the database busy: a malformed token is
/// refused before any look-up, unknown tokens are remembered a few seconds, and an address that
/// failed too often gets 429 without a look-up. A token that was valid before is still looked up
/// from such an address, so a partner that has authenticated since the start does not pay for
/// the failures of others behind the same address (one NAT, one proxy).
async fn authenticate(req: &HttpRequest) -> Result<(Arc<Platform>, String), Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or(Error::Internal)?
        .clone();
    let ip = state
        .trusted_proxies
        .client_ip(req.peer_addr().map(|a| a.ip()), req.headers());
    let budget = state.auth_failures.check_failure_budget(ip);
    let refuse = |error: Error, reason: &'static str| {
        let over_budget = match budget {
            Err(retry) => Some(retry),
            Ok(()) => state.auth_failures.record_failure(ip).err(),
        };
        match over_budget {
            Some(retry) => {
                crate::ops::metrics::record_authentication_failure("rate_limited");
                Error::TooManyRequests {
                    retry_after_secs: retry.secs(),
                }
            }
            None => {
                crate::ops::metrics::record_authentication_failure(reason);
                error
            }
        }
    };
    let candidates = match candidate_tokens(req.headers()) {
        Ok(candidates) => candidates,
        Err(Rejected::Header(error)) => return Err(refuse(error, "malformed")),
        Err(Rejected::Malformed) => return Err(refuse(unknown_token(), "malformed")),
    };
    for candidate in candidates {
        let lookup =
            platform_for_token(&state.store, &state.credentials, &candidate, budget.is_ok())
                .await?;
        if let TokenLookup::Found(platform) = lookup {
            return Ok((platform, candidate));
        }
    }
    Err(refuse(unknown_token(), "unknown"))
}

/// A platform in the request log as its first party (`NL*ABC`), as the functional modules show
/// their caller: an internal id says nothing to an operator reading the log.
fn platform_tag(platform: &Platform) -> CallerTag {
    CallerTag(
        platform
            .roles
            .first()
            .map_or_else(|| platform.name.clone(), |r| r.key.to_string()),
    )
}

/// Any registered platform, including one holding only a registration token (A): for the versions
/// and credentials modules.
pub struct AnyPlatform {
    pub platform: Arc<Platform>,
    /// The credentials token as the caller presented it: its own secret, never logged.
    pub presented_token: String,
}

impl FromRequest for AnyPlatform {
    type Error = OcpiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (platform, presented_token) = authenticate(&req).await?;
            req.extensions_mut().insert(platform_tag(&platform));
            Ok(AnyPlatform {
                platform,
                presented_token,
            })
        })
    }
}

/// Which role a route requires of the calling party.
pub trait RoleRequirement {
    const ROLES: &'static [Role];
    const DESCRIPTION: &'static str;
}

pub struct CpoRole;
impl RoleRequirement for CpoRole {
    const ROLES: &'static [Role] = &[Role::Cpo];
    const DESCRIPTION: &'static str = "a CPO";
}

pub struct EmspRole;
impl RoleRequirement for EmspRole {
    const ROLES: &'static [Role] = &[Role::Emsp];
    const DESCRIPTION: &'static str = "an eMSP";
}

/// CPOs read every eMSP's tokens; eMSPs read their own to reconcile.
pub struct TokenReaderRole;
impl RoleRequirement for TokenReaderRole {
    const ROLES: &'static [Role] = &[Role::Cpo, Role::Emsp];
    const DESCRIPTION: &'static str = "a CPO or an eMSP";
}

/// eMSPs read the sessions of their tokens; CPOs their own sessions, to reconcile.
pub struct SessionReaderRole;
impl RoleRequirement for SessionReaderRole {
    const ROLES: &'static [Role] = &[Role::Cpo, Role::Emsp];
    const DESCRIPTION: &'static str = "a CPO or an eMSP";
}

/// A fully registered platform (token C) calling a functional module as one of its parties,
/// identified by the `OCPI-from-*` headers or, when it serves a single fitting party, inferred.
pub struct Caller<R: RoleRequirement> {
    pub platform: Arc<Platform>,
    pub party: PartyRole,
    /// The `OCPI-to-*` party, when given.
    pub to: Option<PartyKey>,
    _role: PhantomData<R>,
}

impl<R: RoleRequirement> Caller<R> {
    pub fn key(&self) -> &PartyKey {
        &self.party.key
    }

    /// Whether the platform speaks for `key` in one of the roles this route requires.
    pub fn owns(&self, key: &PartyKey) -> bool {
        R::ROLES
            .iter()
            .any(|role| self.platform.has_role(key, *role))
    }

    /// Writing under a party that is not the caller's is refused outright (403 / 2001).
    pub fn ensure_owns(&self, key: &PartyKey) -> Result<(), Error> {
        if self.owns(key) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "{key} is not {} of this credentials token",
                R::DESCRIPTION
            )))
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn routing_party(headers: &HeaderMap, direction: &str) -> Result<Option<PartyKey>, Error> {
    let cc = header(headers, &format!("OCPI-{direction}-country-code"));
    let pid = header(headers, &format!("OCPI-{direction}-party-id"));
    match (cc, pid) {
        (None, None) => Ok(None),
        (Some(cc), Some(pid)) => PartyKey::parse(cc, pid).map(Some).map_err(|e| {
            Error::invalid(
                &format!("OCPI-{direction}-{}", e.field.replace('_', "-")),
                e.message,
            )
        }),
        _ => Err(Error::invalid(
            &format!("OCPI-{direction}-*"),
            "give both the country-code and the party-id header",
        )),
    }
}

pub fn resolve_caller<R: RoleRequirement>(
    platform: Arc<Platform>,
    headers: &HeaderMap,
) -> Result<Caller<R>, Error> {
    ensure_registered(&platform)?;
    let from = routing_party(headers, "from")?;
    let to = routing_party(headers, "to")?;
    let fitting: Vec<&PartyRole> = platform
        .roles
        .iter()
        .filter(|r| R::ROLES.contains(&r.role))
        .collect();
    let party = match from {
        Some(key) => {
            if platform.role_for(&key).is_none() {
                return Err(Error::Forbidden(format!(
                    "OCPI-from {key} is not a party of this credentials token"
                )));
            }
            *fitting.iter().find(|r| r.key == key).ok_or_else(|| {
                Error::Forbidden(format!("this module is for {}; {key} is not one", R::DESCRIPTION))
            })?
        }
        None => match fitting.as_slice() {
            [only] => *only,
            [] => {
                return Err(Error::Forbidden(format!(
                    "this module is for {}; this credentials token has no such role",
                    R::DESCRIPTION
                )))
            }
            _ => {
                return Err(Error::invalid(
                    "OCPI-from-country-code",
                    "this credentials token serves several parties: name one with the OCPI-from-* headers",
                ))
            }
        },
    };
    Ok(Caller {
        party: party.clone(),
        platform,
        to,
        _role: PhantomData,
    })
}

impl<R: RoleRequirement + 'static> FromRequest for Caller<R> {
    type Error = OcpiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (platform, _) = authenticate(&req).await?;
            // Named in the log even when the routing headers are refused.
            req.extensions_mut().insert(platform_tag(&platform));
            let caller = resolve_caller::<R>(platform, req.headers())?;
            req.extensions_mut()
                .insert(CallerTag(caller.party.key.to_string()));
            req.extensions_mut()
                .insert(RoutedCaller(caller.party.key.clone()));
            Ok(caller)
        })
    }
}

/// A fully registered platform (token C, or a token of `party add`) calling a configuration
/// module that is not routed (`hubclientinfo`): no routing headers, any of its roles. A
/// registration token (A) is refused as on the functional modules.
/// A registration token (A) opens only the versions and credentials modules (401 elsewhere).
fn ensure_registered(platform: &Platform) -> Result<(), Error> {
    if platform.kind == CredentialsKind::Registration {
        return Err(Error::Unauthorized(
            "a registration token (A) is only valid for versions and credentials".into(),
        ));
    }
    Ok(())
}

pub struct RegisteredPlatform {
    pub platform: Arc<Platform>,
}

impl FromRequest for RegisteredPlatform {
    type Error = OcpiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (platform, _) = authenticate(&req).await?;
            ensure_registered(&platform)?;
            req.extensions_mut().insert(platform_tag(&platform));
            Ok(RegisteredPlatform { platform })
        })
    }
}
