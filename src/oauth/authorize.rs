//! The authorization endpoint (RFC 6749 §4.1, PKCE S256 required per RFC 9700 §2.1.1) and the
//! pages a person goes through: login, TOTP code when the second factor is on, consent.
//!
//! Every form carries the authorization request in hidden fields and it is validated again on
//! each post, so nothing of it is kept on the server between pages. Until the client and its
//! redirect URI are known good, errors are shown on a page, never redirected (RFC 6749
//! §4.1.2.1: an open redirector otherwise); after that they go back to the client with `state`.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use super::login_session::{
    new_csrf_value, read_cookie, LoginSession, Signer, Stage, CSRF_COOKIE, LOGIN_COOKIE,
    LOGIN_SECS, TOTP_STEP_SECS,
};
use super::pages::{self, FormContext};
use crate::domain::oauth::{is_client_id_shaped, is_s256_challenge, user_grant_scope, ScopeSet};
use crate::ops::limits::RetryAfter;
use crate::service::console::client as console_client;
use crate::service::oauth::clients::{Client, ClientLookup};
use crate::service::oauth::consents;
use crate::service::oauth::grants::CodeGrant;
use crate::service::oauth::users::{check_password, check_totp, find_enabled_user};
use crate::service::AppState;
use crate::store::StoreError;

/// A validated authorization request.
struct AuthRequest {
    client: Arc<Client>,
    redirect_uri: String,
    state: Option<String>,
    scope: Option<ScopeSet>,
    /// As given, for the hidden fields.
    scope_text: Option<String>,
    challenge: String,
}

/// Why an authorization request is refused, and where the person learns it.
enum Refusal {
    /// The client or its redirect URI is not known good: a page.
    Page(StatusCode, String),
    /// Back to the client (RFC 6749 §4.1.2.1).
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
    Unavailable,
}

impl From<StoreError> for Refusal {
    fn from(err: StoreError) -> Self {
        tracing::warn!(error = %err, "authorization endpoint: storage failed");
        Refusal::Unavailable
    }
}

type Params = HashMap<String, String>;

/// Form or query parameters, each at most once (RFC 6749 §3.1), empty values as absent.
fn parse_params(bytes: &[u8]) -> Result<Params, Refusal> {
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(bytes) {
        if value.is_empty() {
            continue;
        }
        if params
            .insert(name.clone().into_owned(), value.into_owned())
            .is_some()
        {
            return Err(Refusal::Page(
                StatusCode::BAD_REQUEST,
                format!("{name}: the parameter is given more than once"),
            ));
        }
    }
    Ok(params)
}

/// Checks the authorization request in `params`.
async fn validate(state: &AppState, params: &Params) -> Result<AuthRequest, Refusal> {
    let page = |why: &str| Err(Refusal::Page(StatusCode::BAD_REQUEST, why.to_owned()));
    let Some(client_id) = params.get("client_id") else {
        return page("client_id is missing: the application sent an incomplete request");
    };
    if !is_client_id_shaped(client_id) {
        return page("client_id: there is no such client");
    }
    let client = match state
        .oauth
        .clients
        .lookup(&state.store, client_id, true)
        .await?
    {
        ClientLookup::Found(client) if !client.disabled => client,
        _ => return page("client_id: there is no such client"),
    };
    if client.redirect_uris.is_empty() {
        return page(
            "this client is not registered for logging people in (it has no redirect URI)",
        );
    }
    let redirect_uri = match params.get("redirect_uri") {
        // RFC 6749 §3.1.2.3 / RFC 9700 §2.1: exact string comparison.
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.clone(),
        Some(_) => return page("redirect_uri is not registered for this client"),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return page("redirect_uri is missing and the client has several"),
    };
    let state_param = params.get("state").cloned();
    let redirect = |error: &'static str, description: &str| {
        Err(Refusal::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state_param.clone(),
            error,
            description: description.to_owned(),
        })
    };
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        None => return redirect("invalid_request", "response_type is required"),
        Some(_) => {
            return redirect(
                "unsupported_response_type",
                "response_type must be code (the only flow served)",
            )
        }
    }
    match params.get("code_challenge_method").map(String::as_str) {
        Some("S256") => {}
        Some("plain") => {
            return redirect(
                "invalid_request",
                "code_challenge_method plain is refused: use S256",
            )
        }
        None => {
            return redirect(
                "invalid_request",
                "code_challenge_method=S256 is required (PKCE)",
            )
        }
        Some(_) => return redirect("invalid_request", "code_challenge_method must be S256"),
    }
    let challenge = match params.get("code_challenge") {
        Some(c) if is_s256_challenge(c) => c.clone(),
        Some(_) => {
            return redirect(
                "invalid_request",
                "code_challenge must be 43 base64url characters (S256)",
            )
        }
        None => return redirect("invalid_request", "code_challenge is required (PKCE S256)"),
    };
    let scope_text = params.get("scope").cloned();
    let scope = match &scope_text {
        Some(text) => match ScopeSet::parse(text) {
            Ok(set) => Some(set),
            Err(why) => return redirect("invalid_scope", &format!("scope: {why}")),
        },
        None => None,
    };
    Ok(AuthRequest {
        client,
        redirect_uri,
        state: state_param,
        scope,
        scope_text,
        challenge,
    })
}

