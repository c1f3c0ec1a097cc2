//! `POST /oauth/token` (RFC 6749 §3.2): the `client_credentials`, `authorization_code` (with
//! PKCE) and `refresh_token` grants, answered and refused per §5.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::client_auth::{authenticate, Public};
use super::error::{no_store, OAuthError};
use super::form::Form;
use crate::domain::oauth::{grant_scope, is_pkce_verifier};
use crate::ops::request_context::CallerTag;
use crate::service::oauth::clients::Client;
use crate::service::oauth::grants::GrantError;
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
    /// With the `authorization_code` and `refresh_token` grants: the next refresh token (the
    /// one presented is rotated out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Issues an access token.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    operation_id = "post_oauth_token",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`grant_type=client_credentials` with optional `scope`; `grant_type=authorization_code` with `code`, `redirect_uri`, `code_verifier`; `grant_type=refresh_token` with `refresh_token`, optional `scope` (narrower). A confidential client authenticates with HTTP Basic (`client_secret_basic`) or `client_id` + `client_secret` in the body (`client_secret_post`); a public client sends `client_id` only."),
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
        "authorization_code" => return user_grant(&state, &client, &form, Grant::Code).await,
        "refresh_token" => return user_grant(&state, &client, &form, Grant::Refresh).await,
        other => {
            return Err(OAuthError::UnsupportedGrantType(format!(
                "grant_type {other:?} is not supported (supported: client_credentials, authorization_code, refresh_token)"
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
        refresh_token: None,
    });
    no_store(&mut response);
    Ok(response)
}

enum Grant {
    Code,
    Refresh,
}

/// The grants of a person's tokens, for clients registered with a redirect URI.
async fn user_grant(
    state: &AppState,
    client: &Client,
    form: &Form,
    grant: Grant,
) -> Result<HttpResponse, OAuthError> {
    if client.redirect_uris.is_empty() {
        return Err(OAuthError::UnauthorizedClient(
            "the client has no redirect URI: it may use client_credentials only".into(),
        ));
    }
    let oauth = &state.oauth;
    let pair = match grant {
        Grant::Code => {
            let code = form.require("code")?;
            let redirect_uri = form.require("redirect_uri")?;
            let verifier = form.require("code_verifier")?;
            if !is_pkce_verifier(verifier) {
                return Err(OAuthError::InvalidRequest(
                    "code_verifier: 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)".into(),
                ));
            }
            oauth
                .exchange_code(
                    &state.store,
                    &client.client_id,
                    code,
                    redirect_uri,
                    verifier,
                )
                .await
        }
        Grant::Refresh => {
            let token = form.require("refresh_token")?;
            oauth
                .refresh(&state.store, &client.client_id, token, form.get("scope"))
                .await
        }
    }
    .map_err(|e| match e {
        GrantError::Invalid(why) => OAuthError::InvalidGrant(why.into()),
        GrantError::Scope(why) => OAuthError::InvalidScope(why),
        GrantError::Store(e) => e.into(),
    })?;
    let mut response = HttpResponse::Ok().json(TokenResponse {
        access_token: pair.access.access_token,
        token_type: "Bearer",
        expires_in: pair.access.expires_in,
        scope: pair.access.scope.to_string(),
        refresh_token: Some(pair.refresh_token),
    });
    no_store(&mut response);
    Ok(response)
}
