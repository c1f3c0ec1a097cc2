//! The console's sessions. A person logs in through the hub's own authorization-code + PKCE flow;
//! the tokens it yields stay on the server, sealed, in `console_sessions`, and the browser holds
//! only a random session id whose keyed hash is the row's key. An access token about to expire
//! is refreshed with the refresh token (rotated as for any client); logout revokes the refresh
//! token's family, which revokes its access tokens too.

use base64::Engine;
use chrono::{NaiveDateTime, TimeDelta, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::client::CLIENT_ID;
use crate::service::oauth::grants::{GrantError, TokenPair};
use crate::service::oauth::tokens::Principal;
use crate::service::AppState;
use crate::store::console::{self as rows, SessionRow};
use crate::store::{StoreError, StoreResult};

/// A console session lasts this long from login, whatever its use (then the person logs in
/// again); within it, access tokens are refreshed as they expire.
pub const SESSION_TTL: TimeDelta = TimeDelta::hours(12);
/// An access token this close to its expiry is refreshed before use: it must outlive the request.
const REFRESH_MARGIN: TimeDelta = TimeDelta::seconds(30);
/// The login state (PKCE verifier, `state`) is good this long: a person types a password and a
/// TOTP code meanwhile.
pub const LOGIN_STATE_SECS: i64 = 600;

fn random(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A login in progress: what goes (sealed) into the login cookie, and the authorization request.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LoginState {
    pub state: String,
    pub verifier: String,
    pub expires_at: i64,
    /// Started at the external identity provider: only its callback may finish it.
    #[serde(default)]
    pub external: bool,
}

impl LoginState {
    pub fn new() -> Self {
        LoginState {
            state: random(24),
            verifier: random(32),
            expires_at: Utc::now().timestamp() + LOGIN_STATE_SECS,
            external: false,
        }
    }

    /// A login at the external identity provider.
    pub fn external() -> Self {
        LoginState {
            external: true,
            ..Self::new()
        }
    }

    /// PKCE S256: base64url(SHA-256(verifier)).
    pub fn challenge(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(self.verifier.as_bytes()))
    }

    pub fn seal(&self, state: &AppState) -> String {
        state
            .console
            .sealer
            .seal(&serde_json::to_string(self).expect("serializes"))
    }

    /// The login state of a cookie value, if it is ours and not expired.
    pub fn open(state: &AppState, sealed: &str) -> Option<Self> {
        let text = state.console.sealer.open(sealed).ok()?;
        let login: LoginState = serde_json::from_str(&text).ok()?;
        (login.expires_at > Utc::now().timestamp()).then_some(login)
    }

    /// The hub's authorization endpoint for this login.
    pub fn authorize_url(&self, state: &AppState) -> String {
        let mut url = url::Url::parse(&format!("{}/oauth/authorize", state.public_url))
            .expect("the public URL is a URL");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", &state.console.redirect_uri)
            .append_pair("code_challenge", &self.challenge())
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &self.state);
        url.into()
    }
}

impl Default for LoginState {
    fn default() -> Self {
        Self::new()
    }
}

/// The tokens a session holds (sealed in its row).
#[derive(Serialize, Deserialize)]
struct HeldTokens {
    access: String,
    /// The external provider may give none: the session then ends with its access token.
    refresh: Option<String>,
    /// The external identity provider's tokens (refreshed at its token endpoint).
    #[serde(default)]
    external: bool,
}

/// A logged-in person, as a console request sees them.
#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: String,
    pub principal: Principal,
    /// For the forms: a keyed hash of the session id, checked on every post.
    pub csrf: String,
    /// Signed in at the external identity provider: the host of its issuer.
    pub external_host: Option<String>,
}

impl Session {
    /// Who the change log names: the person, through the console's client; a person of the
    /// external provider as `user:<sub>@<issuer host>`, so they cannot pass for a local user.
    pub fn actor(&self) -> String {
        match &self.external_host {
            Some(host) => format!(
                "user:{}@{host} via client:{CLIENT_ID}",
                self.principal.subject
            ),
            None => format!("user:{} via client:{CLIENT_ID}", self.principal.subject),
        }
    }
}

