//! The management API under `/admin/v1` (docs/design.md §5): OAuth bearer tokens with scopes,
//! checked by the `Bearer<Scope>` extractor; errors as RFC 9457 problem details. One module per
//! resource: `whoami`, `tokens`, `token_files` (import/export), `audit`, `parties`, `clients`, `users`.

pub mod audit;
pub mod auth;
pub mod clients;
pub mod error;
pub mod params;
pub mod parties;
pub mod token_files;
pub mod tokens;
pub mod users;
pub mod whoami;

pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    whoami::routes(cfg);
    token_files::routes(cfg);
    tokens::routes(cfg);
    audit::routes(cfg);
    parties::routes(cfg);
    clients::routes(cfg);
    users::routes(cfg);
}
