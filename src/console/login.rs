//! Logging in and out. `/console/login` starts the hub's authorization-code + PKCE flow for the
//! console's client (the verifier and `state` sealed in a short-lived cookie); the hub's login
//! and TOTP pages do the rest (no consent page for this first-party client) and send the
//! browser to `/console/callback`, which exchanges the code in-process and opens a server-side
//! session. Logout revokes the refresh token.
//!
//! With `oauth.external.console` set, `/console/login` goes straight to the external identity
//! provider instead (the organisation chose it for its people: a chooser page would only add a
//! click), and `/console/callback/external` finishes there; `/console/login?with=hub` still
//! signs in a local account (the break-glass administrator).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{cookie_value, set_cookie, AnyScope, ConsolePost, LOGIN_COOKIE, SESSION_COOKIE};
use super::error::{ConsoleError, ErrorPage};
use super::view::see_other;
use crate::service::console::client;
use crate::service::console::sessions::{
    self, LoginError, LoginState, LOGIN_STATE_SECS, SESSION_TTL,
};
use crate::service::oauth::grants::GrantError;
use crate::service::AppState;

fn with_cookie(mut response: HttpResponse, cookie: &str) -> HttpResponse {
    if let Ok(value) = header::HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct LoginQuery {
    with: Option<String>,
}

/// Starts a console login through the hub's authorization endpoint, or the external identity
/// provider's when one is configured for the console.
#[utoipa::path(
    get,
    path = "/console/login",
    tag = "console",
    operation_id = "console_login",
    params(
        ("with" = Option<String>, Query, description = "`hub`: the hub's own sign-in even when an external identity provider is configured for the console."),
    ),
    responses(
        (status = 303, description = "To `/oauth/authorize` for the console's client (`tokenhub-console`, PKCE S256) or, with `oauth.external.console` set, to the provider's authorization endpoint; the login state in a short-lived cookie."),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, ConsoleError> {
    if let (Some(external), false) = (
        &state.console.external,
        query.with.as_deref() == Some("hub"),
    ) {
        let login = LoginState::external();
        let to = external.authorize_url(&login, &state.console.external_redirect_uri);
        return Ok(with_login_cookie(&state, &login, see_other(&to)));
    }
    if client::ensure(&state.store, &state.keys, &state.public_url).await? {
        state.oauth.clients.clear();
    }
    let login = LoginState::new();
    let to = login.authorize_url(&state);
    Ok(with_login_cookie(&state, &login, see_other(&to)))
}

fn with_login_cookie(state: &AppState, login: &LoginState, response: HttpResponse) -> HttpResponse {
    let cookie = set_cookie(
        LOGIN_COOKIE,
        &login.seal(state),
        "Lax",
        LOGIN_STATE_SECS,
        state.console.secure_cookies,
    );
    with_cookie(response, &cookie)
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn sign_in_failed(message: &str) -> HttpResponse {
    ErrorPage {
        title: "Sign-in failed",
        message,
        link: ("/console/login", "Sign in again"),
    }
    .respond(StatusCode::BAD_REQUEST)
}

/// The authorization endpoint's redirect back: exchanges the code and opens a session.
#[utoipa::path(
    get,
    path = "/console/callback",
    tag = "console",
    operation_id = "console_callback",
    params(
        ("code" = Option<String>, Query, description = "The authorization code."),
        ("state" = Option<String>, Query, description = "The login's state."),
        ("error" = Option<String>, Query, description = "Why the sign-in was refused."),
    ),
    responses(
        (status = 303, description = "Logged in: to `/console`, with the session cookie (HttpOnly, SameSite=Strict, Secure on https)."),
        (status = 400, description = "A state that is not this browser's, a refused sign-in or code.", content_type = "text/html"),
    )
)]
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<Callback>,
) -> Result<HttpResponse, ConsoleError> {
    finish(&state, &req, &query, false).await
}

