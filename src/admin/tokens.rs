//! `/admin/v1/tokens`: search the registry, look at one token whole, set or clear its hub policy,
//! and change the policy of a filtered set at once (`tokens:read` / `tokens:write`).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Bearer, TokensRead, TokensWrite};
use super::error::AdminError;
use super::params::{self, invalid};
use crate::domain::access::PartyAccess;
use crate::domain::datetime::parse_ocpi_datetime;
use crate::domain::ids::{PartyKey, TokenUid};
use crate::domain::token::{HubPolicy, TokenKey, TokenType};
use crate::service::policy::{PolicyChange, PolicyOutcome};
use crate::service::token_admin::{self, BulkOutcome, TokenSummary};
use crate::service::{audit_trail, AppState};
use crate::store::token_search::TokenFilter;

/// The filters of a token search (and of a bulk policy change). All optional; all given must hold.
#[derive(Deserialize, Serialize, Default, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenSearch {
    /// The token uid, any case.
    pub uid: Option<String>,
    /// The pushed `contract_id`, exact spelling.
    pub contract_id: Option<String>,
    /// The pushed `group_id`, exact spelling.
    pub group_id: Option<String>,
    /// The owner eMSP as `CC*PID`, e.g. `NL*ABC`.
    pub party: Option<String>,
    /// The token type, e.g. `RFID`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub token_type: Option<String>,
    /// `true` or `false`: the eMSP's `valid` as pushed.
    pub valid: Option<String>,
    /// The effective whitelist (hub override, else the eMSP's).
    pub whitelist: Option<String>,
    /// `true` or `false`: blocked by the hub.
    pub blocked: Option<String>,
    /// Hub `valid_until` before this instant (OCPI DateTime).
    pub expiring_before: Option<String>,
    /// The effective token changed at or after this instant (OCPI DateTime).
    pub changed_since: Option<String>,
}

impl TokenSearch {
    pub fn filter(&self) -> Result<TokenFilter, AdminError> {
        let text = |field: &str, v: &Option<String>, max: usize| -> Result<_, AdminError> {
            match v {
                Some(v) if v.is_empty() || v.len() > max => {
                    Err(invalid(field, format!("must be 1 to {max} characters")))
                }
                _ => Ok(v.clone()),
            }
        };
        Ok(TokenFilter {
            uid: text("uid", &self.uid, TokenUid::MAX_LEN)?,
            contract_id: text("contract_id", &self.contract_id, 36)?,
            group_id: text("group_id", &self.group_id, 36)?,
            owner: params::party("party", self.party.as_deref())?,
            token_type: self
                .token_type
                .as_deref()
                .map(|t| TokenType::parse("type", t))
                .transpose()?,
            valid: params::boolean("valid", self.valid.as_deref())?,
            whitelist: params::whitelist("whitelist", self.whitelist.as_deref())?,
            blocked: params::boolean("blocked", self.blocked.as_deref())?,
            expiring_before: params::datetime("expiring_before", self.expiring_before.as_deref())?,
            changed_since: params::datetime("changed_since", self.changed_since.as_deref())?,
            // Set by the service from the caller's token.
            within: Default::default(),
        })
    }

    fn is_empty(&self) -> bool {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.values().all(Value::is_null)))
            .unwrap_or(false)
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// The `next_cursor` of the previous page; absent for the first.
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<String>,
}

/// [`TokenSearch`] and [`Paging`] in one query string (written out: serde's `flatten` would
/// accept unknown parameters).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    uid: Option<String>,
    contract_id: Option<String>,
    group_id: Option<String>,
    party: Option<String>,
    #[serde(rename = "type")]
    token_type: Option<String>,
    valid: Option<String>,
    whitelist: Option<String>,
    blocked: Option<String>,
    expiring_before: Option<String>,
    changed_since: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

