//! `POST /oauth/introspect` (RFC 7662): an authenticated confidential client asks whether one of
//! the hub's access tokens is active. Anything else (expired, revoked, badly signed, another
//! issuer's, not a token) is `{"active": false}`, with no reason.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::client_auth::{authenticate, Public};
use super::error::{no_store, OAuthError};
use super::form::Form;
use crate::service::AppState;

/// RFC 7662 §2.2; only `active` when the token is not active.
#[derive(Serialize, ToSchema)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// The parties (`CC*PID`) the token may act for; absent for every party.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parties: Option<Vec<String>>,
}

impl Introspection {
    fn inactive() -> Self {
        Introspection {
            active: false,
            scope: None,
            client_id: None,
            sub: None,
            iss: None,
            aud: None,
            exp: None,
            jti: None,
            token_type: None,
            parties: None,
        }
    }
}

/// Tells whether an access token is active, and its claims.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = "oauth",
    operation_id = "post_oauth_introspect",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`token`, optional `token_type_hint`; a confidential client authenticates as at the token endpoint."),
    responses(
        (status = 200, description = "The token's state (`active: false` for anything not active).", body = Introspection),
        (status = 400, description = "`invalid_request`: no `token`; `unauthorized_client`: a public client."),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic`."),
        (status = 429, description = "Too many failed client authentications."),
    )
)]
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let form = Form::parse(&req, &body)?;
    authenticate(&state, &req, &form, Public::Refused).await?;
    let token = form.require("token")?;
    let oauth = &state.oauth;
    let answer = match oauth.verify(&state.store, token).await {
        Ok(p) if p.issuer == oauth.issuer => Introspection {
            active: true,
            scope: Some(p.scopes.to_string()),
            client_id: p.client_id,
            sub: Some(p.subject),
            iss: Some(p.issuer),
            aud: Some(oauth.audience.clone()),
            exp: Some(p.expires_at),
            jti: p.jti,
            token_type: Some("Bearer"),
            parties: p.parties.to_claim(),
        },
        _ => Introspection::inactive(),
    };
    let mut response = HttpResponse::Ok().json(answer);
    no_store(&mut response);
    Ok(response)
}