impl AuthRequest {
    fn hidden(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("response_type", "code".to_owned()),
            ("client_id", self.client.client_id.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("code_challenge", self.challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if let Some(scope) = &self.scope_text {
            fields.push(("scope", scope.clone()));
        }
        if let Some(state) = &self.state {
            fields.push(("state", state.clone()));
        }
        fields
    }
}

/// The redirect back to the client with `pairs`, `state` and `iss` (RFC 9207) added.
fn redirect_to(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    pairs: &[(&str, &str)],
) -> HttpResponse {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return HttpResponse::InternalServerError().finish(),
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// What every page of one request shares: the hub's name, the signer, the CSRF cookie.
struct Page<'a> {
    state: &'a AppState,
    signer: Signer,
    csrf_cookie: String,
    cookies: Vec<String>,
}

impl<'a> Page<'a> {
    fn new(state: &'a AppState, req: &HttpRequest) -> Self {
        let signer = Signer::new(&state.keys, &state.public_url);
        let mut cookies = Vec::new();
        let csrf_cookie = match read_cookie(req, CSRF_COOKIE).filter(|c| !c.is_empty()) {
            Some(value) => value,
            None => {
                let value = new_csrf_value();
                // A browser session's worth; the forms die with it.
                cookies.push(signer.cookie(CSRF_COOKIE, &value, 12 * 3600));
                value
            }
        };
        Page {
            state,
            signer,
            csrf_cookie,
            cookies,
        }
    }

    fn refused(&self, refusal: Refusal) -> HttpResponse {
        match refusal {
            Refusal::Page(status, message) => pages::respond(
                status,
                pages::error(
                    &self.state.hub_name,
                    "This sign-in request cannot be served",
                    &message,
                ),
                &self.cookies,
            ),
            Refusal::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => redirect_to(
                &redirect_uri,
                state.as_deref(),
                &self.state.oauth.issuer,
                &[("error", error), ("error_description", &description)],
            ),
            Refusal::Unavailable => pages::respond(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::error(
                    &self.state.hub_name,
                    "Temporarily unavailable",
                    "The hub cannot reach its database. Try again in a moment.",
                ),
                &self.cookies,
            ),
        }
    }

    fn set_session(&mut self, username: &str, stage: Stage) {
        let secs = match stage {
            Stage::Password => TOTP_STEP_SECS,
            Stage::Done => LOGIN_SECS,
        };
        let value = self.signer.session_value(&LoginSession {
            username: username.to_owned(),
            stage,
            expires_at: Utc::now().timestamp() + secs,
        });
        self.cookies
            .push(self.signer.cookie(LOGIN_COOKIE, &value, secs));
    }

    fn session(&self, req: &HttpRequest) -> Option<LoginSession> {
        read_cookie(req, LOGIN_COOKIE)
            .and_then(|value| self.signer.session(&value, Utc::now().timestamp()))
    }

    fn render(&self, request: &AuthRequest, status: StatusCode, what: Render<'_>) -> HttpResponse {
        let hidden = request.hidden();
        let csrf = self.signer.csrf_field(&self.csrf_cookie);
        let ctx = FormContext {
            hub: &self.state.hub_name,
            client_name: &request.client.name,
            hidden: &hidden,
            csrf: &csrf,
        };
        let html = match what {
            Render::Login { username, error } => pages::login(&ctx, username, error),
            Render::Totp { error } => pages::totp(&ctx, error),
            Render::Consent { username, scopes } => pages::consent(&ctx, username, scopes),
        };
        pages::respond(status, html, &self.cookies)
    }

    fn csrf_checked(&self, params: &Params) -> Result<(), Refusal> {
        let cookie = Some(self.csrf_cookie.as_str()).filter(|_| self.cookies.is_empty());
        if self
            .signer
            .csrf_ok(cookie, params.get("csrf").map(String::as_str))
        {
            Ok(())
        } else {
            Err(Refusal::Page(
                StatusCode::FORBIDDEN,
                "The form expired or was not sent from this site. Go back to the application and sign in again.".into(),
            ))
        }
    }

    /// The person `username` is logged in: a code straight away when the consent covers the
    /// scopes, else the consent page.
    async fn proceed(
        &self,
        request: &AuthRequest,
        username: &str,
    ) -> Result<HttpResponse, Refusal> {
        let store = &self.state.store;
        let Some(user) = find_enabled_user(store, username).await? else {
            return Ok(self.render(
                request,
                StatusCode::OK,
                Render::Login {
                    username: "",
                    error: None,
                },
            ));
        };
        let granted =
            user_grant_scope(request.scope.as_ref(), &request.client.scopes, &user.scopes);
        if granted.is_empty() {
            return Err(no_scope(request));
        }
        // The console is the hub itself (first-party): asking a person to let the hub act for
        // them on the hub asks nothing they could sensibly refuse, and its redirect URI is the
        // hub's own callback, so the code cannot go elsewhere. Only that client skips the page;
        // its scopes are still the person's own.
        let first_party = request.client.client_id == console_client::CLIENT_ID;
        if first_party
            || consents::covers(store, &user.username, &request.client.client_id, &granted).await?
        {
            return self.issue_code(request, &user.username, granted).await;
        }
        Ok(self.render(
            request,
            StatusCode::OK,
            Render::Consent {
                username: &user.username,
                scopes: &granted,
            },
        ))
    }

    async fn issue_code(
        &self,
        request: &AuthRequest,
        username: &str,
        scopes: ScopeSet,
    ) -> Result<HttpResponse, Refusal> {
        let code = self
            .state
            .oauth
            .new_code(
                &self.state.store,
                CodeGrant {
                    client_id: request.client.client_id.clone(),
                    username: username.to_owned(),
                    redirect_uri: request.redirect_uri.clone(),
                    scopes,
                    code_challenge: request.challenge.clone(),
                },
            )
            .await?;
        let mut response = redirect_to(
            &request.redirect_uri,
            request.state.as_deref(),
            &self.state.oauth.issuer,
            &[("code", &code)],
        );
        for cookie in &self.cookies {
            if let Ok(value) = header::HeaderValue::from_str(cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        Ok(response)
    }

    /// Whether the address and the username may still fail a login; the refusal says when to
    /// try again.
    fn check_budgets(&self, req: &HttpRequest, username_key: &str) -> Result<(), RetryAfter> {
        let oauth = &self.state.oauth;
        self.state
            .auth_failures
            .check_failure_budget(client_ip(self.state, req))?;
        oauth
            .login_failures_by_user
            .check_key_budget(&username_key.to_owned())
    }

    fn record_failure(&self, req: &HttpRequest, username_key: &str) -> Result<(), RetryAfter> {
        let oauth = &self.state.oauth;
        crate::ops::metrics::record_authentication_failure("login");
        let by_ip = self
            .state
            .auth_failures
            .record_failure(client_ip(self.state, req));
        let by_user = oauth
            .login_failures_by_user
            .record_key_failure(username_key.to_owned());
        by_ip.and(by_user)
    }

    fn locked(&self, request: &AuthRequest, username: &str, retry: RetryAfter) -> HttpResponse {
        let message = format!(
            "Too many failed sign-ins. Try again in {} seconds.",
            retry.secs()
        );
        let mut response = self.render(
            request,
            StatusCode::TOO_MANY_REQUESTS,
            Render::Login {
                username,
                error: Some(&message),
            },
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(retry.secs()));
        response
    }
}

enum Render<'a> {
    Login {
        username: &'a str,
        error: Option<&'a str>,
    },
    Totp {
        error: Option<&'a str>,
    },
    Consent {
        username: &'a str,
        scopes: &'a ScopeSet,
    },
}

fn no_scope(request: &AuthRequest) -> Refusal {
    Refusal::Redirect {
        redirect_uri: request.redirect_uri.clone(),
        state: request.state.clone(),
        error: "invalid_scope",
        description: "none of the requested scopes is available to this user through this client"
            .into(),
    }
}

fn client_ip(state: &AppState, req: &HttpRequest) -> std::net::IpAddr {
    state
        .trusted_proxies
        .client_ip(req.peer_addr().map(|a| a.ip()), req.headers())
}

/// The rate-limit key of a typed username: what `Username::parse` would make of it, or a fixed
/// key for text that is no username (such attempts share one budget, and the address pays too).
fn username_key(typed: &str) -> String {
    let key = typed.trim().to_ascii_lowercase();
    if key.len() <= 64 {
        key
    } else {
        "(invalid)".into()
    }
}

/// The login page for an authorization request, or straight on when the person is logged in.
#[utoipa::path(
    get,
    path = "/oauth/authorize",
    tag = "oauth",
    operation_id = "get_oauth_authorize",
    params(
        ("response_type" = String, Query, description = "`code`."),
        ("client_id" = String, Query, description = "A client registered with a redirect URI."),
        ("redirect_uri" = Option<String>, Query, description = "Exactly one of the client's; optional when it has one only."),
        ("scope" = Option<String>, Query, description = "Space-separated; the grant is this ∩ the client's ∩ the person's."),
        ("state" = Option<String>, Query, description = "Echoed in the redirect."),
        ("code_challenge" = String, Query, description = "PKCE: base64url(SHA-256(code_verifier))."),
        ("code_challenge_method" = String, Query, description = "`S256` (`plain` is refused)."),
    ),
    responses(
        (status = 200, description = "The login page (HTML), or the consent page when logged in.", content_type = "text/html"),
        (status = 303, description = "Back to the client: `code` (consent remembered) or `error`, with `state` and `iss`."),
        (status = 400, description = "Unknown client or redirect URI: shown on a page, never redirected.", content_type = "text/html"),
    )
)]
pub async fn authorize(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let page = Page::new(&state, &req);
    let result = async {
        let params = parse_params(req.query_string().as_bytes())?;
        let request = validate(&state, &params).await?;
        match page.session(&req) {
            Some(session) if session.stage == Stage::Done => {
                page.proceed(&request, &session.username).await
            }
            _ => Ok(page.render(
                &request,
                StatusCode::OK,
                Render::Login {
                    username: "",
                    error: None,
                },
            )),
        }
    }
    .await;
    result.unwrap_or_else(|refusal| page.refused(refusal))
}

/// The login form's post: username and password.
#[utoipa::path(
    post,
    path = "/oauth/authorize/login",
    tag = "oauth",
    operation_id = "post_oauth_authorize_login",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`username`, `password`, `csrf` and the authorization request's parameters (hidden fields of the login page)."),
    responses(
        (status = 200, description = "The TOTP page or the consent page (HTML).", content_type = "text/html"),
        (status = 303, description = "Back to the client with `code` (consent remembered) or `error`."),
        (status = 400, description = "Wrong username or password (one message for both), or a bad request shown on a page.", content_type = "text/html"),
        (status = 403, description = "CSRF check failed.", content_type = "text/html"),
        (status = 429, description = "Too many failed sign-ins for the username or from the address; the page and `Retry-After` say when to try again.", content_type = "text/html"),
    )
)]
pub async fn login(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut page = Page::new(&state, &req);
    let result = async {
        let params = parse_params(&body)?;
        page.csrf_checked(&params)?;
        let request = validate(&state, &params).await?;
        let typed = params
            .get("username")
            .map(String::as_str)
            .unwrap_or_default();
        let key = username_key(typed);
        if let Err(retry) = page.check_budgets(&req, &key) {
            return Ok(page.locked(&request, typed, retry));
        }
        let password = params.get("password").cloned().unwrap_or_default();
        let Some(logged_in) = check_password(&state.store, &state.keys, typed, password).await?
        else {
            if let Err(retry) = page.record_failure(&req, &key) {
                return Ok(page.locked(&request, typed, retry));
            }
            return Ok(page.render(
                &request,
                StatusCode::BAD_REQUEST,
                Render::Login {
                    username: typed,
                    error: Some("The username or password is incorrect."),
                },
            ));
        };
        let username = logged_in.user.username.clone();
        if logged_in.totp_secret.is_some() {
            page.set_session(&username, Stage::Password);
            return Ok(page.render(&request, StatusCode::OK, Render::Totp { error: None }));
        }
        page.set_session(&username, Stage::Done);
        page.proceed(&request, &username).await
    }
    .await;
    result.unwrap_or_else(|refusal| page.refused(refusal))
}

