//! Assembles the OpenAPI 3.1 description of every route from the surfaces' own annotations and
//! wire types (each OCPI version nested under its base path), and adds what every operation
//! shares. Declares no wire type itself. `docs` serves it.
//!
//! `openapi/openapi.json` is this document, checked in; `tests/openapi.rs` fails when it differs
//! from what the code produces (`UPDATE_OPENAPI=1 cargo test --test openapi` rewrites it).
//!

pub mod docs;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{Object as SchemaObject, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDoc, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};

use crate::ocpi::common::responses::{
    status_table, Forbidden, ForwardTimeout, InternalError, NotJson, PayloadTooLarge,
    ReceiverNotConnected, RegistrationState, TooManyRequests, Unauthorized, Unavailable,
    UnknownReceiver, UnknownSession, UnknownToken,
};
use crate::ocpi::common::schema::{EmptyResponse, ErrorResponse};
use crate::ocpi::{v2_2_1, v2_3_0};

/// Name of the security scheme of the OCPI routes.
pub const CREDENTIALS_TOKEN: &str = "credentials_token";
/// Name of the security scheme of the management API.
pub const BEARER_TOKEN: &str = "bearer_token";

/// Where the document and the documentation page are served.
pub const OPENAPI_PATH: &str = "/openapi.json";
pub const DOCS_PATH: &str = "/docs";

#[derive(OpenApi)]
#[openapi(
    info(title = "tokenhub", version = env!("CARGO_PKG_VERSION")),
    paths(
        crate::ocpi::common::versions::list,
        crate::ops::health::healthz,
        crate::ops::health::readyz,
        crate::ops::metrics::render,
        docs::openapi_json,
        docs::docs_page,
        docs::docs_asset,
        crate::oauth::token::token,
        crate::oauth::revoke::revoke,
        crate::oauth::introspect::introspect,
        crate::oauth::metadata::metadata,
        crate::oauth::metadata::jwks,
        crate::oauth::authorize::authorize,
        crate::oauth::authorize::login,
        crate::oauth::authorize::totp_step,
        crate::oauth::authorize::consent,
        crate::admin::whoami::whoami,
        crate::admin::whoami::whoami_tokens_read,
        crate::admin::whoami::whoami_tokens_write,
        crate::admin::whoami::whoami_parties_read,
        crate::admin::whoami::whoami_parties_write,
        crate::admin::whoami::whoami_sessions_read,
        crate::admin::whoami::whoami_audit_read,
        crate::admin::whoami::whoami_clients_write,
        crate::admin::tokens::search,
        crate::admin::tokens::get_token,
        crate::admin::tokens::set_token_policy,
        crate::admin::tokens::clear_token_policy,
        crate::admin::tokens::bulk_policy,
        crate::admin::token_files::export,
        crate::admin::token_files::import,
        crate::admin::token_files::import_policy,
        crate::admin::audit::decisions,
        crate::admin::audit::changes,
        crate::admin::parties::list,
        crate::admin::parties::invite,
        crate::admin::parties::settings,
        crate::admin::parties::rotate,
        crate::admin::parties::list_agreements,
        crate::admin::parties::add_agreement,
        crate::admin::parties::remove_agreement,
        crate::admin::clients::add,
        crate::admin::clients::list,
        crate::admin::clients::disable,
        crate::admin::users::add,
        crate::admin::users::list,
        crate::admin::users::disable,
        crate::console::dashboard::dashboard,
        crate::console::assets::stylesheet,
        crate::console::login::login,
        crate::console::login::callback,
        crate::console::login::callback_external,
        crate::console::login::logout,
        crate::console::login::signed_out,
        crate::console::tokens::list,
        crate::console::tokens::show,
        crate::console::tokens::block,
        crate::console::tokens::unblock,
        crate::console::tokens::policy,
        crate::console::parties::list,
        crate::console::parties::invite,
        crate::console::parties::suspend_or_resume,
        crate::console::audit::audit,
        crate::console::import::form,
        crate::console::import::upload,
    ),
    components(
        schemas(
            ErrorResponse,
            EmptyResponse,
            crate::oauth::token::TokenResponse,
            crate::oauth::introspect::Introspection,
            crate::admin::whoami::WhoAmI,
            crate::admin::tokens::TokenSearch,
            crate::admin::tokens::TokenPage,
            crate::admin::tokens::PolicyBody,
            crate::admin::tokens::BulkPolicy,
            crate::admin::tokens::BulkAnswer,
            crate::admin::audit::AuditPage,
            crate::admin::parties::PartyView,
            crate::admin::parties::PartyList,
            crate::admin::parties::Invitation,
            crate::admin::parties::SettingsBody,
            crate::admin::parties::AgreementView,
            crate::admin::parties::AgreementBody,
            crate::admin::clients::NewClientBody,
            crate::admin::clients::ClientView,
            crate::admin::users::NewUserBody,
            crate::admin::users::UserView,
        ),
        responses(
            NotJson,
            Unauthorized,
            Forbidden,
            UnknownToken,
            UnknownSession,
            TooManyRequests,
            PayloadTooLarge,
            RegistrationState,
            InternalError,
            Unavailable,
            UnknownReceiver,
            ForwardTimeout,
            ReceiverNotConnected,
        )
    ),
    tags(
        (name = "versions", description = "OCPI versions module: the version list and the endpoints of 2.3.0 and of 2.2.1."),
        (name = "credentials", description = "OCPI credentials module (GET): the hub's credentials for the caller."),
        (name = "hubclientinfo", description = "OCPI hubclientinfo module (sender interface): the parties reachable through the hub and their connection status."),
        (name = "tokens", description = "OCPI tokens module: eMSPs push tokens (receiver interface); CPOs pull the list and ask for real-time authorization (sender interface)."),
        (name = "sessions", description = "OCPI sessions module (receiver interface): CPOs push sessions, which move token usage."),
        (name = "operations", description = "Liveness, readiness and Prometheus metrics for orchestrators and monitoring."),
        (name = "documentation", description = "This OpenAPI document and its rendering."),
        (name = "oauth", description = "OAuth 2 authorization server: client-credentials tokens (JWTs, RFC 9068), people's tokens through the authorization-code grant with PKCE S256 (login, TOTP and consent pages, server-rendered HTML) and rotating refresh tokens, revocation (RFC 7009), introspection (RFC 7662), metadata (RFC 8414) and signing keys (JWKS). Errors per RFC 6749 §5.2: `{error, error_description}`."),
        (name = "admin", description = "Management API: an OAuth 2 bearer token with the route's scope (named in each route's 403). Errors are RFC 9457 problem details (`application/problem+json`) with a stable `type` (`urn:tokenhub:problem:<kind>`: `unauthenticated`, `invalid-request`, `invalid-token`, `insufficient-scope`, `invalid-parameter` with `field`, `not-found`, `conflict`, `unavailable`, `internal`); a refused bearer token also per RFC 6750 (`WWW-Authenticate`, `error`, `error_description`)."),
        (name = "console", description = "The admin console: server-rendered HTML pages for people, usable without JavaScript. A person logs in through `/console/login` (the hub's own authorization-code + PKCE flow, as the built-in client `tokenhub-console`); the session is the `th_console` cookie (HttpOnly, SameSite=Strict, Secure on https) and its tokens stay on the server. Each page and action needs the scope named in its 403, checked as for the management API; every form carries the session's CSRF token. Changes are in the change log as `user:<name> via client:tokenhub-console`."),
    )
)]
pub struct ApiDoc;

