//! `ConsoleUser<S>`: the console's typed extractor, the cookie counterpart of the management
//! API's `Bearer<S>`. A handler names the scope it needs in its signature; the session's access
//! token is verified as a bearer token would be (signature, expiry, revocation) and its scopes
//! checked here, never in a handler. `ConsolePost<S, T>` adds a posted form whose CSRF token is
//! checked against the session before the handler sees it; `ConsoleUpload<S>` the same for an
//! upload.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::error::ConsoleError;
use crate::domain::access::PartyAccess;
use crate::domain::ids::PartyKey;
use crate::domain::oauth::Scope;
use crate::ops::request_context::CallerTag;
use crate::service::console::sessions::{self, Session};
use crate::service::AppState;

/// The session cookie: a random id, `HttpOnly`, `SameSite=Strict`, `Path=/console`.
pub const SESSION_COOKIE: &str = "th_console";
/// The login state cookie (PKCE verifier and `state`, sealed): `SameSite=Lax`, because the
/// identity provider's redirect back to the console is a cross-site navigation when it is not
/// the hub.
pub const LOGIN_COOKIE: &str = "th_console_login";
/// A form's size bound: a few fields.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// What a page or action requires of the person's scopes.
pub trait ScopeRequirement {
    /// `None`: any logged-in person.
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
    AuditRead => Scope::AuditRead,
}

/// Any logged-in person.
pub struct AnyScope;
impl ScopeRequirement for AnyScope {
    const SCOPE: Option<Scope> = None;
}

/// What a page or action requires of the person's party restriction (as the API's `Bearer`).
pub trait PartyRequirement {
    /// True: only a person who may act for every party.
    const EVERY_PARTY: bool;
}

/// A restricted person is let in; the services called see only their parties.
pub struct SomeParties;
impl PartyRequirement for SomeParties {
    const EVERY_PARTY: bool = false;
}

/// Only a person who may act for every party (inviting a party).
pub struct EveryParty;
impl PartyRequirement for EveryParty {
    const EVERY_PARTY: bool = true;
}

/// A logged-in person whose token carries `S` (and, with `P = EveryParty`, no party
/// restriction).
pub struct ConsoleUser<S: ScopeRequirement, P: PartyRequirement = SomeParties> {
    pub session: Session,
    _requirements: PhantomData<(S, P)>,
}

impl<S: ScopeRequirement, P: PartyRequirement> ConsoleUser<S, P> {
    pub fn may(&self, scope: Scope) -> bool {
        self.session.principal.scopes.contains(scope)
    }

    /// The parties this person may act for: passed to every service that touches party data.
    pub fn parties(&self) -> &PartyAccess {
        &self.session.principal.parties
    }

    /// An action on `party` (a party's own settings): refused with 403 when the person may not
    /// act for it.
    pub fn may_act_for(&self, party: &PartyKey) -> Result<(), ConsoleError> {
        if self.parties().permits(party) {
            Ok(())
        } else {
            Err(ConsoleError::OtherParty(format!(
                "{party} is not one of your account's parties ({})",
                self.parties()
            )))
        }
    }

    pub fn actor(&self) -> String {
        self.session.actor()
    }
}

pub fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, v)| *n == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value of the console's: `HttpOnly`, `Path=/console`, `Secure` when the public
/// URL is https.
pub fn set_cookie(name: &str, value: &str, same_site: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
    )
}

impl<S: ScopeRequirement + 'static, P: PartyRequirement + 'static> FromRequest
    for ConsoleUser<S, P>
{
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or(ConsoleError::Internal)?
                .clone();
            let cookie = cookie_value(&req, SESSION_COOKIE).ok_or(ConsoleError::NotLoggedIn)?;
            let session = sessions::load(&state, &cookie)
                .await?
                .ok_or(ConsoleError::NotLoggedIn)?;
            req.extensions_mut()
                .insert(CallerTag(format!("console:{}", session.principal.subject)));
            if let Some(scope) = S::SCOPE {
                if !session.principal.scopes.contains(scope) {
                    return Err(ConsoleError::Forbidden(scope));
                }
            }
            if P::EVERY_PARTY && session.principal.parties.is_restricted() {
                return Err(ConsoleError::OtherParty(format!(
                    "this needs an account that may act for every party; yours is limited to {}",
                    session.principal.parties
                )));
            }
            Ok(ConsoleUser {
                session,
                _requirements: PhantomData,
            })
        })
    }
}

/// A form posted by a logged-in person whose token carries `S`: the session is found first, then
/// the form's `csrf` field is checked against it, then the form is read as `T`. One extractor, so
/// the order of these checks never depends on how actix polls a handler's arguments.
pub struct ConsolePost<S: ScopeRequirement, T, P: PartyRequirement = SomeParties> {
    pub user: ConsoleUser<S, P>,
    pub form: T,
}

impl<S, T, P> FromRequest for ConsolePost<S, T, P>
where
    S: ScopeRequirement + 'static,
    T: DeserializeOwned + 'static,
    P: PartyRequirement + 'static,
{
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = ConsoleUser::<S, P>::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            let body = body.await.map_err(|_| {
                crate::domain::ValidationError::new("form", "cannot be read (too large?)")
            })?;
            if body.len() > MAX_FORM_BYTES {
                return Err(crate::domain::ValidationError::new("form", "is too large").into());
            }
            let text = std::str::from_utf8(&body)
                .map_err(|_| crate::domain::ValidationError::new("form", "is not UTF-8"))?;
            check_csrf(&user.session, url::form_urlencoded::parse(text.as_bytes()))?;
            let form = web::Query::<T>::from_query(text).map_err(|e| {
                crate::domain::ValidationError::new("form", format!("is malformed: {e}"))
            })?;
            Ok(ConsolePost {
                user,
                form: form.into_inner(),
            })
        })
    }
}

/// An upload by a logged-in person whose token carries `S`, with the session's CSRF token in the
/// `csrf` query parameter: the multipart body is the handler's to stream.
pub struct ConsoleUpload<S: ScopeRequirement> {
    pub user: ConsoleUser<S>,
}

impl<S: ScopeRequirement + 'static> FromRequest for ConsoleUpload<S> {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = ConsoleUser::<S>::from_request(req, payload);
        let query = req.query_string().to_owned();
        Box::pin(async move {
            let user = user.await?;
            check_csrf(&user.session, url::form_urlencoded::parse(query.as_bytes()))?;
            Ok(ConsoleUpload { user })
        })
    }
}

fn check_csrf<'a>(
    session: &Session,
    mut pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> Result<(), ConsoleError> {
    let given = pairs
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if sessions::csrf_ok(session, &given) {
        Ok(())
    } else {
        Err(ConsoleError::Csrf)
    }
}