/// The second factor's post: the TOTP code.
#[utoipa::path(
    post,
    path = "/oauth/authorize/totp",
    tag = "oauth",
    operation_id = "post_oauth_authorize_totp",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`code` (6 digits), `csrf` and the authorization request's parameters."),
    responses(
        (status = 200, description = "The consent page, or the login page when the password step expired.", content_type = "text/html"),
        (status = 303, description = "Back to the client with `code` (consent remembered) or `error`."),
        (status = 400, description = "Wrong code.", content_type = "text/html"),
        (status = 403, description = "CSRF check failed.", content_type = "text/html"),
        (status = 429, description = "Too many failures; the page says when to try again.", content_type = "text/html"),
    )
)]
pub async fn totp_step(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut page = Page::new(&state, &req);
    let result = async {
        let params = parse_params(&body)?;
        page.csrf_checked(&params)?;
        let request = validate(&state, &params).await?;
        let Some(session) = page.session(&req).filter(|s| s.stage == Stage::Password) else {
            return Ok(page.render(
                &request,
                StatusCode::OK,
                Render::Login {
                    username: "",
                    error: Some("Sign in again: the code must follow the password within 5 minutes."),
                },
            ));
        };
        if let Err(retry) = page.check_budgets(&req, &session.username) {
            return Ok(page.locked(&request, &session.username, retry));
        }
        let code = params.get("code").map(String::as_str).unwrap_or_default();
        if !check_totp(&state.store, &state.keys, &session.username, code).await? {
            if let Err(retry) = page.record_failure(&req, &session.username) {
                return Ok(page.locked(&request, &session.username, retry));
            }
            return Ok(page.render(
                &request,
                StatusCode::BAD_REQUEST,
                Render::Totp {
                    error: Some("That code is not right, or was used already. Wait for the next code in your authenticator app and type it."),
                },
            ));
        }
        page.set_session(&session.username, Stage::Done);
        page.proceed(&request, &session.username).await
    }
    .await;
    result.unwrap_or_else(|refusal| page.refused(refusal))
}

