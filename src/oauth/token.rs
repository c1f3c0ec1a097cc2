//! `POST /oauth/token` (RFC 6749 §3.2): the `client_credentials` grant, answered and refused per
//! §5.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::client_auth::{authenticate, Public};
use super::error::{no_store, OAuthError};
use super::form::Form;
use crate::domain::oauth::grant_scope;
use crate::ops::request_context::CallerTag;
use crate::service::AppState;

/// RFC 6749 §5.1.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT (RFC 9068), signed with a key of `/oauth/jwks.json`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The granted scopes, space-separated.
    pub scope: String,
}

/// Issues an access token.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    operation_id = "post_oauth_token",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`grant_type=client_credentials`, optional `scope`; the client authenticates with HTTP Basic (`client_secret_basic`) or `client_id` + `client_secret` in the body (`client_secret_post`)."),
    responses(
        (status = 200, description = "The access token (`Cache-Control: no-store`).", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope` or `invalid_grant` (RFC 6749 §5.2)."),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic`."),
        (status = 429, description = "Too many failed client authentications from the address or for the client id; `Retry-After` says when to try again."),
    )
)]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let form = Form::parse(&req, &body)?;
    let client = authenticate(&state, &req, &form, Public::Allowed).await?;
    actix_web::HttpMessage::extensions_mut(&req)
        .insert(CallerTag(format!("client:{}", client.client_id)));
    match form.require("grant_type")? {
        "client_credentials" => {}
        other => {
            return Err(OAuthError::UnsupportedGrantType(format!(
                "grant_type {other:?} is not supported (supported: client_credentials)"
            )))
        }
    }
    if !client.may_use_client_credentials() {
        return Err(OAuthError::UnauthorizedClient(
            "the client_credentials grant is for confidential clients without redirect URIs".into(),
        ));
    }
    let scope = grant_scope(form.get("scope"), &client.scopes)
        .map_err(|refusal| OAuthError::InvalidScope(format!("scope: {}", refusal.0)))?;
    let issued = state.oauth.issue(&state.store, &client, scope).await?;
    let mut response = HttpResponse::Ok().json(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope.to_string(),
    });
    no_store(&mut response);
    Ok(response)
}