/// The external identity provider's redirect back: exchanges the code at its token endpoint,
/// verifies its access token as the management API does and opens a session.
#[utoipa::path(
    get,
    path = "/console/callback/external",
    tag = "console",
    operation_id = "console_callback_external",
    params(
        ("code" = Option<String>, Query, description = "The provider's authorization code."),
        ("state" = Option<String>, Query, description = "The login's state."),
        ("error" = Option<String>, Query, description = "Why the provider refused the sign-in."),
    ),
    responses(
        (status = 303, description = "Logged in: to `/console`, with the session cookie (HttpOnly, SameSite=Strict, Secure on https)."),
        (status = 400, description = "A state that is not this browser's, a refused sign-in or code, or a provider's token the hub does not accept.", content_type = "text/html"),
    )
)]
pub async fn callback_external(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<Callback>,
) -> Result<HttpResponse, ConsoleError> {
    finish(&state, &req, &query, true).await
}

async fn finish(
    state: &AppState,
    req: &HttpRequest,
    query: &Callback,
    external: bool,
) -> Result<HttpResponse, ConsoleError> {
    let clear_login = set_cookie(LOGIN_COOKIE, "", "Lax", 0, state.console.secure_cookies);
    let login = cookie_value(req, LOGIN_COOKIE).and_then(|c| LoginState::open(state, &c));
    let Some(login) = login
        .filter(|l| query.state.as_deref() == Some(l.state.as_str()) && l.external == external)
    else {
        return Ok(with_cookie(
            sign_in_failed("This sign-in was not started here or took too long."),
            &clear_login,
        ));
    };
    if let Some(error) = &query.error {
        let why = query.error_description.as_deref().unwrap_or(error);
        return Ok(with_cookie(
            sign_in_failed(&format!("The sign-in was refused: {why}.")),
            &clear_login,
        ));
    }
    let Some(code) = &query.code else {
        return Ok(with_cookie(
            sign_in_failed("The answer has no code."),
            &clear_login,
        ));
    };
    let finished = if external {
        sessions::finish_external_login(state, &login, code).await
    } else {
        sessions::finish_login(state, &login, code).await
    };
    match finished {
        Ok((cookie, _)) => {
            let session = set_cookie(
                SESSION_COOKIE,
                &cookie,
                "Strict",
                SESSION_TTL.num_seconds(),
                state.console.secure_cookies,
            );
            Ok(with_cookie(
                with_cookie(see_other("/console"), &session),
                &clear_login,
            ))
        }
        Err(LoginError::Grant(GrantError::Store(e))) | Err(LoginError::Store(e)) => Err(e.into()),
        Err(LoginError::Grant(GrantError::Invalid(why))) => Ok(with_cookie(
            sign_in_failed(&format!("The code was refused: {why}.")),
            &clear_login,
        )),
        Err(LoginError::Grant(GrantError::Scope(why))) => Ok(with_cookie(
            sign_in_failed(&format!("The code was refused: {why}.")),
            &clear_login,
        )),
        Err(LoginError::External(why)) => Ok(with_cookie(
            sign_in_failed(&format!("The identity provider's sign-in failed: {why}.")),
            &clear_login,
        )),
        Err(LoginError::Unverifiable) => Err(ConsoleError::Internal),
    }
}

#[derive(Deserialize)]
pub struct NoFields {}

/// Signs out and revokes the session's tokens.
#[utoipa::path(
    post,
    path = "/console/logout",
    tag = "console",
    operation_id = "console_logout",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`csrf`."),
    responses(
        (status = 303, description = "Signed out: to `/console/signed-out`; the refresh token (and its access tokens) revoked."),
        (status = 403, description = "The account lacks `any`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn logout(
    post: ConsolePost<AnyScope, NoFields>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    sessions::logout(&state, &post.user.session).await?;
    let cleared = set_cookie(
        SESSION_COOKIE,
        "",
        "Strict",
        0,
        state.console.secure_cookies,
    );
    Ok(with_cookie(see_other("/console/signed-out"), &cleared))
}

/// The page after signing out.
#[utoipa::path(
    get,
    path = "/console/signed-out",
    tag = "console",
    operation_id = "console_signed_out",
    responses(
        (status = 200, description = "The signed-out page.", content_type = "text/html"),
    )
)]
pub async fn signed_out() -> HttpResponse {
    ErrorPage {
        title: "Signed out",
        message: "You are signed out of the tokenhub console, and its tokens are revoked.",
        link: ("/console/login", "Sign in again"),
    }
    .respond(StatusCode::OK)
}