/// The consent form's post: `decision=allow` or `deny`.
#[utoipa::path(
    post,
    path = "/oauth/authorize/consent",
    tag = "oauth",
    operation_id = "post_oauth_authorize_consent",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`decision` (`allow` or `deny`), `csrf` and the authorization request's parameters."),
    responses(
        (status = 303, description = "Back to the client: `code`, or `error=access_denied` when refused."),
        (status = 200, description = "The login page when the login expired.", content_type = "text/html"),
        (status = 400, description = "No decision.", content_type = "text/html"),
        (status = 403, description = "CSRF check failed.", content_type = "text/html"),
    )
)]
pub async fn consent(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let page = Page::new(&state, &req);
    let result = async {
        let params = parse_params(&body)?;
        page.csrf_checked(&params)?;
        let request = validate(&state, &params).await?;
        let Some(session) = page.session(&req).filter(|s| s.stage == Stage::Done) else {
            return Ok(page.render(
                &request,
                StatusCode::OK,
                Render::Login {
                    username: "",
                    error: Some("Your sign-in expired. Sign in again."),
                },
            ));
        };
        match params.get("decision").map(String::as_str) {
            Some("allow") => {}
            Some("deny") => {
                return Err(Refusal::Redirect {
                    redirect_uri: request.redirect_uri.clone(),
                    state: request.state.clone(),
                    error: "access_denied",
                    description: "the user refused the access".into(),
                })
            }
            _ => {
                return Err(Refusal::Page(
                    StatusCode::BAD_REQUEST,
                    "decision must be allow or deny".into(),
                ))
            }
        }
        let Some(user) = find_enabled_user(&state.store, &session.username).await? else {
            return Ok(page.render(
                &request,
                StatusCode::OK,
                Render::Login {
                    username: "",
                    error: None,
                },
            ));
        };
        let granted =
            user_grant_scope(request.scope.as_ref(), &request.client.scopes, &user.scopes);
        if granted.is_empty() {
            return Err(no_scope(&request));
        }
        consents::remember(
            &state.store,
            &user.username,
            &request.client.client_id,
            &granted,
        )
        .await?;
        page.issue_code(&request, &user.username, granted).await
    }
    .await;
    result.unwrap_or_else(|refusal| page.refused(refusal))
}
