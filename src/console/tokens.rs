//! Tokens: search with filters and cursor pages; one token whole (as pushed, effective, hub
//! policy, current usage, last decisions) with the policy forms (block/unblock with a reason,
//! validity window, `max_concurrent`, whitelist override).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::auth::{ConsolePost, ConsoleUser, TokensRead, TokensWrite};
use super::error::ConsoleError;
use super::view::{page, query_value, see_other, token_href, when, Nav};
use crate::domain::access::PartyAccess;
use crate::domain::authorization::UseKind;
use crate::domain::ids::{PartyKey, TokenUid};
use crate::domain::oauth::Scope;
use crate::domain::token::{HubPolicy, TokenKey, TokenType, Whitelist};
use crate::domain::ValidationError;
use crate::service::policy::{PolicyChange, PolicyOutcome};
use crate::service::token_admin;
use crate::service::AppState;
use crate::store::audit_search::DecisionRow;
use crate::store::token_search::TokenFilter;

/// Tokens per page of the list.
pub const PAGE_SIZE: i64 = 50;

fn invalid(field: &str, message: impl Into<String>) -> ConsoleError {
    ConsoleError::Invalid(ValidationError::new(field, message))
}

/// A form's text: absent when blank.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `CC*PID`, as the pages write parties.
pub fn party_named(field: &str, value: &str) -> Result<PartyKey, ConsoleError> {
    let (cc, pid) = value
        .split_once('*')
        .ok_or_else(|| invalid(field, "must be a party as COUNTRY*PARTY, e.g. NL*ABC"))?;
    PartyKey::parse(cc.trim(), pid.trim())
        .map_err(|e| invalid(field, format!("{}: {}", e.field, e.message)))
}

fn yes_no(field: &str, value: Option<&str>) -> Result<Option<bool>, ConsoleError> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(invalid(field, "must be true or false")),
    }
}

fn whitelist(field: &str, value: Option<&str>) -> Result<Option<Whitelist>, ConsoleError> {
    value
        .map(|v| {
            Whitelist::from_db(v)
                .ok_or_else(|| invalid(field, "must be ALWAYS, ALLOWED, ALLOWED_OFFLINE or NEVER"))
        })
        .transpose()
}

#[derive(Deserialize, Default)]
pub struct Search {
    uid: Option<String>,
    party: Option<String>,
    #[serde(rename = "type")]
    token_type: Option<String>,
    blocked: Option<String>,
    valid: Option<String>,
    whitelist: Option<String>,
    cursor: Option<String>,
}

impl Search {
    fn filter(&self) -> Result<TokenFilter, ConsoleError> {
        let uid = given(&self.uid)
            .map(|u| TokenUid::parse("uid", u).map(|u| u.as_str().to_owned()))
            .transpose()?;
        Ok(TokenFilter {
            uid,
            owner: given(&self.party)
                .map(|p| party_named("party", p))
                .transpose()?,
            token_type: given(&self.token_type)
                .map(|t| TokenType::parse("type", t))
                .transpose()?,
            blocked: yes_no("blocked", given(&self.blocked))?,
            valid: yes_no("valid", given(&self.valid))?,
            whitelist: whitelist("whitelist", given(&self.whitelist))?,
            ..TokenFilter::default()
        })
    }

    fn cursor(&self) -> Result<i64, ConsoleError> {
        match given(&self.cursor) {
            None => Ok(0),
            Some(c) => c
                .parse::<i64>()
                .ok()
                .filter(|c| *c >= 0)
                .ok_or_else(|| invalid("cursor", "is not a cursor this page handed out")),
        }
    }