/// The document, as the code describes it: each OCPI version's operations nested under its base
/// path, then the conventions every operation shares.
pub fn document() -> OpenApiDoc {
    let mut doc = ApiDoc::openapi();
    for (version, api) in [
        (v2_3_0::VERSION, v2_3_0::Api::openapi()),
        (v2_2_1::VERSION, v2_2_1::Api::openapi()),
    ] {
        doc = doc.nest_with_path_composer(
            format!("/ocpi/{version}"),
            api,
            // The version details live at the base itself, not at `base/`.
            |base, path| match path {
                "/" => base.to_owned(),
                _ => format!("{base}{path}"),
            },
        );
    }
    Conventions.modify(&mut doc);
    doc
}

/// The document as pretty JSON with a final newline: what `openapi/openapi.json` holds. Stable:
/// every map in the document is ordered.
pub fn to_pretty_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------------------------
// What every operation shares: security scheme, request ids, routing headers.
// ---------------------------------------------------------------------------------------------

const REQUEST_ID: &str = "X-Request-ID";
const CORRELATION_ID: &str = "X-Correlation-ID";
const ROUTING_HEADERS: [(&str, &str); 4] = [
    (
        "OCPI-from-country-code",
        "Country code of the party that sends the message.",
    ),
    (
        "OCPI-from-party-id",
        "Party id of the party that sends the message.",
    ),
    (
        "OCPI-to-country-code",
        "Country code of the party the message is for.",
    ),
    (
        "OCPI-to-party-id",
        "Party id of the party the message is for.",
    ),
];

/// Tags of the OCPI functional modules, which carry the routing headers.
const FUNCTIONAL_MODULES: [&str; 2] = ["tokens", "sessions"];

fn string_schema(max_length: usize) -> SchemaObject {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max_length))
        .build()
}

fn header_ref(name: &str) -> RefOr<utoipa::openapi::header::Header> {
    RefOr::Ref(Ref::new(format!("#/components/headers/{name}")))
}

fn parameter_ref(name: &str) -> RefOr<utoipa::openapi::path::Parameter> {
    RefOr::Ref(Ref::new(format!("#/components/parameters/{name}")))
}

struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        openapi.info.description = Some(format!("{}\n\n{}", API_DESCRIPTION, status_table()));
        openapi.info.license = Some(
            utoipa::openapi::LicenseBuilder::new()
                .name("Apache-2.0")
                .identifier(Some("Apache-2.0"))
                .build(),
        );
        openapi.info.contact = None;

        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            CREDENTIALS_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "OCPI credentials token: `Authorization: Token <base64(credentials token)>`. The \
                 raw token is accepted too (older peers). `party add` prints a party's token. The \
                 versions and credentials modules also accept a registration token (A); the \
                 functional modules need a registered token (C).",
            ))),
        );

        components.add_security_scheme(
            BEARER_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An OAuth 2 access token from `POST /oauth/token` (or from the configured \
                         external identity provider): `Authorization: Bearer <token>`. Each route \
                         needs one scope; `tokenhub client add --scopes` sets what a client may have.",
                    ))
                    .build(),
            ),
        );

        let ids = [
            (
                REQUEST_ID,
                "Identifies this request; echoed on the response, generated (UUID) when absent. At most 255 characters.",
            ),
            (
                CORRELATION_ID,
                "Identifies the exchange this request belongs to; echoed on the response, generated (UUID) when absent. At most 255 characters.",
            ),
        ];
        for (name, description) in ids {
            components.parameters.insert(
                name.to_owned(),
                RefOr::T(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(description))
                        .schema(Some(string_schema(255)))
                        .build(),
                ),
            );
            components.headers.insert(
                name.to_owned(),
                RefOr::T(
                    HeaderBuilder::new()
                        .schema(Some(string_schema(255)))
                        .description(Some(description))
                        .build(),
                ),
            );
        }
        for (name, description) in ROUTING_HEADERS {
            let max = if name.ends_with("country-code") { 2 } else { 3 };
            components.parameters.insert(
                name.to_owned(),
                RefOr::T(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(format!(
                            "{description} Give both `OCPI-from-*` headers to act as one of several \
                             parties of the credentials token (or neither when it serves one fitting \
                             party); give both `OCPI-to-*` headers to name the token's eMSP on \
                             `authorize`."
                        )))
                        .schema(Some(string_schema(max)))
                        .build(),
                ),
            );
            components.headers.insert(
                name.to_owned(),
                RefOr::T(
                    HeaderBuilder::new()
                        .schema(Some(string_schema(max)))
                        .description(Some(format!(
                            "{description} Set on every answer of the functional modules, errors included."
                        )))
                        .build(),
                ),
            );
        }

        for (_, response) in components.responses.iter_mut() {
            if let RefOr::T(response) = response {
                add_id_headers(response);
            }
        }

        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                decorate(operation);
            }
        }
    }
}

fn add_id_headers(response: &mut Response) {
    for name in [REQUEST_ID, CORRELATION_ID] {
        response.headers.insert(name.to_owned(), header_ref(name));
    }
}

fn decorate(operation: &mut Operation) {
    let functional = operation
        .tags
        .iter()
        .flatten()
        .any(|t| FUNCTIONAL_MODULES.contains(&t.as_str()));
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    parameters.push(parameter_ref(REQUEST_ID));
    parameters.push(parameter_ref(CORRELATION_ID));
    if functional {
        for (name, _) in ROUTING_HEADERS {
            parameters.push(parameter_ref(name));
        }
    }
    // Every route that authenticates can refuse an address that failed too often: the 429 is
    // added here rather than repeated on each handler.
    if operation.responses.responses.contains_key("401") {
        operation.responses.responses.insert(
            "429".to_owned(),
            RefOr::Ref(Ref::from_response_name("TooManyRequests")),
        );
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        add_id_headers(response);
        if functional && status.starts_with('2') {
            for (name, _) in ROUTING_HEADERS {
                response.headers.insert(name.to_owned(), header_ref(name));
            }
        }
    }
}

const API_DESCRIPTION: &str = "\
An OCPI 2.3.0 token-authorization hub, which speaks OCPI 2.2.1 too (under `/ocpi/2.2.1`, on the \
same registry). eMSPs push their driver tokens to the hub; CPOs pull the token list and ask the \
hub in real time whether a token may charge. The hub decides from its \
token registry (validity, hub policy, expiry window, concurrent use) and keeps every decision in \
an audit trail.

**Authentication.** The OCPI routes need `Authorization: Token <base64(credentials token)>` (see \
the `credentials_token` scheme); the management API (`/admin/v1`) an OAuth 2 bearer token (see \
`bearer_token`) from `/oauth/token`, where a client authenticates with its id and secret; \
`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`, the OAuth metadata and JWKS need none; \
the console's pages (`/console`) a session cookie from its login (see the `console` tag).

**Envelope.** Every OCPI answer, errors included, is `{data?, status_code, status_message?, \
timestamp}`. A broken rule is answered with HTTP 200 and OCPI 2001, with a `status_message` \
naming the field. Every answer echoes `X-Request-ID` and `X-Correlation-ID` (generated when \
absent).";