fn external_host(state: &AppState, held: &HeldTokens) -> Option<String> {
    held.external
        .then(|| state.console.external.as_ref().map(|e| e.issuer_host()))
        .flatten()
}

fn csrf_of(state: &AppState, id_hash: &str) -> String {
    state.console.session_mac.hash(&format!("csrf:{id_hash}"))
}

/// Whether `given` is the CSRF token of `session`, compared in constant time.
pub fn csrf_ok(session: &Session, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.len() == session.csrf.len() && bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes()))
}

fn naive(unix: i64) -> StoreResult<NaiveDateTime> {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.naive_utc())
        .ok_or_else(|| StoreError::Query("timestamp out of range".into()))
}

/// Why a login could not finish.
#[derive(Debug)]
pub enum LoginError {
    Grant(GrantError),
    Store(StoreError),
    /// The access token just issued does not verify: keys changed in between.
    Unverifiable,
    /// The external provider refused the code, could not be reached, or its token does not
    /// verify as the management API would require.
    External(String),
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        LoginError::Store(e)
    }
}

/// Exchanges `code` (with the login's PKCE verifier) and opens a session: returns the cookie
/// value (shown to the browser only) and the session.
pub async fn finish_login(
    state: &AppState,
    login: &LoginState,
    code: &str,
) -> Result<(String, Session), LoginError> {
    let pair = state
        .oauth
        .exchange_code(
            &state.store,
            CLIENT_ID,
            code,
            &state.console.redirect_uri,
            &login.verifier,
        )
        .await
        .map_err(LoginError::Grant)?;
    let principal = state
        .oauth
        .verify(&state.store, &pair.access.access_token)
        .await
        .map_err(|_| LoginError::Unverifiable)?;
    let held = HeldTokens {
        access: pair.access.access_token,
        refresh: Some(pair.refresh_token),
        external: false,
    };
    Ok(open_session(state, principal, held).await?)
}

/// Exchanges `code` at the external provider and opens a session for the person its access
/// token names, verified as the management API verifies the provider's tokens.
pub async fn finish_external_login(
    state: &AppState,
    login: &LoginState,
    code: &str,
) -> Result<(String, Session), LoginError> {
    let Some(external) = &state.console.external else {
        return Err(LoginError::External(
            "no external sign-in is configured".into(),
        ));
    };
    let tokens = external
        .exchange(code, &login.verifier, &state.console.external_redirect_uri)
        .await
        .map_err(LoginError::External)?;
    let principal = state
        .oauth
        .verify(&state.store, &tokens.access_token)
        .await
        .map_err(|e| LoginError::External(format!("its access token is refused ({e:?})")))?;
    // The hub's own token coming back from the provider's endpoint would be a confusion.
    if principal.issuer != external.issuer {
        return Err(LoginError::External(
            "its access token is not the provider's".into(),
        ));
    }
    let held = HeldTokens {
        access: tokens.access_token,
        refresh: tokens.refresh_token,
        external: true,
    };
    Ok(open_session(state, principal, held).await?)
}

async fn open_session(
    state: &AppState,
    principal: Principal,
    held: HeldTokens,
) -> StoreResult<(String, Session)> {
    let cookie = random(32);
    let id_hash = state.console.session_mac.hash(&cookie);
    let now = Utc::now().naive_utc();
    let row = SessionRow {
        id_hash: id_hash.clone(),
        username: principal.subject.clone(),
        tokens_sealed: seal(state, &held),
        access_expires_at: naive(principal.expires_at)?,
        created_at: now,
        expires_at: now + SESSION_TTL,
    };
    state
        .store
        .write(move |conn| rows::insert_session(conn, &row, now))
        .await?;
    let csrf = csrf_of(state, &id_hash);
    let external_host = external_host(state, &held);
    Ok((
        cookie,
        Session {
            id_hash,
            principal,
            csrf,
            external_host,
        },
    ))
}

fn seal(state: &AppState, held: &HeldTokens) -> String {
    state
        .console
        .sealer
        .seal(&serde_json::to_string(held).expect("serializes"))
}

fn open(state: &AppState, row: &SessionRow) -> Option<HeldTokens> {
    let text = state.console.sealer.open(&row.tokens_sealed).ok()?;
    serde_json::from_str(&text).ok()
}