impl SearchQuery {
    fn split(self) -> (TokenSearch, Paging) {
        (
            TokenSearch {
                uid: self.uid,
                contract_id: self.contract_id,
                group_id: self.group_id,
                party: self.party,
                token_type: self.token_type,
                valid: self.valid,
                whitelist: self.whitelist,
                blocked: self.blocked,
                expiring_before: self.expiring_before,
                changed_since: self.changed_since,
            },
            Paging {
                cursor: self.cursor,
                limit: self.limit,
            },
        )
    }
}

/// The hub policy as the API reads and writes it.
#[derive(Deserialize, Serialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    #[serde(default)]
    pub blocked: bool,
    /// Required when `blocked`.
    pub block_reason: Option<String>,
    /// OCPI DateTime.
    pub valid_from: Option<String>,
    /// OCPI DateTime.
    pub valid_until: Option<String>,
    pub max_concurrent: Option<u32>,
    /// `ALWAYS`, `ALLOWED`, `ALLOWED_OFFLINE` or `NEVER`.
    pub whitelist_override: Option<String>,
}

impl PolicyBody {
    fn change(&self) -> Result<PolicyChange, AdminError> {
        let at = |field: &str, v: &Option<String>| -> Result<Option<DateTime<Utc>>, AdminError> {
            Ok(v.as_deref()
                .map(|v| parse_ocpi_datetime(field, v))
                .transpose()?)
        };
        Ok(PolicyChange {
            blocked: self.blocked,
            block_reason: self.block_reason.clone(),
            valid_from: at("valid_from", &self.valid_from)?,
            valid_until: at("valid_until", &self.valid_until)?,
            max_concurrent: self.max_concurrent,
            whitelist_override: params::whitelist(
                "whitelist_override",
                self.whitelist_override.as_deref(),
            )?,
        })
    }
}

fn policy_json(p: &HubPolicy) -> Value {
    json!({
        "blocked": p.blocked,
        "block_reason": p.block_reason,
        "valid_from": p.valid_from,
        "valid_until": p.valid_until,
        "max_concurrent": p.max_concurrent,
        "whitelist_override": p.whitelist_override.map(|w| w.as_str()),
        "updated_at": p.updated_at,
    })
}

fn summary_json(t: &TokenSummary) -> Value {
    json!({
        "country_code": t.key.owner.country_code.as_str(),
        "party_id": t.key.owner.party_id.as_str(),
        "uid": t.key.uid.as_str(),
        "type": t.key.token_type.as_str(),
        "effective": t.effective,
        "policy": policy_json(&t.row.policy()),
        "created_at": t.row.created_at.and_utc(),
    })
}

