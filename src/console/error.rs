//! What goes wrong in the console, mapped in one place to an HTML page and its status (or, when
//! nobody is logged in, to the login).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::domain::oauth::Scope;
use crate::domain::ValidationError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No session (or it ended): to the login.
    #[error("not logged in")]
    NotLoggedIn,
    /// The person's account lacks the scope the page or action needs.
    #[error("needs the scope {}", .0.as_str())]
    Forbidden(Scope),
    /// The person's account is limited to other parties.
    #[error("{0}")]
    OtherParty(String),
    /// A form without this session's CSRF token.
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    #[error("{0}")]
    NotFound(String),
    /// A bad input, naming its field.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("the database is unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for ConsoleError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => ConsoleError::Unavailable,
            other => {
                tracing::error!(error = %other, "console: storage failed");
                ConsoleError::Internal
            }
        }
    }
}

/// The page of an error (no navigation: the person may not be logged in).
#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub link: (&'a str, &'a str),
}

impl ErrorPage<'_> {
    pub fn respond(&self, status: StatusCode) -> HttpResponse {
        match self.render() {
            Ok(html) => HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(html),
            Err(_) => HttpResponse::InternalServerError().finish(),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::NotLoggedIn => StatusCode::SEE_OTHER,
            ConsoleError::Forbidden(_) | ConsoleError::OtherParty(_) | ConsoleError::Csrf => {
                StatusCode::FORBIDDEN
            }
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Invalid(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let back = ("/console", "Back to the console");
        let (title, message, link) = match self {
            ConsoleError::NotLoggedIn => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/console/login"))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish()
            }
            ConsoleError::Forbidden(scope) => (
                "Not allowed",
                format!(
                    "Your account lacks the scope {} ({}). Ask an administrator if you need it.",
                    scope.as_str(),
                    scope.describe()
                ),
                back,
            ),
            ConsoleError::OtherParty(why) => ("Not your party", format!("{why}."), back),
            ConsoleError::Csrf => (
                "Form expired",
                "The form expired or was not sent from this console. Go back, reload the page and try again.".to_owned(),
                back,
            ),
            ConsoleError::NotFound(what) => ("Not found", what.clone(), back),
            ConsoleError::Invalid(e) => (
                "Check the form",
                format!("{}: {}. Nothing was changed.", e.field, e.message),
                back,
            ),
            ConsoleError::Unavailable => (
                "Temporarily unavailable",
                "The hub cannot reach its database. Try again in a moment.".to_owned(),
                back,
            ),
            ConsoleError::Internal => (
                "Something went wrong",
                "The hub could not complete this request; the error is logged.".to_owned(),
                back,
            ),
        };
        ErrorPage {
            title,
            message: &message,
            link,
        }
        .respond(self.status_code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each error, its status and what its page says (the login redirect has no page).
    #[test]
    fn each_error_has_its_status_and_page() {
        let cases: Vec<(ConsoleError, u16, &str)> = vec![
            (ConsoleError::NotLoggedIn, 303, ""),
            (
                ConsoleError::Forbidden(Scope::TokensWrite),
                403,
                "tokens:write",
            ),
            (
                ConsoleError::OtherParty("BE*XYZ is not one of your parties".into()),
                403,
                "BE*XYZ",
            ),
            (ConsoleError::Csrf, 403, "Form expired"),
            (
                ConsoleError::NotFound("There is no such token.".into()),
                404,
                "no such token",
            ),
            (
                ConsoleError::Invalid(ValidationError::new("valid_from", "must be a date")),
                400,
                "valid_from: must be a date. Nothing was changed.",
            ),
            (ConsoleError::Unavailable, 503, "Temporarily unavailable"),
            (ConsoleError::Internal, 500, "Something went wrong"),
        ];
        for (error, status, text) in cases {
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status, "{error:?}");
            let body = actix_web::body::to_bytes(response.into_body());
            let body = futures_util::FutureExt::now_or_never(body)
                .expect("a page is in memory")
                .unwrap_or_default();
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains(text), "{error:?}: {body}");
        }
        let redirect = ConsoleError::NotLoggedIn.error_response();
        assert_eq!(
            redirect
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok()),
            Some("/console/login")
        );
    }
}
