//! `/admin/v1/parties` and `/admin/v1/agreements`: parties with their status and settings, invite
//! (token A shown once), suspend/resume and settings; agreements list/add/remove
//! (`parties:read` / `parties:write`). The work is `service::parties` and `service::agreements`,
//! as for the CLI.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Bearer, EveryParty, PartiesRead, PartiesWrite};
use super::error::AdminError;
use super::params::{self, invalid};
use super::tokens::json_body;
use crate::domain::ids::PartyKey;
use crate::domain::party::Role;
use crate::service::agreements::{self, AgreementChange, AgreementError};
use crate::service::parties::{self, RotateError, SettingsChange, SettingsError};
use crate::service::AppState;
use crate::store::connections::InviteOutcome;

#[derive(Serialize, ToSchema)]
pub struct PartyView {
    pub country_code: String,
    pub party_id: String,
    pub role: String,
    pub name: String,
    /// `CONNECTED`, `OFFLINE`, `PLANNED` or `SUSPENDED`.
    pub status: String,
    #[schema(value_type = Object)]
    pub settings: Value,
}

#[derive(Serialize, ToSchema)]
pub struct PartyList {
    pub parties: Vec<PartyView>,
}

/// Every party of the hub with its status and settings.
#[utoipa::path(
    get,
    path = "/admin/v1/parties",
    tag = "admin",
    operation_id = "admin_list_parties",
    responses(
        (status = 200, description = "The parties; for a caller restricted to parties, only its own.", body = PartyList),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `parties:read`."),
    ),
    security(("bearer_token" = []))
)]
pub async fn list(
    caller: Bearer<PartiesRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let parties = parties::list_parties_for(&state.store, caller.parties())
        .await?
        .into_iter()
        .map(|p| PartyView {
            country_code: p.key.country_code.as_str().to_owned(),
            party_id: p.key.party_id.as_str().to_owned(),
            role: p.role.as_str().to_owned(),
            name: p.name,
            status: p.status.as_str().to_owned(),
            settings: serde_json::to_value(p.settings).unwrap_or_default(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(PartyList { parties }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    pub country_code: String,
    pub party_id: String,
    /// `CPO`, `EMSP`, ...
    pub role: String,
    pub name: String,
}

fn role(field: &str, value: &str) -> Result<Role, AdminError> {
    value.parse().map_err(|e: String| invalid(field, e))
}

/// Invites a party: the answer holds its registration token (A), shown this once.
#[utoipa::path(
    post,
    path = "/admin/v1/parties",
    tag = "admin",
    operation_id = "admin_invite_party",
    request_body = Invitation,
    responses(
        (status = 201, description = "`token`: the registration token (A), shown only here; the party registers with it.", body = Object),
        (status = 400, description = "`invalid-parameter`, naming the field."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `parties:write`; `other-party`: the caller is restricted to parties (inviting a party needs a caller that may act for every party)."),
        (status = 409, description = "`conflict`: the party is registered already."),
    ),
    security(("bearer_token" = []))
)]
pub async fn invite(
    caller: Bearer<PartiesWrite, EveryParty>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let invitation: Invitation = json_body(&body)?;
    let key = PartyKey::parse(&invitation.country_code, &invitation.party_id)?;
    let role = role("role", &invitation.role)?;
    let name = invitation.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(invalid("name", "must be 1 to 100 characters"));
    }
    let (outcome, token) =
        parties::invite_party_as(&state.store, &key, role, name, &caller.actor()).await?;
    if outcome == InviteOutcome::AlreadyConnected {
        return Err(AdminError::Conflict(format!(
            "{key} ({role}) is registered: unregister it first"
        )));
    }
    Ok(HttpResponse::Created().json(json!({
        "country_code": key.country_code.as_str(),
        "party_id": key.party_id.as_str(),
        "role": role.as_str(),
        "status": "PLANNED",
        "reinvited": outcome == InviteOutcome::Reinvited,
        "token": token,
    })))
}

/// `Some(None)` for an explicit `null` (clear), `None` when absent (keep).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A change of settings: what is absent stays; `null` clears a limit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// Suspend (`true`) or resume (`false`).
    pub suspended: Option<bool>,
    /// eMSPs only.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub max_concurrent: Option<Option<u32>>,
    /// eMSPs only.
    pub forward_allowed: Option<bool>,
    /// eMSPs only.
    pub delegate_realtime: Option<bool>,
    /// eMSPs only: milliseconds.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub time_budget_ms: Option<Option<u32>>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RoleParam {
    /// The role, when the party has several.
    pub role: Option<String>,
}

/// Changes a party's settings: suspend/resume, `max_concurrent`, `forward_allowed`,
/// `delegate_realtime`, time budget.
#[utoipa::path(
    patch,
    path = "/admin/v1/parties/{country_code}/{party_id}/settings",
    tag = "admin",
    operation_id = "admin_party_settings",
    params(
        ("country_code" = String, Path, description = "The party's country code."),
        ("party_id" = String, Path, description = "The party id."),
        RoleParam,
    ),
    request_body = SettingsBody,
    responses(
        (status = 200, description = "`before` and `after`.", body = Object),
        (status = 400, description = "`invalid-parameter`: a bad field, an eMSP-only setting on another role, or `role` needed."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `parties:write`; `other-party`: not one of the caller's parties."),
        (status = 404, description = "`not-found`: no such party."),
    ),
    security(("bearer_token" = []))
)]
pub async fn settings(
    caller: Bearer<PartiesWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let key = PartyKey::parse(&path.0, &path.1)?;
    caller.may_write_for("party", &key)?;
    let q: RoleParam = params::query(req.query_string())?;
    let role = q.role.as_deref().map(|r| role("role", r)).transpose()?;
    let b: SettingsBody = json_body(&body)?;
    let change = SettingsChange {
        suspended: b.suspended,
        max_concurrent: b.max_concurrent,
        forward_allowed: b.forward_allowed,
        delegate_realtime: b.delegate_realtime,
        time_budget_ms: b.time_budget_ms,
    };
    let action = match b.suspended {
        Some(true) => "party.suspend",
        Some(false) => "party.resume",
        None => "party.set",
    };
    match parties::change_settings_as(&state, &key, role, change, action, &caller.actor()).await {
        Ok(outcome) => Ok(HttpResponse::Ok().json(json!({
            "country_code": outcome.key.country_code.as_str(),
            "party_id": outcome.key.party_id.as_str(),
            "role": outcome.role.as_str(),
            "before": outcome.before,
            "after": outcome.after,
        }))),
        Err(SettingsError::NoSuchParty(what)) => {
            Err(AdminError::NotFound(format!("the hub has no party {what}")))
        }
        Err(e @ SettingsError::AmbiguousRole { .. }) => Err(invalid("role", e.to_string())),
        Err(ref e @ SettingsError::NotForRole { setting, .. }) => {
            Err(invalid(setting, e.to_string()))
        }
        Err(SettingsError::Store(e)) => Err(e.into()),
    }
}