/// A page of tokens.
#[derive(Serialize, ToSchema)]
pub struct TokenPage {
    /// Each: `country_code`, `party_id`, `uid`, `type`, `effective` (the token CPOs get),
    /// `policy`, `created_at`.
    #[schema(value_type = Vec<Object>)]
    pub tokens: Vec<Value>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Searches tokens, in creation order.
#[utoipa::path(
    get,
    path = "/admin/v1/tokens",
    tag = "admin",
    operation_id = "admin_search_tokens",
    params(TokenSearch, Paging),
    responses(
        (status = 200, description = "A page of tokens. Keyset pages: as fast deep in the list as at its start. A page may hold fewer than `limit` tokens (filters on `contract_id`/`group_id` are checked after the page is read) and still have a `next_cursor`. A caller restricted to parties finds only their tokens.", body = TokenPage),
        (status = 400, description = "`invalid-parameter`, naming the parameter."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `tokens:read`."),
    ),
    security(("bearer_token" = []))
)]
pub async fn search(
    caller: Bearer<TokensRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let (search, paging) = params::query::<SearchQuery>(req.query_string())?.split();
    let filter = search.filter()?;
    let limit = params::limit(paging.limit.as_deref())?;
    let after = params::cursor(paging.cursor.as_deref())?.unwrap_or(0);
    let page = token_admin::search(&state.store, caller.parties(), filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(TokenPage {
        tokens: page.tokens.iter().map(summary_json).collect(),
        next_cursor: page.next_after.map(|id| id.to_string()),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TypeParam {
    /// The token type (default `RFID`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub token_type: Option<String>,
}

fn token_key(path: &(String, String, String), req: &HttpRequest) -> Result<TokenKey, AdminError> {
    let q: TypeParam = params::query(req.query_string())?;
    Ok(TokenKey {
        owner: PartyKey::parse(&path.0, &path.1)?,
        uid: TokenUid::parse("uid", &path.2)?,
        token_type: TokenType::from_query(q.token_type.as_deref())?,
    })
}

/// One token whole: as pushed, effective, hub policy, current usage, last decisions.
#[utoipa::path(
    get,
    path = "/admin/v1/tokens/{country_code}/{party_id}/{uid}",
    tag = "admin",
    operation_id = "admin_get_token",
    params(
        ("country_code" = String, Path, description = "The owner's country code."),
        ("party_id" = String, Path, description = "The owner's party id."),
        ("uid" = String, Path, description = "The token uid."),
        TypeParam,
    ),
    responses(
        (status = 200, description = "`pushed`, `effective`, `policy`, `usage` (holds and sessions that count now), `decisions` (the last ten, newest first).", body = Object),
        (status = 400, description = "`invalid-parameter`."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `tokens:read`."),
        (status = 404, description = "`not-found`: no such token, or another party's than the restricted caller's (the same answer)."),
    ),
    security(("bearer_token" = []))
)]
pub async fn get_token(
    caller: Bearer<TokensRead>,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let key = token_key(&path, &req)?;
    let detail = token_admin::detail(&state.store, caller.parties(), key)
        .await?
        .ok_or_else(|| AdminError::NotFound("no such token".into()))?;
    let mut view = summary_json(&detail.summary);
    view["pushed"] = Value::Object(detail.pushed);
    view["usage"] = detail
        .usage
        .iter()
        .map(token_admin::usage_json)
        .collect::<Vec<_>>()
        .into();
    view["decisions"] = detail
        .decisions
        .iter()
        .map(audit_trail::decision_json)
        .collect::<Vec<_>>()
        .into();
    Ok(HttpResponse::Ok().json(view))
}

async fn put_policy(
    state: &AppState,
    access: &PartyAccess,
    key: TokenKey,
    change: PolicyChange,
    actor: String,
) -> Result<HttpResponse, AdminError> {
    match token_admin::set_policy_as(&state.store, access, key.clone(), change, actor).await? {
        PolicyOutcome::Invalid(e) => Err(AdminError::Invalid(e)),
        PolicyOutcome::Unknown => Err(AdminError::NotFound("no such token".into())),
        PolicyOutcome::Set { pushes } => {
            let detail = token_admin::detail(&state.store, access, key)
                .await?
                .ok_or_else(|| AdminError::NotFound("no such token".into()))?;
            let mut view = summary_json(&detail.summary);
            view["pushes_queued"] = pushes.into();
            Ok(HttpResponse::Ok().json(view))
        }
    }
}

/// Sets the token's hub policy, whole (what is absent is cleared); pushed to CPOs at once.
#[utoipa::path(
    put,
    path = "/admin/v1/tokens/{country_code}/{party_id}/{uid}/policy",
    tag = "admin",
    operation_id = "admin_put_token_policy",
    params(
        ("country_code" = String, Path, description = "The owner's country code."),
        ("party_id" = String, Path, description = "The owner's party id."),
        ("uid" = String, Path, description = "The token uid."),
        TypeParam,
    ),
    request_body = PolicyBody,
    responses(
        (status = 200, description = "The token with its new policy and effective token; `pushes_queued` CPOs get it.", body = Object),
        (status = 400, description = "`invalid-parameter`, naming the field (e.g. `block_reason` is required to block)."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `tokens:write`."),
        (status = 404, description = "`not-found`: no such token, or another party's than the restricted caller's (the same answer)."),
    ),
    security(("bearer_token" = []))
)]
pub async fn set_token_policy(
    caller: Bearer<TokensWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let key = token_key(&path, &req)?;
    let policy: PolicyBody = json_body(&body)?;
    put_policy(
        &state,
        caller.parties(),
        key,
        policy.change()?,
        caller.actor(),
    )
    .await
}

/// Clears the token's hub policy (unblocks it, no window, no limit, no override).
#[utoipa::path(
    delete,
    path = "/admin/v1/tokens/{country_code}/{party_id}/{uid}/policy",
    tag = "admin",
    operation_id = "admin_delete_token_policy",
    params(
        ("country_code" = String, Path, description = "The owner's country code."),
        ("party_id" = String, Path, description = "The owner's party id."),
        ("uid" = String, Path, description = "The token uid."),
        TypeParam,
    ),
    responses(
        (status = 200, description = "The token without hub policy.", body = Object),
        (status = 400, description = "`invalid-parameter`."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `tokens:write`."),
        (status = 404, description = "`not-found`: no such token, or another party's than the restricted caller's (the same answer)."),
    ),
    security(("bearer_token" = []))
)]
pub async fn clear_token_policy(
    caller: Bearer<TokensWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let key = token_key(&path, &req)?;
    put_policy(
        &state,
        caller.parties(),
        key,
        PolicyChange::default(),
        caller.actor(),
    )
    .await
}

/// A policy for every token a filter matches.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkPolicy {
    /// At least one filter: an empty one would change every token.
    pub filter: TokenSearch,
    pub policy: PolicyBody,
}

