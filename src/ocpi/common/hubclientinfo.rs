//! HubClientInfo module, SENDER interface of the hub (OCPI `mod_hub_client_info`), the same in 2.2.1 and 2.3.0:
//! every party reachable through the hub with its connection status, paginated like every list.
//! A configuration module: no routing headers; any registered platform may read it (not with a
//! registration token A).

/// The hubclientinfo handler of one version (`list`), with its OpenAPI operation: the version's
/// `OcpiVersion` variant and the operation id's suffix.
macro_rules! hubclientinfo_handlers {
    ($version:ident, $id_suffix:literal) => {
        use actix_web::{web, HttpResponse};

        use crate::ocpi::common::auth::RegisteredPlatform;
        use crate::ocpi::common::envelope;
        use crate::ocpi::common::pagination::PageQuery;
        use crate::ocpi::common::OcpiError;
        use crate::peers::client_info::render;
        use crate::service::client_info;
        use crate::service::AppState;

        #[utoipa::path(
            get,
            path = "/hubclientinfo",
            tag = "hubclientinfo",
            operation_id = concat!("list_client_infos", $id_suffix),
            summary = "The parties reachable through the hub and their status",
            description = "Every party of the hub, oldest first, with its `ConnectionStatus`: `CONNECTED` (added with `party add`, or registered and answering), `OFFLINE` (registered, but its versions did not answer the hub's last liveness check), `PLANNED` (invited, not registered yet), `SUSPENDED` (unregistered, or suspended by the operator). With `hub.agreements = \"explicit\"` the list is the caller's: a CPO and an eMSP without a roaming agreement show each other `PLANNED`. `last_updated` is the time of the party's last change. Any registered platform may read it; a registration token (A) is refused. No routing headers. Follow the `Link` header for the next page.",
            security(("credentials_token" = [])),
            params(PageQuery),
            responses(
                (
                    status = 200,
                    description = "OCPI 1000 with one page of ClientInfo objects; or OCPI 2001 without `data` when `offset`, `limit` or a date breaks a rule.",
                    body = crate::ocpi::common::schema::ClientInfoListResponse,
                    headers(
                        ("X-Total-Count" = u64, description = "How many parties match, over all pages."),
                        ("X-Limit" = u64, description = "The largest page the hub serves (`pagination.max_limit`)."),
                        ("Link" = String, description = "`<URL>; rel=\"next\"` of the next page; absent on the last page."),
                    )
                ),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
            )
        )]
        pub async fn list(
            caller: RegisteredPlatform,
            query: web::Query<PageQuery>,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            let page = query.page(&state.pagination)?;
            // Per caller: under explicit roaming agreements, a CPO sees the eMSPs it has no
            // agreement with as PLANNED, and the other way round.
            let roles = &caller.platform.roles;
            let matching: Vec<_> = client_info::list(&state.store, state.agreements, roles)
                .await?
                .into_iter()
                .filter(|info| page.admits(info.last_updated))
                .collect();
            let total = matching.len() as i64;
            let objects: Vec<_> = page.slice(matching).iter().map(render).collect();
            let returned = objects.len();
            Ok(page.headers(
                envelope::ok(objects),
                returned,
                total,
                &format!(
                    "{}/ocpi/{}/hubclientinfo",
                    state.public_url,
                    crate::domain::version::OcpiVersion::$version.as_str()
                ),
            ))
        }
    };
}
pub(crate) use hubclientinfo_handlers;
