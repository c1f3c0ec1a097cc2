//! The Credentials module of every version: `GET` the hub's credentials; `POST` registers an
//! invited partner (token A), `PUT` updates a registration and rotates its token, `DELETE`
//! unregisters. Only the wire shape differs per version (`peers::credentials`); the handshake is
//! `service::partners`.

use actix_web::HttpResponse;

use crate::domain::version::OcpiVersion;
use crate::ocpi::common::envelope;
use crate::ocpi::common::OcpiError;
use crate::peers::credentials::render;
use crate::service::partners;
use crate::service::AppState;

/// The answer to a POST or PUT: the hub's Credentials with the partner's new token C.
pub async fn answer(
    state: &AppState,
    version: OcpiVersion,
    issued: partners::Issued,
) -> Result<HttpResponse, OcpiError> {
    let hub = partners::hub_credentials(state, issued.token_c).await?;
    Ok(envelope::ok(render(version, &hub)))
}

/// The credentials handlers of one version (`get`, `post`, `put`, `delete`), with their OpenAPI
/// operations: the version's module (whose `schema` has the wire types), its `OcpiVersion`
/// variant, the operation ids' suffix, and what the version's `GET` lists.
macro_rules! credentials_handlers {
    ($module:ident, $version:ident, $id_suffix:literal, get_note = $get_note:literal) => {
        use actix_web::http::StatusCode;
        use actix_web::{web, HttpResponse};

        use crate::domain::version::OcpiVersion;
        use crate::ocpi::common::auth::AnyPlatform;
        use crate::ocpi::common::body::JsonBody;
        use crate::ocpi::common::envelope;
        use crate::ocpi::common::OcpiError;
        use crate::service::partners;
        use crate::service::AppState;

        /// Echoes the token the caller presented (it is the caller's own secret) with the hub's
        /// versions URL and roles in this version's shape.
        #[utoipa::path(
            get,
            path = "/credentials",
            tag = "credentials",
            operation_id = concat!("get_credentials", $id_suffix),
            summary = "The hub's credentials for the caller",
            description = concat!("The caller's own credentials token and the hub's versions URL. ", $get_note, " Accepts a registration token (A) as well as a registered one (C)."),
            security(("credentials_token" = [])),
            responses(
                (status = 200, description = "OCPI 1000 with the credentials.", body = crate::ocpi::$module::schema::CredentialsResponse),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
            )
        )]
        pub async fn get(
            caller: AnyPlatform,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            let hub = partners::hub_credentials(&state, caller.presented_token).await?;
            Ok(envelope::ok(crate::peers::credentials::render(OcpiVersion::$version, &hub)))
        }

        #[utoipa::path(
            post,
            path = "/credentials",
            tag = "credentials",
            operation_id = concat!("post_credentials", $id_suffix),
            summary = "Register with the hub (token A)",
            description = "For a partner invited with `tokenhub party invite`, calling with its token A. The body is the partner's Credentials: the token B the hub will use to call it, its versions URL, and exactly the invited roles. Before answering, the hub reads the partner's versions and this version's details with token B. The answer is the hub's Credentials with a new token C; from then on token A is refused.",
            security(("credentials_token" = [])),
            request_body(content = crate::ocpi::$module::schema::Credentials, content_type = "application/json", description = "The partner's Credentials."),
            responses(
                (status = 200, description = "OCPI 1000 with the hub's Credentials and token C. Or, without `data`: OCPI 2001 when the body breaks a rule or names roles that were not invited; 3001 when the partner's versions could not be read with token B; 3002 when the partner does not offer this version; 3003 when it offers no endpoint the hub uses.", body = crate::ocpi::$module::schema::CredentialsResponse),
                (status = 400, response = crate::ocpi::common::responses::NotJson),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 405, response = crate::ocpi::common::responses::RegistrationState),
                (status = 413, response = crate::ocpi::common::responses::PayloadTooLarge),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
            )
        )]
        pub async fn post(
            caller: AnyPlatform,
            body: JsonBody,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            let credentials = crate::peers::credentials::parse(serde_json::Value::Object(body.object()?))?;
            let issued = partners::register_incoming(
                &state,
                &caller.platform,
                &caller.presented_token,
                OcpiVersion::$version,
                credentials,
            )
            .await?;
            crate::ocpi::common::credentials::answer(&state, OcpiVersion::$version, issued).await
        }

        #[utoipa::path(
            put,
            path = "/credentials",
            tag = "credentials",
            operation_id = concat!("put_credentials", $id_suffix),
            summary = "Update a registration and rotate its token",
            description = "For a registered partner, calling with its current token C. The body is the partner's Credentials (its current or new token B, its versions URL, the same roles). The hub reads the partner's versions and version details again and answers with a new token C; the previous one is refused from then on.",
            security(("credentials_token" = [])),
            request_body(content = crate::ocpi::$module::schema::Credentials, content_type = "application/json", description = "The partner's Credentials."),
            responses(
                (status = 200, description = "OCPI 1000 with the hub's Credentials and the new token C; or OCPI 2001, 3001, 3002 or 3003 without `data`, as for POST.", body = crate::ocpi::$module::schema::CredentialsResponse),
                (status = 400, response = crate::ocpi::common::responses::NotJson),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 405, response = crate::ocpi::common::responses::RegistrationState),
                (status = 413, response = crate::ocpi::common::responses::PayloadTooLarge),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
            )
        )]
        pub async fn put(
            caller: AnyPlatform,
            body: JsonBody,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            let credentials = crate::peers::credentials::parse(serde_json::Value::Object(body.object()?))?;
            let issued = partners::update_incoming(
                &state,
                &caller.platform,
                &caller.presented_token,
                OcpiVersion::$version,
                credentials,
            )
            .await?;
            crate::ocpi::common::credentials::answer(&state, OcpiVersion::$version, issued).await
        }

        #[utoipa::path(
            delete,
            path = "/credentials",
            tag = "credentials",
            operation_id = concat!("delete_credentials", $id_suffix),
            summary = "Unregister",
            description = "For a registered partner, calling with its token C: the token stops working, the hub forgets the token it used to call the partner, and the partner shows as SUSPENDED until it is invited again.",
            security(("credentials_token" = [])),
            responses(
                (status = 200, description = "OCPI 1000, no `data`: unregistered.", body = crate::ocpi::common::schema::EmptyResponse),
                (status = 401, response = crate::ocpi::common::responses::Unauthorized),
                (status = 405, response = crate::ocpi::common::responses::RegistrationState),
                (status = 500, response = crate::ocpi::common::responses::InternalError),
                (status = 503, response = crate::ocpi::common::responses::Unavailable),
            )
        )]
        pub async fn delete(
            caller: AnyPlatform,
            state: web::Data<AppState>,
        ) -> Result<HttpResponse, OcpiError> {
            partners::unregister_incoming(&state, &caller.platform, &caller.presented_token).await?;
            Ok(envelope::ok_empty(StatusCode::OK))
        }
    };
}
pub(crate) use credentials_handlers;
