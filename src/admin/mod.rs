//! The management API under `/admin/v1` (docs/design.md §5): OAuth bearer tokens with scopes,
//! checked by the `Bearer<Scope>` extractor. So far: `whoami`; the management routes come next.

pub mod auth;
pub mod error;
pub mod whoami;

pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    whoami::routes(cfg);
}
