//! Parties: their status and settings; invite (token A shown once), suspend and resume.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::{ConsolePost, ConsoleUser, EveryParty, PartiesRead, PartiesWrite};
use super::error::ConsoleError;
use super::view::{page, see_other, Nav};
use crate::domain::ids::PartyKey;
use crate::domain::oauth::Scope;
use crate::domain::party::Role;
use crate::domain::ValidationError;
use crate::service::parties::{
    change_settings_as, invite_party_as, list_parties_for, PartyListing, SettingsChange,
    SettingsError,
};
use crate::service::AppState;
use crate::store::connections::InviteOutcome;

#[derive(Template)]
#[template(path = "console/parties.html")]
struct PartiesPage {
    title: &'static str,
    nav: Nav,
    parties: Vec<PartyListing>,
    may_write: bool,
    may_invite: bool,
}

/// Parties.
#[utoipa::path(
    get,
    path = "/console/parties",
    tag = "console",
    operation_id = "console_parties",
    responses(
        (status = 200, description = "Every party with its status and settings; invite and suspend/resume forms for `parties:write`.", content_type = "text/html"),
        (status = 303, description = "No console session: to `/console/login`."),
        (status = 403, description = "The account lacks `parties:read`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn list(
    user: ConsoleUser<PartiesRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let parties = list_parties_for(&state.store, user.parties()).await?;
    page(&PartiesPage {
        title: "Parties",
        nav: Nav::of(&user, "parties"),
        parties,
        may_write: user.may(Scope::PartiesWrite),
        may_invite: user.may(Scope::PartiesWrite) && !user.parties().is_restricted(),
    })
}

fn role(value: &str) -> Result<Role, ConsoleError> {
    value
        .parse::<Role>()
        .map_err(|e| ConsoleError::Invalid(ValidationError::new("role", e)))
}

#[derive(Deserialize)]
pub struct InviteForm {
    country_code: String,
    party_id: String,
    role: String,
    name: String,
}

#[derive(Template)]
#[template(path = "console/invited.html")]
struct InvitedPage {
    title: &'static str,
    nav: Nav,
    party: String,
    role: &'static str,
    token: String,
    reinvited: bool,
}

/// Answers with the new token A on the page itself, not through a redirect: it is shown once and
/// stored nowhere in plain text, so no later GET could show it.
#[utoipa::path(
    post,
    path = "/console/parties/invite",
    tag = "console",
    operation_id = "console_party_invite",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`csrf`, `country_code`, `party_id`, `role`, `name`."),
    responses(
        (status = 200, description = "The new token A, shown once (not stored in plain text).", content_type = "text/html"),
        (status = 400, description = "A bad field, named, or a registered party.", content_type = "text/html"),
        (status = 403, description = "The account lacks `parties:write`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn invite(
    post: ConsolePost<PartiesWrite, InviteForm, EveryParty>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let form = post.form;
    let key = PartyKey::parse(form.country_code.trim(), form.party_id.trim())?;
    let role = role(form.role.trim())?;
    let name = form.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ValidationError::new("name", "must be 1 to 100 characters").into());
    }
    let (outcome, token) =
        invite_party_as(&state.store, &key, role, name, &post.user.actor()).await?;
    if outcome == InviteOutcome::AlreadyConnected {
        return Err(ValidationError::new(
            "party",
            format!("{key} ({role}) is registered already: unregister it first"),
        )
        .into());
    }
    let mut response = page(&InvitedPage {
        title: "Invitation",
        nav: Nav::of(&post.user, "parties"),
        party: key.to_string(),
        role: role.as_str(),
        token,
        reinvited: outcome == InviteOutcome::Reinvited,
    })?;
    response
        .headers_mut()
        .insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[derive(Deserialize)]
pub struct NoFields {}

/// Suspends or resumes a party.
#[utoipa::path(
    post,
    path = "/console/parties/{country_code}/{party_id}/{role}/{action}",
    tag = "console",
    operation_id = "console_party_suspend_resume",
    params(
        ("country_code" = String, Path, description = "Country code."),
        ("party_id" = String, Path, description = "Party id."),
        ("role" = String, Path, description = "Role (`EMSP`, `CPO`, ...)."),
        ("action" = String, Path, description = "`suspend` or `resume`."),
    ),
    request_body(content_type = "application/x-www-form-urlencoded", description = "`csrf`."),
    responses(
        (status = 303, description = "Done: back to the parties."),
        (status = 404, description = "No such party or action.", content_type = "text/html"),
        (status = 403, description = "The account lacks `parties:write`, or (posts) the form's CSRF token is wrong.", content_type = "text/html"),
    )
)]
pub async fn suspend_or_resume(
    post: ConsolePost<PartiesWrite, NoFields>,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (cc, pid, role_text, action) = path.into_inner();
    let key = PartyKey::parse(&cc, &pid)?;
    post.user.may_act_for(&key)?;
    let role = role(&role_text)?;
    let (suspended, action) = match action.as_str() {
        "suspend" => (true, "party.suspend"),
        "resume" => (false, "party.resume"),
        _ => return Err(ConsoleError::NotFound("No such action.".into())),
    };
    let change = SettingsChange {
        suspended: Some(suspended),
        ..SettingsChange::default()
    };
    match change_settings_as(&state, &key, Some(role), change, action, &post.user.actor()).await {
        Ok(_) => Ok(see_other("/console/parties")),
        Err(SettingsError::Store(e)) => Err(e.into()),
        Err(SettingsError::NoSuchParty(p)) => {
            Err(ConsoleError::NotFound(format!("The hub has no party {p}.")))
        }
        Err(e) => Err(ValidationError::new("party", e.to_string()).into()),
    }
}