/// Gives the party a new credentials token, shown this once; the old one stops working at once on
/// every instance (as `tokenhub party add --rotate`).
#[utoipa::path(
    post,
    path = "/admin/v1/parties/{country_code}/{party_id}/rotate",
    tag = "admin",
    operation_id = "admin_rotate_party_credentials",
    params(
        ("country_code" = String, Path, description = "The party's country code."),
        ("party_id" = String, Path, description = "The party id."),
        RoleParam,
    ),
    responses(
        (status = 200, description = "`token`: the party's new credentials token, shown only here (the hub keeps its hash). The party must use it from now on; the old one is refused at once.", body = Object),
        (status = 400, description = "`invalid-parameter`: `role` when the party has several."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `parties:write`; `other-party`: not one of the caller's parties."),
        (status = 404, description = "`not-found`: no such party."),
    ),
    security(("bearer_token" = []))
)]
pub async fn rotate(
    caller: Bearer<PartiesWrite>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, AdminError> {
    let key = PartyKey::parse(&path.0, &path.1)?;
    caller.may_write_for("party", &key)?;
    let q: RoleParam = params::query(req.query_string())?;
    let role = q.role.as_deref().map(|r| role("role", r)).transpose()?;
    match parties::rotate_credentials_as(&state, &key, role, &caller.actor()).await {
        Ok((role, token)) => Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({
                "country_code": key.country_code.as_str(),
                "party_id": key.party_id.as_str(),
                "role": role.as_str(),
                "token": token,
            }))),
        Err(RotateError::NoSuchParty(what)) => {
            Err(AdminError::NotFound(format!("the hub has no party {what}")))
        }
        Err(RotateError::AmbiguousRole { key, roles }) => {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(invalid(
                "role",
                format!("{key} has several roles ({}): name one", roles.join(", ")),
            ))
        }
        Err(RotateError::Store(e)) => Err(e.into()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct AgreementView {
    /// `CC*PID`.
    pub cpo: String,
    /// `CC*PID`.
    pub emsp: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementBody {
    /// The CPO as `CC*PID`.
    pub cpo: String,
    /// The eMSP as `CC*PID`.
    pub emsp: String,
}

/// The agreements (which CPO deals with which eMSP), oldest first.
#[utoipa::path(
    get,
    path = "/admin/v1/agreements",
    tag = "admin",
    operation_id = "admin_list_agreements",
    responses(
        (status = 200, description = "The agreements; for a caller restricted to parties, those with one of its parties on a side.", body = Vec<AgreementView>),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `parties:read`."),
    ),
    security(("bearer_token" = []))
)]
pub async fn list_agreements(
    caller: Bearer<PartiesRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    let rows = agreements::list_for(&state.store, caller.parties()).await?;
    let views: Vec<AgreementView> = rows
        .into_iter()
        .map(|r| AgreementView {
            cpo: r.agreement.cpo.to_string(),
            emsp: r.agreement.emsp.to_string(),
            created_at: r.created_at.and_utc(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

async fn change_agreement(
    state: &AppState,
    caller: &Bearer<PartiesWrite>,
    change: AgreementChange,
    body: &[u8],
) -> Result<HttpResponse, AdminError> {
    let actor = &caller.actor();
    let b: AgreementBody = json_body(body)?;
    let cpo = params::party_named("cpo", &b.cpo)?;
    let emsp = params::party_named("emsp", &b.emsp)?;
    // A restricted caller changes the agreements of its own parties, with any counterpart.
    if !caller.parties().permits(&cpo) {
        caller.may_write_for("emsp", &emsp)?;
    }
    match agreements::change_as(state, change, &cpo, &emsp, actor).await {
        Ok(changed) => {
            Ok(HttpResponse::Ok().json(json!({"cpo": b.cpo, "emsp": b.emsp, "changed": changed})))
        }
        Err(e @ AgreementError::NotAParty { .. }) => Err(AdminError::NotFound(e.to_string())),
        Err(AgreementError::Store(e)) => Err(e.into()),
    }
}

/// Adds an agreement (idempotent: `changed` says whether it was new).
#[utoipa::path(
    post,
    path = "/admin/v1/agreements",
    tag = "admin",
    operation_id = "admin_add_agreement",
    request_body = AgreementBody,
    responses(
        (status = 200, description = "`changed`: false when it existed.", body = Object),
        (status = 400, description = "`invalid-parameter`, naming the field."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `parties:write`; `other-party`: neither side is one of the caller's parties."),
        (status = 404, description = "`not-found`: not a CPO or not an eMSP of the hub."),
    ),
    security(("bearer_token" = []))
)]
pub async fn add_agreement(
    caller: Bearer<PartiesWrite>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    change_agreement(&state, &caller, AgreementChange::Add, &body).await
}

/// Removes an agreement (idempotent: `changed` says whether it existed).
#[utoipa::path(
    delete,
    path = "/admin/v1/agreements",
    tag = "admin",
    operation_id = "admin_remove_agreement",
    request_body = AgreementBody,
    responses(
        (status = 200, description = "`changed`: false when there was none.", body = Object),
        (status = 400, description = "`invalid-parameter`, naming the field."),
        (status = 401, description = "No token, or `invalid_token`."),
        (status = 403, description = "`insufficient_scope`: needs `parties:write`; `other-party`: neither side is one of the caller's parties."),
        (status = 404, description = "`not-found`: not a CPO or not an eMSP of the hub."),
    ),
    security(("bearer_token" = []))
)]
pub async fn remove_agreement(
    caller: Bearer<PartiesWrite>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    change_agreement(&state, &caller, AgreementChange::Remove, &body).await
}

/// Full paths (the OpenAPI test reads these registrations).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/v1/parties")
            .route(web::get().to(list))
            .route(web::post().to(invite)),
    );
    cfg.service(
        web::resource("/admin/v1/parties/{country_code}/{party_id}/settings")
            .route(web::patch().to(settings)),
    );
    cfg.service(
        web::resource("/admin/v1/parties/{country_code}/{party_id}/rotate")
            .route(web::post().to(rotate)),
    );
    cfg.service(
        web::resource("/admin/v1/agreements")
            .route(web::get().to(list_agreements))
            .route(web::post().to(add_agreement))
            .route(web::delete().to(remove_agreement)),
    );
}
