//! `/admin/v1/audit`: authorization decisions and the change log, newest first, cursor pages
//! (`audit:read`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::{AuditRead, Bearer};
use super::error::AdminError;
use super::params::{self, invalid};
use crate::domain::authorization::{AuditResult, Reason};
use crate::domain::ids::TokenUid;
use crate::service::{audit_trail, AppState};
use crate::store::audit_search::{ChangeFilter, DecisionFilter};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DecisionQuery {
    /// The token uid (any case).
    pub token_uid: Option<String>,
    /// The token's owner as `CC*PID`.
    pub token_party: Option<String>,
    /// A party as `CC*PID`: decisions on its tokens or asked by it.
    pub party: Option<String>,
    /// `ALLOWED`, `BLOCKED`, `EXPIRED`, `NO_CREDIT`, `NOT_ALLOWED`, `UNKNOWN`, ...
    pub result: Option<String>,
    /// The decision's reason code.
    pub reason: Option<String>,
    /// Decided at or after (OCPI DateTime).
    pub from: Option<String>,
    /// Decided before (OCPI DateTime).
    pub to: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 1000 (default 100).
    pub limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<Value>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    pub next_cursor: Option<String>,
}

fn page(entries: Vec<Value>, ids: Vec<i64>, limit: i64) -> AuditPage {
    AuditPage {
        next_cursor: (ids.len() as i64 == limit)
            .then(|| ids.last().map(i64::to_string))
            .flatten(),
        entries,
    }
}

/// Authorization decisions, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/audit/decisions",
    tag = "admin",
    operation_id = "admin_audit_decisions",
    params(DecisionQuery),
    responses(
        (status = 200, description = "A page of decisions, newest first. On SQLite a `token_uid` or `party` filter over a long trail is a scan of it: give a time range (`from`/`to`) with it. A caller restricted to parties sees only decisions on their tokens or asked by them.", body = AuditPage),
        (status = 400, description = "`invalid-parameter`, naming the parameter."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `audit:read`."),
    ),
    security(("bearer_token" = []))
)]
pub async fn decisions(
    caller: Bearer<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let q: DecisionQuery = params::query(req.query_string())?;
    if let Some(uid) = &q.token_uid {
        TokenUid::parse("token_uid", uid)?;
    }
    if let Some(result) = &q.result {
        if AuditResult::from_db(result).is_none() {
            return Err(invalid("result", "is not a decision result"));
        }
    }
    if let Some(reason) = &q.reason {
        if Reason::from_db(reason).is_none() {
            return Err(invalid("reason", "is not a decision reason"));
        }
    }
    let filter = DecisionFilter {
        token_uid: q.token_uid,
        token_owner: params::party("token_party", q.token_party.as_deref())?,
        party: params::party("party", q.party.as_deref())?,
        result: q.result,
        reason: q.reason,
        from: params::datetime("from", q.from.as_deref())?,
        to: params::datetime("to", q.to.as_deref())?,
        within: Default::default(),
    };
    let limit = params::limit(q.limit.as_deref())?;
    let before = params::cursor(q.cursor.as_deref())?;
    let rows =
        audit_trail::decisions(&state.store, caller.parties(), filter, before, limit).await?;
    let ids = rows.iter().map(|r| r.id).collect();
    let entries = rows.iter().map(audit_trail::decision_json).collect();
    Ok(HttpResponse::Ok().json(page(entries, ids, limit)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeQuery {
    /// Who: `client:<id>`, `user:<subject>`, `cli`, `operator`, ...
    pub actor: Option<String>,
    /// What, e.g. `token.policy`, `token.policy.bulk`, `party.settings`, `client.add`.
    pub action: Option<String>,
    /// Subjects starting with this, e.g. `token:NL*ABC:`.
    pub subject: Option<String>,
    /// Changed at or after (OCPI DateTime).
    pub from: Option<String>,
    /// Changed before (OCPI DateTime).
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<String>,
}

/// Every change made through the API, the CLI or an import: who, what, before, after, when.
#[utoipa::path(
    get,
    path = "/admin/v1/audit/changes",
    tag = "admin",
    operation_id = "admin_audit_changes",
    params(ChangeQuery),
    responses(
        (status = 200, description = "A page of changes, newest first: `id`, `changed_at`, `actor`, `action`, `subject`, `before`, `after`. A caller restricted to parties sees only the changes of their tokens, of themselves, of their agreements and its own bulk changes and imports.", body = AuditPage),
        (status = 400, description = "`invalid-parameter`, naming the parameter."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `audit:read`."),
    ),
    security(("bearer_token" = []))
)]
pub async fn changes(
    caller: Bearer<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let q: ChangeQuery = params::query(req.query_string())?;
    for (field, value) in [
        ("actor", &q.actor),
        ("action", &q.action),
        ("subject", &q.subject),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.len() > 255)
        {
            return Err(invalid(field, "must be 1 to 255 characters"));
        }
    }
    let filter = ChangeFilter {
        actor: q.actor,
        action: q.action,
        subject_prefix: q.subject,
        from: params::datetime("from", q.from.as_deref())?,
        to: params::datetime("to", q.to.as_deref())?,
        within: Default::default(),
    };
    let limit = params::limit(q.limit.as_deref())?;
    let before = params::cursor(q.cursor.as_deref())?;
    let rows = audit_trail::changes(&state.store, caller.parties(), filter, before, limit).await?;
    let ids = rows.iter().map(|r| r.id).collect();
    let parse = |s: &Option<String>| {
        s.as_deref()
            .map(|t| serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.into())))
    };
    let entries = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "changed_at": r.changed_at.and_utc(),
                "actor": r.actor,
                "action": r.action,
                "subject": r.subject,
                "before": parse(&r.before),
                "after": parse(&r.after),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(page(entries, ids, limit)))
}

/// Full paths (the OpenAPI test reads these registrations).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/v1/audit/decisions").route(web::get().to(decisions)));
    cfg.service(web::resource("/admin/v1/audit/changes").route(web::get().to(changes)));
}