#[derive(Serialize, ToSchema)]
pub struct BulkAnswer {
    /// Tokens the filter matched: all hold the policy now.
    pub matched: usize,
    /// Of those, the ones whose policy changed (written, logged, pushed).
    pub changed: usize,
}

/// Sets one hub policy on every token a filter matches, atomically (all or none).
#[utoipa::path(
    post,
    path = "/admin/v1/tokens/policy",
    tag = "admin",
    operation_id = "admin_bulk_token_policy",
    request_body = BulkPolicy,
    responses(
        (status = 200, description = "How many tokens matched and changed.", body = BulkAnswer),
        (status = 400, description = "`invalid-parameter`, naming the field (`filter` when empty)."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `tokens:write`; `other-party`: `filter.party` is not one of the caller's parties (without it, a restricted caller's bulk change touches only its parties' tokens)."),
    ),
    security(("bearer_token" = []))
)]
pub async fn bulk_policy(
    caller: Bearer<TokensWrite>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let bulk: BulkPolicy = json_body(&body)?;
    if bulk.filter.is_empty() {
        return Err(invalid(
            "filter",
            "must name at least one filter (an empty one would change every token)",
        ));
    }
    let filter = bulk.filter.filter()?;
    if let Some(owner) = &filter.owner {
        caller.may_write_for("filter.party", owner)?;
    }
    let change = bulk.policy.change()?;
    match token_admin::bulk_policy(
        &state.store,
        caller.parties(),
        filter,
        change,
        caller.actor(),
    )
    .await?
    {
        BulkOutcome::Invalid(e) => Err(AdminError::Invalid(e)),
        BulkOutcome::Applied { matched, changed } => {
            Ok(HttpResponse::Ok().json(BulkAnswer { matched, changed }))
        }
    }
}

/// The body as `T`, a refusal naming the field that breaks it.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| invalid("body", format!("is not JSON: {e}")))?;
    Ok(crate::domain::from_json(value)?)
}

/// Full paths (the OpenAPI test reads these registrations).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/v1/tokens").route(web::get().to(search)));
    cfg.service(web::resource("/admin/v1/tokens/policy").route(web::post().to(bulk_policy)));
    cfg.service(
        web::resource("/admin/v1/tokens/{country_code}/{party_id}/{uid}")
            .route(web::get().to(get_token)),
    );
    cfg.service(
        web::resource("/admin/v1/tokens/{country_code}/{party_id}/{uid}/policy")
            .route(web::put().to(set_token_policy))
            .route(web::delete().to(clear_token_policy)),
    );
}