/// The session of a cookie value: `None` when there is none (unknown, expired, its tokens
/// revoked or no longer refreshable). Refreshes the access token when it is about to expire.
pub async fn load(state: &AppState, cookie: &str) -> StoreResult<Option<Session>> {
    let id_hash = state.console.session_mac.hash(cookie);
    let now = Utc::now().naive_utc();
    let row = {
        let hash = id_hash.clone();
        state
            .store
            .read(move |conn| rows::find_session(conn, &hash, now))
            .await?
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let Some(mut held) = open(state, &row) else {
        return Ok(None);
    };
    if row.access_expires_at - REFRESH_MARGIN <= now {
        let Some(refreshed) = refresh(state, &held).await? else {
            // Revoked, expired, the person disabled, no refresh token: the session is over.
            end(state, &id_hash).await?;
            return Ok(None);
        };
        let sealed = seal(state, &refreshed.0);
        let access_expires_at = refreshed.1;
        let (hash, expires_at) = (id_hash.clone(), row.expires_at);
        state
            .store
            .write(move |conn| {
                rows::update_session_tokens(conn, &hash, &sealed, access_expires_at, expires_at)
            })
            .await?;
        held = refreshed.0;
    }
    match state.oauth.verify(&state.store, &held.access).await {
        Ok(principal) => {
            let csrf = csrf_of(state, &id_hash);
            let external_host = external_host(state, &held);
            Ok(Some(Session {
                id_hash,
                principal,
                csrf,
                external_host,
            }))
        }
        Err(_) => Ok(None),
    }
}

/// New tokens for a session whose access token is about to expire, with the new access token's
/// expiry; `None` when they cannot be had (the session is over).
async fn refresh(
    state: &AppState,
    held: &HeldTokens,
) -> StoreResult<Option<(HeldTokens, NaiveDateTime)>> {
    let Some(refresh_token) = &held.refresh else {
        return Ok(None);
    };
    if held.external {
        let Some(external) = &state.console.external else {
            return Ok(None);
        };
        let tokens = match external.refresh(refresh_token).await {
            Ok(tokens) => tokens,
            Err(why) => {
                tracing::info!(%why, "the external provider did not refresh a console session");
                return Ok(None);
            }
        };
        let Ok(principal) = state.oauth.verify(&state.store, &tokens.access_token).await else {
            return Ok(None);
        };
        let held = HeldTokens {
            access: tokens.access_token,
            // A provider that does not rotate keeps the refresh token valid.
            refresh: tokens.refresh_token.or_else(|| held.refresh.clone()),
            external: true,
        };
        return Ok(Some((held, naive(principal.expires_at)?)));
    }
    match state
        .oauth
        .refresh(&state.store, CLIENT_ID, refresh_token, None)
        .await
    {
        Ok(pair) => {
            let expires_at = naive(pair.access.expires_at)?;
            Ok(Some((held_of(pair), expires_at)))
        }
        Err(GrantError::Store(e)) => Err(e),
        Err(_) => Ok(None),
    }
}

fn held_of(pair: TokenPair) -> HeldTokens {
    HeldTokens {
        access: pair.access.access_token,
        refresh: Some(pair.refresh_token),
        external: false,
    }
}

async fn end(state: &AppState, id_hash: &str) -> StoreResult<bool> {
    let hash = id_hash.to_owned();
    state
        .store
        .write(move |conn| rows::delete_session(conn, &hash))
        .await
}

/// Logs out: revokes the refresh token's family (its access tokens with it) and ends the session.
pub async fn logout(state: &AppState, session: &Session) -> StoreResult<()> {
    let hash = session.id_hash.clone();
    let now = Utc::now().naive_utc();
    let row = state
        .store
        .read(move |conn| rows::find_session(conn, &hash, now))
        .await?;
    // The external provider's tokens are left to expire: revocation (RFC 7009) is optional for
    // a provider and not configured here; ending the session is what signs the person out.
    if let Some(held) = row.as_ref().and_then(|row| open(state, row)) {
        if let (false, Some(refresh)) = (held.external, &held.refresh) {
            state
                .oauth
                .revoke_refresh(&state.store, refresh, CLIENT_ID)
                .await?;
        }
    }
    end(state, &session.id_hash).await?;
    Ok(())
}
