//! The audit trail: decisions (filtered by token, party, result, reason) and the change log (by
//! actor, action), newest first, in pages below a row id.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::{AuditRead, ConsoleUser};
use super::error::ConsoleError;
use super::tokens::party_named;
use super::view::{page, query_value, when, Nav};
use crate::domain::ValidationError;
use crate::service::audit_trail;
use crate::service::AppState;
use crate::store::audit_search::{ChangeFilter, DecisionFilter};

const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    view: Option<String>,
    uid: Option<String>,
    party: Option<String>,
    result: Option<String>,
    reason: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    before: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn text(field: &str, v: &Option<String>, max: usize) -> Result<Option<String>, ConsoleError> {
    match given(v) {
        Some(v) if v.len() > max => {
            Err(ValidationError::new(field, format!("must be at most {max} characters")).into())
        }
        v => Ok(v.map(str::to_owned)),
    }
}

struct DecisionLine {
    id: i64,
    at: String,
    owner: String,
    uid: String,
    token_type: String,
    requester: String,
    result: String,
    allowed: bool,
    reason: String,
    location: String,
}

struct ChangeLine {
    at: String,
    actor: String,
    action: String,
    subject: String,
    before: String,
    after: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    title: &'static str,
    nav: Nav,
    changes_view: bool,
    uid: String,
    party: String,
    result: String,
    reason: String,
    actor: String,
    action: String,
    decisions: Vec<DecisionLine>,
    changes: Vec<ChangeLine>,
    older: Option<String>,
    newest: Option<String>,
}

/// The audit trail.
#[utoipa::path(
    get,
    path = "/console/audit",
    tag = "console",
    operation_id = "console_audit",
    params(
        ("view" = Option<String>, Query, description = "`changes` for the change log; else decisions."),
        ("uid" = Option<String>, Query, description = "Decisions: token uid."),
        ("party" = Option<String>, Query, description = "Decisions: `CC*PID`."),
        ("result" = Option<String>, Query, description = "Decisions: result."),
        ("reason" = Option<String>, Query, description = "Decisions: reason."),
        ("actor" = Option<String>, Query, description = "Changes: who."),
        ("action" = Option<String>, Query, description = "Changes: what."),
        ("before" = Option<String>, Query, description = "From the page's older link."),
    ),
    responses(
        (status = 200, description = "Decisions or changes, newest first, 50 a page.", content_type = "text/html"),
        (status = 400, description = "A bad filter, named.", content_type = "text/html"),
        (status = 303, description = "No console session: to `/console/login`."),
        (status = 403, description = "The account lacks `audit:read`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn audit(
    user: ConsoleUser<AuditRead>,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let q = query.into_inner();
    let before = match given(&q.before) {
        None => None,
        Some(b) => Some(b.parse::<i64>().ok().filter(|b| *b > 0).ok_or_else(|| {
            ConsoleError::Invalid(ValidationError::new(
                "before",
                "is not a cursor this page handed out",
            ))
        })?),
    };
    let changes_view = given(&q.view) == Some("changes");
    let shown = |v: &Option<String>| given(v).unwrap_or_default().to_owned();
    let mut decisions = Vec::new();
    let mut changes = Vec::new();
    let mut filters: Vec<(&str, String)> = Vec::new();
    let last_id = if changes_view {
        let filter = ChangeFilter {
            actor: text("actor", &q.actor, 200)?,
            action: text("action", &q.action, 100)?,
            ..ChangeFilter::default()
        };
        filters.push(("view", "changes".into()));
        for (k, v) in [("actor", &q.actor), ("action", &q.action)] {
            if let Some(v) = given(v) {
                filters.push((k, v.to_owned()));
            }
        }
        let rows =
            audit_trail::changes(&state.store, user.parties(), filter, before, PAGE_SIZE).await?;
        let last = (rows.len() as i64 == PAGE_SIZE)
            .then(|| rows.last().map(|r| r.id))
            .flatten();
        changes = rows
            .into_iter()
            .map(|c| ChangeLine {
                at: when(c.changed_at),
                actor: c.actor,
                action: c.action,
                subject: c.subject,
                before: c.before.unwrap_or_default(),
                after: c.after.unwrap_or_default(),
            })
            .collect();
        last
    } else {
        let party = given(&q.party)
            .map(|p| party_named("party", p))
            .transpose()?;
        let filter = DecisionFilter {
            token_uid: text("uid", &q.uid, 36)?,
            party,
            result: text("result", &q.result, 40)?.map(|r| r.to_ascii_uppercase()),
            reason: text("reason", &q.reason, 60)?,
            ..DecisionFilter::default()
        };
        for (k, v) in [
            ("uid", &q.uid),
            ("party", &q.party),
            ("result", &q.result),
            ("reason", &q.reason),
        ] {
            if let Some(v) = given(v) {
                filters.push((k, v.to_owned()));
            }
        }
        let rows =
            audit_trail::decisions(&state.store, user.parties(), filter, before, PAGE_SIZE).await?;
        let last = (rows.len() as i64 == PAGE_SIZE)
            .then(|| rows.last().map(|r| r.id))
            .flatten();
        decisions = rows
            .into_iter()
            .map(|d| DecisionLine {
                id: d.id,
                at: when(d.decided_at),
                owner: match (&d.token_country_code, &d.token_party_id) {
                    (Some(cc), Some(pid)) => format!("{cc}*{pid}"),
                    _ => String::new(),
                },
                uid: d.token_uid,
                token_type: d.token_type,
                requester: format!("{}*{}", d.requester_country_code, d.requester_party_id),
                allowed: d.result == "ALLOWED",
                result: d.result,
                reason: d.reason,
                location: d.location_id.unwrap_or_default(),
            })
            .collect();
        last
    };
    let base = filters
        .iter()
        .map(|(k, v)| format!("{k}={}", query_value(v)))
        .collect::<Vec<_>>()
        .join("&");
    let sep = if base.is_empty() { "" } else { "&" };
    page(&AuditPage {
        title: "Audit",
        nav: Nav::of(&user, "audit"),
        changes_view,
        uid: shown(&q.uid),
        party: shown(&q.party),
        result: shown(&q.result),
        reason: shown(&q.reason),
        actor: shown(&q.actor),
        action: shown(&q.action),
        decisions,
        changes,
        older: last_id.map(|id| format!("/console/audit?{base}{sep}before={id}")),
        newest: before.map(|_| format!("/console/audit?{base}")),
    })
}
