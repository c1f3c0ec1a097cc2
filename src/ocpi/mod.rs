//! The OCPI surface: what every version shares (`common`) and one module per version, each with
//! its own wire types and routes under `/ocpi/{version}`.

pub mod common;
pub mod v2_2_1;
pub mod v2_3_0;

use actix_web::{web, Scope};

use crate::domain::version::OcpiVersion;
use crate::error::Error;
use common::OcpiError;

/// The versions `/ocpi/versions` lists, newest first; each has its module and scope here.
pub const VERSIONS: [OcpiVersion; 2] = [OcpiVersion::V2_3_0, OcpiVersion::V2_2_1];

/// Everything under `/ocpi`: each version's scope, then the version list, with OCPI envelopes for every error: bad path and query parameters
/// (OCPI 2001), unknown paths (404) and unsupported methods (405).
pub fn scope() -> Scope {
    web::scope("/ocpi")
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| OcpiError(Error::invalid("query", e.to_string())).into()),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| OcpiError(Error::invalid("path", e.to_string())).into()),
        )
        .service(v2_3_0::scope())
        .service(v2_2_1::scope())
        .service(
            web::resource("/versions")
                .route(web::get().to(common::versions::list))
                .default_service(web::to(common::method_not_allowed)),
        )
        .default_service(web::to(common::not_found))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each version module's `VERSION` (which its routes and the OpenAPI paths use) is the number
    /// its `OcpiVersion` advertises.
    #[test]
    fn version_modules_match_their_versions() {
        assert_eq!(v2_3_0::VERSION, OcpiVersion::V2_3_0.as_str());
        assert_eq!(v2_2_1::VERSION, OcpiVersion::V2_2_1.as_str());
        assert_eq!(VERSIONS.len(), 2);
    }
}
