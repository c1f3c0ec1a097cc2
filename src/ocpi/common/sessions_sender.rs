//! Sessions sender interface (OCPI Sessions, SENDER): eMSPs pull the sessions of their own tokens
//! (those whose `cdr_token` is theirs), whichever CPO pushed them and over whichever version; a
//! CPO pulls its own sessions, to reconcile, as an eMSP reconciles its tokens through the tokens
//! sender (docs/design.md §8 "Who sees what": the owner of the data reads its own). `date_from`
//! is required here (OCPI). One implementation for every version; [`sessions_sender_handlers`]
//! gives each version its handler and OpenAPI operation.

use actix_web::HttpResponse;

use crate::domain::party::Role;
use crate::domain::version::{OcpiVersion, TOKEN_TYPES_2_2_1};
use crate::error::Error;
use crate::ocpi::common::auth::{Caller, SessionReaderRole};
use crate::ocpi::common::envelope;
use crate::ocpi::common::pagination::PageQuery;
use crate::ocpi::common::versions::{base_url, SESSIONS_SENDER};
use crate::ocpi::common::OcpiError;
use crate::service::sessions;
use crate::service::AppState;
use crate::store::sessions::SessionListFilter;

pub async fn list(
    version: OcpiVersion,
    caller: Caller<SessionReaderRole>,
    query: PageQuery,
    state: &AppState,
) -> Result<HttpResponse, OcpiError> {
    let page = query.page(&state.pagination)?;
    let date_from = page.date_from.ok_or_else(|| {
        Error::invalid("date_from", "is required by the Sessions sender interface")
    })?;
    let party = caller.key().clone();
    let (emsp, cpo) = match caller.party.role {
        Role::Emsp => (Some(party), None),
        _ => (None, Some(party)),
    };
    let types_2_2_1: &'static [&'static str] = &TOKEN_TYPES_2_2_1;
    let filter = SessionListFilter {
        emsp,
        cpo,
        date_from,
        date_to: page.date_to,
        // A 2.2.1 partner cannot name the other token types: their sessions are left out.
        token_types: (version == OcpiVersion::V2_2_1).then_some(types_2_2_1),
    };
    let (stored, total) =
        sessions::sender_page(&state.store, filter, page.offset, page.limit).await?;
    let data: Vec<_> = stored.into_iter().map(|s| version.session_for(s)).collect();
    let returned = data.len();
    Ok(page.headers(
        envelope::ok(data),
        returned,
        total,
        &format!("{}{SESSIONS_SENDER}", base_url(state, version)),
    ))
}

/// The sessions sender handler of one version (`list`), with its OpenAPI operation: the
/// version's module (whose `schema` has the wire types), its `OcpiVersion` variant, the operation
/// id's suffix, and what the version adds to the description.
macro_rules! sessions_sender_handlers {
    ($module:ident, $version:ident, $id_suffix:literal, note = $note:literal) => {
        use actix_web::{web, HttpResponse};

        use crate::domain::version::OcpiVersion;
        use crate::ocpi::common::auth::{Caller, SessionReaderRole};
        use crate::ocpi::common::pagination::PageQuery;
        use crate::ocpi::common::sessions_sender as shared;
        use crate::ocpi::common::OcpiError;
        use crate::service::AppState;

        #[utoipa::path(
            get,
            path = "/sender/sessions",
            tag = "sessions",
            operation_id = concat!("list_sessions", $id_suffix),
            summary = "The paginated session list",
            description = concat!("Sessions as their CPOs pushed them (over either version), oldest first. An eMSP gets the sessions of its own tokens (their `cdr_token` names it), from every CPO; a CPO gets its own sessions, to reconcile. `date_from` is required (OCPI 2001 without it); `date_from` and `date_to` apply to the session's `last_updated`. `total_cost` is served as this version's `Price`. Follow the `Link` header for the next page.", $note),
            security(("credentials_token" = [])),
            params(PageQuery),
            responses(
                (
                    status = 200,
                    description = "OCPI 1000 with one page of sessions; or OCPI 2001 without `data` when `date_from` is missing or `offset`, `limit` or a date breaks a rule.",
                    body = crate::ocpi::$module::schema::SessionListResponse,
                    headers(
                        ("X-Total-Count" = u64, description = "How many sessions match, over all pages."),
                        ("X-Limit" = u64, description = "The largest page the hub serves (`pagination.max_limit`)."),
                        ("Link" = String, description = "`<URL>; rel=\"next\"` of the next page; absent on the last page."),
                    )
                ),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 403, response = crate::ocpi::common::responses::Forbidden),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
            )
        )]
        pub async fn list(
            caller: Caller<SessionReaderRole>,
            query: web::Query<PageQuery>,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            shared::list(OcpiVersion::$version, caller, query.into_inner(), &state).await
        }
    };
}
pub(crate) use sessions_sender_handlers;
