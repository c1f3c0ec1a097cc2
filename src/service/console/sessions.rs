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
}

impl LoginState {
    pub fn new() -> Self {
        LoginState {
            state: random(24),
            verifier: random(32),
            expires_at: Utc::now().timestamp() + LOGIN_STATE_SECS,
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
    refresh: String,
}

/// A logged-in person, as a console request sees them.
#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: String,
    pub principal: Principal,
    /// For the forms: a keyed hash of the session id, checked on every post.
    pub csrf: String,
}

impl Session {
    /// Who the change log names: the person, through the console's client.
    pub fn actor(&self) -> String {
        format!("user:{} via client:{CLIENT_ID}", self.principal.subject)
    }
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
    let cookie = random(32);
    let id_hash = state.console.session_mac.hash(&cookie);
    let now = Utc::now().naive_utc();
    let row = SessionRow {
        id_hash: id_hash.clone(),
        username: principal.subject.clone(),
        tokens_sealed: seal(state, &pair),
        access_expires_at: naive(pair.access.expires_at)?,
        created_at: now,
        expires_at: now + SESSION_TTL,
    };
    state
        .store
        .write(move |conn| rows::insert_session(conn, &row, now))
        .await?;
    let csrf = csrf_of(state, &id_hash);
    Ok((
        cookie,
        Session {
            id_hash,
            principal,
            csrf,
        },
    ))
}

fn seal(state: &AppState, pair: &TokenPair) -> String {
    let held = HeldTokens {
        access: pair.access.access_token.clone(),
        refresh: pair.refresh_token.clone(),
    };
    state
        .console
        .sealer
        .seal(&serde_json::to_string(&held).expect("serializes"))
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
        match state
            .oauth
            .refresh(&state.store, CLIENT_ID, &held.refresh, None)
            .await
        {
            Ok(pair) => {
                let sealed = seal(state, &pair);
                let access_expires_at = naive(pair.access.expires_at)?;
                let (hash, expires_at) = (id_hash.clone(), row.expires_at);
                state
                    .store
                    .write(move |conn| {
                        rows::update_session_tokens(
                            conn,
                            &hash,
                            &sealed,
                            access_expires_at,
                            expires_at,
                        )
                    })
                    .await?;
                held = HeldTokens {
                    access: pair.access.access_token,
                    refresh: pair.refresh_token,
                };
            }
            Err(GrantError::Store(e)) => return Err(e),
            // Revoked, expired, the person disabled: the session is over.
            Err(_) => {
                end(state, &id_hash).await?;
                return Ok(None);
            }
        }
    }
    match state.oauth.verify(&state.store, &held.access).await {
        Ok(principal) => {
            let csrf = csrf_of(state, &id_hash);
            Ok(Some(Session {
                id_hash,
                principal,
                csrf,
            }))
        }
        Err(_) => Ok(None),
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
    if let Some(held) = row.as_ref().and_then(|row| open(state, row)) {
        state
            .oauth
            .revoke_refresh(&state.store, &held.refresh, CLIENT_ID)
            .await?;
    }
    end(state, &session.id_hash).await?;
    Ok(())
}
