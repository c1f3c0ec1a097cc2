//! What every console page shares: the navigation (links follow the person's scopes), rendering,
//! redirects and links.

use actix_web::http::header;
use actix_web::HttpResponse;
use askama::Template;

use super::auth::{ConsoleUser, PartyRequirement, ScopeRequirement};
use super::error::ConsoleError;
use crate::domain::oauth::Scope;
use crate::domain::token::TokenKey;

/// The header of every page: who is logged in, their CSRF token (the sign-out form), and the
/// sections their scopes open.
pub struct Nav {
    pub user: String,
    pub csrf: String,
    pub active: &'static str,
    pub tokens: bool,
    pub parties: bool,
    pub audit: bool,
    pub import: bool,
}

impl Nav {
    pub fn of<S: ScopeRequirement, P: PartyRequirement>(
        user: &ConsoleUser<S, P>,
        active: &'static str,
    ) -> Nav {
        Nav {
            user: user.session.principal.subject.clone(),
            csrf: user.session.csrf.clone(),
            active,
            tokens: user.may(Scope::TokensRead),
            parties: user.may(Scope::PartiesRead),
            audit: user.may(Scope::AuditRead),
            import: user.may(Scope::TokensWrite),
        }
    }
}

/// A page as the answer: HTML, never cached (it shows what the person's scopes allow).
pub fn page(template: &impl Template) -> Result<HttpResponse, ConsoleError> {
    let html = template.render().map_err(|e| {
        tracing::error!(error = %e, "console: a template failed to render");
        ConsoleError::Internal
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        ))
        .body(html))
}

/// POST-redirect-GET: after an action, to the page that shows its effect.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// One path segment, percent-encoded (a token uid may hold any printable character).
pub fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A query parameter value, percent-encoded.
pub fn query_value(text: &str) -> String {
    segment(text)
}

/// The console's page of one token.
pub fn token_href(key: &TokenKey) -> String {
    format!(
        "/console/tokens/{}/{}/{}?type={}",
        segment(key.owner.country_code.as_str()),
        segment(key.owner.party_id.as_str()),
        segment(key.uid.as_str()),
        query_value(key.token_type.as_str())
    )
}

/// A timestamp as the pages show it.
pub fn when(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}
