//! What the authorization server publishes: its metadata (RFC 8414) and its signing keys (JWKS).
//! Every URL is built from the public URL.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::error::OAuthError;
use crate::domain::oauth::Scope;
use crate::service::AppState;

pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
pub const TOKEN_PATH: &str = "/oauth/token";
pub const REVOKE_PATH: &str = "/oauth/revoke";
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
pub const JWKS_PATH: &str = "/oauth/jwks.json";
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";

const CLIENT_AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];
/// Public clients (no secret) authenticate with `none` at the token and revocation endpoints
/// (introspection is for confidential clients).
const TOKEN_AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// The authorization server's metadata (RFC 8414).
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "oauth",
    operation_id = "get_oauth_metadata",
    responses((status = 200, description = "Issuer, endpoints, grant types, client authentication methods, scopes, signing algorithms."))
)]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let base = &state.public_url;
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(serde_json::json!({
            "issuer": state.oauth.issuer,
            "authorization_endpoint": format!("{base}{AUTHORIZE_PATH}"),
            "token_endpoint": format!("{base}{TOKEN_PATH}"),
            "jwks_uri": format!("{base}{JWKS_PATH}"),
            "revocation_endpoint": format!("{base}{REVOKE_PATH}"),
            "introspection_endpoint": format!("{base}{INTROSPECT_PATH}"),
            "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            // PKCE is required, and only S256 (RFC 9700 §2.1.1).
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
            "scopes_supported": scopes,
            "access_token_signing_alg_values_supported": [crate::service::oauth::keys::ALGORITHM],
        }))
}

/// The keys that verify the hub's access tokens, each with its `kid`.
#[utoipa::path(
    get,
    path = "/oauth/jwks.json",
    tag = "oauth",
    operation_id = "get_oauth_jwks",
    responses((status = 200, description = "A JWK Set (RFC 7517): the signing key and the previous ones whose tokens may not have expired."))
)]
pub async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let ring = state.oauth.key_ring(&state.store).await?;
    // Short: after a rotation, verifiers that cache the set see the new key within a minute
    // (and those that refresh on an unknown `kid` at once).
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .json(ring.jwks()))
}
