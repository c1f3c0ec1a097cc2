//! Routing headers on responses of functional modules (digest §6.1).

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpResponse;

use crate::domain::ids::PartyKey;

/// Sets `OCPI-from-*` and `OCPI-to-*` on a response.
pub fn with_routing(mut response: HttpResponse, from: &PartyKey, to: &PartyKey) -> HttpResponse {
    let headers = response.headers_mut();
    for (name, value) in [
        ("ocpi-from-country-code", from.country_code.as_str()),
        ("ocpi-from-party-id", from.party_id.as_str()),
        ("ocpi-to-country-code", to.country_code.as_str()),
        ("ocpi-to-party-id", to.party_id.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}