    /// The query string of these filters (for the next page's link).
    fn query(&self) -> String {
        [
            ("uid", &self.uid),
            ("party", &self.party),
            ("type", &self.token_type),
            ("blocked", &self.blocked),
            ("valid", &self.valid),
            ("whitelist", &self.whitelist),
        ]
        .into_iter()
        .filter_map(|(k, v)| given(v).map(|v| format!("{k}={}", query_value(v))))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// One row of the list.
struct Row {
    href: String,
    party: String,
    uid: String,
    token_type: String,
    contract_id: String,
    valid: bool,
    whitelist: String,
    blocked: bool,
    updated: String,
}

#[derive(Template)]
#[template(path = "console/tokens.html")]
struct TokensPage {
    title: &'static str,
    nav: Nav,
    uid: String,
    party: String,
    token_type: String,
    blocked: String,
    valid: String,
    whitelist: String,
    rows: Vec<Row>,
    next: Option<String>,
    first: Option<String>,
}

/// Token search.
#[utoipa::path(
    get,
    path = "/console/tokens",
    tag = "console",
    operation_id = "console_tokens",
    params(
        ("uid" = Option<String>, Query, description = "Any case."),
        ("party" = Option<String>, Query, description = "`CC*PID`."),
        ("type" = Option<String>, Query, description = "Token type."),
        ("blocked" = Option<String>, Query, description = "`true` or `false`."),
        ("valid" = Option<String>, Query, description = "As pushed: `true` or `false`."),
        ("whitelist" = Option<String>, Query, description = "Effective whitelist."),
        ("cursor" = Option<String>, Query, description = "From the page's next link."),
    ),
    responses(
        (status = 200, description = "A page of tokens (50), keyset-paginated.", content_type = "text/html"),
        (status = 400, description = "A bad filter, named.", content_type = "text/html"),
        (status = 303, description = "No console session: to `/console/login`."),
        (status = 403, description = "The account lacks `tokens:read`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn list(
    user: ConsoleUser<TokensRead>,
    state: web::Data<AppState>,
    query: web::Query<Search>,
) -> Result<HttpResponse, ConsoleError> {
    let filter = query.filter()?;
    let after = query.cursor()?;
    let result =
        token_admin::search(&state.store, user.parties(), filter, after, PAGE_SIZE).await?;
    let rows = result
        .tokens
        .iter()
        .map(|t| Row {
            href: token_href(&t.key),
            party: t.key.owner.to_string(),
            uid: t.key.uid.as_str().to_owned(),
            token_type: t.key.token_type.as_str().to_owned(),
            contract_id: t
                .effective
                .get("contract_id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            valid: t
                .effective
                .get("valid")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            whitelist: t
                .effective
                .get("whitelist")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            blocked: t.row.policy().blocked,
            updated: t
                .effective
                .get("last_updated")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
        })
        .collect();
    let filters = query.query();
    let sep = if filters.is_empty() { "" } else { "&" };
    let text = |v: &Option<String>| given(v).unwrap_or_default().to_owned();
    page(&TokensPage {
        title: "Tokens",
        nav: Nav::of(&user, "tokens"),
        uid: text(&query.uid),
        party: text(&query.party),
        token_type: text(&query.token_type),
        blocked: text(&query.blocked),
        valid: text(&query.valid),
        whitelist: text(&query.whitelist),
        rows,
        next: result
            .next_after
            .map(|c| format!("/console/tokens?{filters}{sep}cursor={c}")),
        first: (after > 0).then(|| format!("/console/tokens?{filters}")),
    })
}

#[derive(Deserialize)]
pub struct TypeParam {
    #[serde(rename = "type")]
    token_type: Option<String>,
}

fn token_key(path: &(String, String, String), query: &TypeParam) -> Result<TokenKey, ConsoleError> {
    Ok(TokenKey {
        owner: PartyKey::parse(&path.0, &path.1)?,
        uid: TokenUid::parse("uid", &path.2)?,
        token_type: TokenType::from_query(query.token_type.as_deref())?,
    })
}

struct UseRow {
    kind: &'static str,
    cpo: String,
    reference: String,
    location: String,
    until: String,
}

struct DecisionLine {
    at: String,
    requester: String,
    result: String,
    allowed: bool,
    reason: String,
    location: String,
}

fn decision_line(d: &DecisionRow) -> DecisionLine {
    DecisionLine {
        at: when(d.decided_at),
        requester: format!("{}*{}", d.requester_country_code, d.requester_party_id),
        allowed: d.result == "ALLOWED",
        result: d.result.clone(),
        reason: d.reason.clone(),
        location: d.location_id.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "console/token.html")]
struct TokenPage {
    title: &'static str,
    nav: Nav,
    action_base: String,
    type_q: String,
    party: String,
    uid: String,
    token_type: String,
    policy: HubPolicy,
    effective_valid: bool,
    pushed: String,
    effective: String,
    usage: Vec<UseRow>,
    decisions: Vec<DecisionLine>,
    may_write: bool,
    valid_from: String,
    valid_until: String,
    max_concurrent: String,
    whitelist_override: String,
    audit_href: Option<String>,
}

/// A form's `datetime-local` value (UTC) of an instant.
fn local(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// One token.
#[utoipa::path(
    get,
    path = "/console/tokens/{country_code}/{party_id}/{uid}",
    tag = "console",
    operation_id = "console_token",
    params(
        ("country_code" = String, Path, description = "The owner's country code."),
        ("party_id" = String, Path, description = "The owner's party id."),
        ("uid" = String, Path, description = "The token uid (percent-encoded)."),
        ("type" = Option<String>, Query, description = "The token type (default RFID)."),
    ),
    responses(
        (status = 200, description = "The token as pushed and effective, its hub policy (with the forms for `tokens:write`), usage and last decisions.", content_type = "text/html"),
        (status = 404, description = "No such token.", content_type = "text/html"),
        (status = 303, description = "No console session: to `/console/login`."),
        (status = 403, description = "The account lacks `tokens:read`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn show(
    user: ConsoleUser<TokensRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeParam>,
) -> Result<HttpResponse, ConsoleError> {
    let key = token_key(&path, &query)?;
    let detail = token_admin::detail(&state.store, user.parties(), key.clone())
        .await?
        .ok_or_else(|| ConsoleError::NotFound("There is no such token.".into()))?;
    let pretty = |m: &serde_json::Map<String, serde_json::Value>| {
        serde_json::to_string_pretty(m).unwrap_or_default()
    };
    let href = token_href(&detail.summary.key);
    let action_base = href.split('?').next().unwrap_or_default().to_owned();
    let policy = detail.policy.clone();
    page(&TokenPage {
        title: "Token",
        audit_href: user.may(Scope::AuditRead).then(|| {
            format!(
                "/console/audit?uid={}&party={}",
                query_value(detail.summary.key.uid.as_str()),
                query_value(&detail.summary.key.owner.to_string())
            )
        }),
        nav: Nav::of(&user, "tokens"),
        action_base,
        type_q: query_value(detail.summary.key.token_type.as_str()),
        party: detail.summary.key.owner.to_string(),
        uid: detail.summary.key.uid.as_str().to_owned(),
        token_type: detail.summary.key.token_type.as_str().to_owned(),
        effective_valid: detail
            .summary
            .effective
            .get("valid")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        pushed: pretty(&detail.pushed),
        effective: pretty(&detail.summary.effective),
        usage: detail
            .usage
            .iter()
            .map(|u| UseRow {
                kind: match u.kind {
                    UseKind::Hold => "hold",
                    UseKind::Session => "session",
                },
                cpo: u.cpo.to_string(),
                reference: u.reference.clone().unwrap_or_default(),
                location: u.location_key.clone().unwrap_or_default(),
                until: u.counts_until.format("%Y-%m-%d %H:%M:%S").to_string(),
            })
            .collect(),
        decisions: detail.decisions.iter().map(decision_line).collect(),
        may_write: user.may(Scope::TokensWrite),
        valid_from: local(policy.valid_from),
        valid_until: local(policy.valid_until),
        max_concurrent: policy
            .max_concurrent
            .map(|m| m.to_string())
            .unwrap_or_default(),
        whitelist_override: policy
            .whitelist_override
            .map(|w| w.as_str().to_owned())
            .unwrap_or_default(),
        policy,
    })
}

/// The token's current policy as a change to start from (another party's token: unknown).
async fn current(
    state: &AppState,
    access: &PartyAccess,
    key: &TokenKey,
) -> Result<PolicyChange, ConsoleError> {
    let detail = token_admin::detail(&state.store, access, key.clone())
        .await?
        .ok_or_else(|| ConsoleError::NotFound("There is no such token.".into()))?;
    let p = detail.policy;
    Ok(PolicyChange {
        blocked: p.blocked,
        block_reason: p.block_reason,
        valid_from: p.valid_from,
        valid_until: p.valid_until,
        max_concurrent: p.max_concurrent,
        whitelist_override: p.whitelist_override,
    })
}

async fn apply(
    state: &AppState,
    access: &PartyAccess,
    key: TokenKey,
    change: PolicyChange,
    actor: String,
) -> Result<HttpResponse, ConsoleError> {
    let href = token_href(&key);
    match token_admin::set_policy_as(&state.store, access, key, change, actor).await? {
        PolicyOutcome::Set { .. } => Ok(see_other(&href)),
        PolicyOutcome::Unknown => Err(ConsoleError::NotFound("There is no such token.".into())),
        PolicyOutcome::Invalid(e) => Err(ConsoleError::Invalid(e)),
    }
}

#[derive(Deserialize)]
pub struct BlockForm {
    reason: Option<String>,
}

/// Blocks a token with a reason.
#[utoipa::path(
    post,
    path = "/console/tokens/{country_code}/{party_id}/{uid}/block",
    tag = "console",
    operation_id = "console_token_block",
    params(
        ("country_code" = String, Path, description = "The owner's country code."),
        ("party_id" = String, Path, description = "The owner's party id."),
        ("uid" = String, Path, description = "The token uid (percent-encoded)."),
        ("type" = Option<String>, Query, description = "The token type (default RFID)."),
    ),
    request_body(content_type = "application/x-www-form-urlencoded", description = "`csrf`, `reason`."),
    responses(
        (status = 303, description = "Blocked: back to the token's page."),
        (status = 400, description = "`block_reason` missing.", content_type = "text/html"),
        (status = 403, description = "The account lacks `tokens:write`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn block(
    post: ConsolePost<TokensWrite, BlockForm>,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeParam>,
) -> Result<HttpResponse, ConsoleError> {
    let key = token_key(&path, &query)?;
    let mut change = current(&state, post.user.parties(), &key).await?;
    change.blocked = true;
    change.block_reason = given(&post.form.reason).map(str::to_owned);
    apply(&state, post.user.parties(), key, change, post.user.actor()).await
}

#[derive(Deserialize)]
pub struct NoFields {}

/// Unblocks a token.
#[utoipa::path(
    post,
    path = "/console/tokens/{country_code}/{party_id}/{uid}/unblock",
    tag = "console",
    operation_id = "console_token_unblock",
    params(
        ("country_code" = String, Path, description = "The owner's country code."),
        ("party_id" = String, Path, description = "The owner's party id."),
        ("uid" = String, Path, description = "The token uid (percent-encoded)."),
        ("type" = Option<String>, Query, description = "The token type (default RFID)."),
    ),
    request_body(content_type = "application/x-www-form-urlencoded", description = "`csrf`."),
    responses(
        (status = 303, description = "Unblocked: back to the token's page."),
        (status = 403, description = "The account lacks `tokens:write`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn unblock(
    post: ConsolePost<TokensWrite, NoFields>,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeParam>,
) -> Result<HttpResponse, ConsoleError> {
    let key = token_key(&path, &query)?;
    let mut change = current(&state, post.user.parties(), &key).await?;
    change.blocked = false;
    change.block_reason = None;
    apply(&state, post.user.parties(), key, change, post.user.actor()).await
}

#[derive(Deserialize)]
pub struct PolicyForm {
    valid_from: Option<String>,
    valid_until: Option<String>,
    max_concurrent: Option<String>,
    whitelist_override: Option<String>,
}

/// A `datetime-local` field (`YYYY-MM-DDTHH:MM`, seconds optional), read as UTC.
fn instant(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ConsoleError> {
    value
        .map(|v| {
            NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
                .map(|t| t.and_utc())
                .map_err(|_| {
                    invalid(
                        field,
                        "must be a date and time, e.g. 2026-12-31T23:59 (UTC)",
                    )
                })
        })
        .transpose()
}

/// Sets a token's validity window, `max_concurrent` and whitelist override.
#[utoipa::path(
    post,
    path = "/console/tokens/{country_code}/{party_id}/{uid}/policy",
    tag = "console",
    operation_id = "console_token_policy",
    params(
        ("country_code" = String, Path, description = "The owner's country code."),
        ("party_id" = String, Path, description = "The owner's party id."),
        ("uid" = String, Path, description = "The token uid (percent-encoded)."),
        ("type" = Option<String>, Query, description = "The token type (default RFID)."),
    ),
    request_body(content_type = "application/x-www-form-urlencoded", description = "`csrf`, `valid_from`, `valid_until` (UTC, `YYYY-MM-DDTHH:MM`), `max_concurrent`, `whitelist_override` (empty clears)."),
    responses(
        (status = 303, description = "Saved: back to the token's page."),
        (status = 400, description = "A bad field, named.", content_type = "text/html"),
        (status = 403, description = "The account lacks `tokens:write`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn policy(
    post: ConsolePost<TokensWrite, PolicyForm>,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    query: web::Query<TypeParam>,
    _req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let key = token_key(&path, &query)?;
    let form = post.form;
    let max_concurrent = given(&form.max_concurrent)
        .map(|m| {
            m.parse::<u32>().map_err(|_| {
                invalid(
                    "max_concurrent",
                    "must be a whole number (0 or more), or empty",
                )
            })
        })
        .transpose()?;
    let mut change = current(&state, post.user.parties(), &key).await?;
    change.valid_from = instant("valid_from", given(&form.valid_from))?;
    change.valid_until = instant("valid_until", given(&form.valid_until))?;
    change.max_concurrent = max_concurrent;
    change.whitelist_override = whitelist("whitelist_override", given(&form.whitelist_override))?;
    apply(&state, post.user.parties(), key, change, post.user.actor()).await
}
