//! The console's sign-in through the external identity provider (`oauth.external.console`): the
//! console is a confidential client of the provider, with authorization code + PKCE S256. The
//! provider's access token is verified exactly as the management API verifies it
//! (`OAuthServer::verify`), so scopes and party restriction come from the same claims.

use std::time::Duration;

use serde::Deserialize;

use super::sessions::LoginState;
use crate::config::ExternalConsoleSettings;

pub struct ExternalConsole {
    pub settings: ExternalConsoleSettings,
    /// The provider's `iss`, named on the sign-in page and in the change log.
    pub issuer: String,
    http: reqwest::Client,
}

/// What the provider's token endpoint answers (RFC 6749 §5.1).
#[derive(Deserialize)]
pub struct ProviderTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
}

pub fn redirect_uri(public_url: &str) -> String {
    format!(
        "{}/console/callback/external",
        public_url.trim_end_matches('/')
    )
}

impl ExternalConsole {
    pub fn new(settings: ExternalConsoleSettings, issuer: String, timeout: Duration) -> Self {
        ExternalConsole {
            settings,
            issuer,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
        }
    }

    /// The issuer's host, to mark a person as the provider's: `user:<sub>@<host>`.
    pub fn issuer_host(&self) -> String {
        url::Url::parse(&self.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| self.issuer.clone())
    }

    /// The provider's authorization endpoint for this login.
    pub fn authorize_url(&self, login: &LoginState, redirect_uri: &str) -> String {
        let mut url = self.settings.authorization_endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.settings.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("code_challenge", &login.challenge())
                .append_pair("code_challenge_method", "S256")
                .append_pair("state", &login.state);
            if !self.settings.scope.is_empty() {
                query.append_pair("scope", &self.settings.scope);
            }
        }
        url.into()
    }

    /// Exchanges a code (with the login's PKCE verifier).
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<ProviderTokens, String> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<ProviderTokens, String> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// A token request with client_secret_basic (RFC 6749 §2.3.1: the form-encoded id and
    /// secret), the one method every provider must support.
    async fn token_request(&self, form: &[(&str, &str)]) -> Result<ProviderTokens, String> {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let response = self
            .http
            .post(self.settings.token_endpoint.clone())
            .basic_auth(
                encode(&self.settings.client_id),
                Some(encode(self.settings.client_secret.expose())),
            )
            .form(form)
            .send()
            .await
            .map_err(|e| format!("the provider's token endpoint is unreachable: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            #[derive(Deserialize)]
            struct OAuthError {
                error: String,
            }
            let why = response
                .json::<OAuthError>()
                .await
                .map(|e| e.error)
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(format!("the provider refused the code ({why})"));
        }
        response
            .json()
            .await
            .map_err(|e| format!("the provider's token answer is not understood: {e}"))
    }
}
