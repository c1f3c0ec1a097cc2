//! `POST /oauth/revoke` (RFC 7009): a client revokes one of its access tokens, or a refresh
//! token with its whole family. The answer is 200
//! for an authenticated client whatever the token (unknown, expired, another client's, already
//! revoked): it tells nobody anything about tokens.

use actix_web::{web, HttpRequest, HttpResponse};

use super::client_auth::{authenticate, Public};
use super::error::{no_store, OAuthError};
use super::form::Form;
use crate::service::oauth::grants::is_refresh_token;
use crate::service::AppState;

/// Revokes an access token.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = "oauth",
    operation_id = "post_oauth_revoke",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`token` (an access token, or a refresh token: its family is revoked), optional `token_type_hint`; client authentication as at the token endpoint."),
    responses(
        (status = 200, description = "Done, or nothing to do (the token is unknown, expired, or not the client's)."),
        (status = 400, description = "`invalid_request`: no `token`."),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic`."),
        (status = 429, description = "Too many failed client authentications."),
    )
)]
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let form = Form::parse(&req, &body)?;
    let client = authenticate(&state, &req, &form, Public::Allowed).await?;
    let token = form.require("token")?;
    // A hint is advice (RFC 7009 §2.1): refresh tokens are told apart by their shape. Revoking
    // one revokes its family and the access tokens issued with it.
    if is_refresh_token(token) {
        state
            .oauth
            .revoke_refresh(&state.store, token, &client.client_id)
            .await?;
    } else {
        state
            .oauth
            .revoke(&state.store, token, &client.client_id)
            .await?;
    }
    let mut response = HttpResponse::Ok().finish();
    no_store(&mut response);
    Ok(response)
}
