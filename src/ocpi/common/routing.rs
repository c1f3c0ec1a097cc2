//! Routing headers on responses of functional modules (digest §6.1), errors included.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};

use crate::domain::ids::PartyKey;
use crate::service::AppState;

/// The party a functional request was resolved to (set by the `Caller` extractor): the `TO` of
/// its answer.
#[derive(Clone, Debug)]
pub struct RoutedCaller(pub PartyKey);

const FROM_COUNTRY_CODE: &str = "ocpi-from-country-code";

/// Sets `OCPI-from-*` and `OCPI-to-*` on a response.
pub fn with_routing(mut response: HttpResponse, from: &PartyKey, to: &PartyKey) -> HttpResponse {
    set_routing(response.headers_mut(), from, Some(to));
    response
}

fn set_routing(headers: &mut HeaderMap, from: &PartyKey, to: Option<&PartyKey>) {
    let mut pairs = vec![
        (FROM_COUNTRY_CODE, from.country_code.as_str()),
        ("ocpi-from-party-id", from.party_id.as_str()),
    ];
    if let Some(to) = to {
        pairs.push(("ocpi-to-country-code", to.country_code.as_str()));
        pairs.push(("ocpi-to-party-id", to.party_id.as_str()));
    }
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// The party a request names in its `OCPI-from-*` headers, when both are there and valid.
fn claimed_sender(headers: &HeaderMap) -> Option<PartyKey> {
    let get = |name| headers.get(name).and_then(|v| v.to_str().ok());
    PartyKey::parse(get(FROM_COUNTRY_CODE)?, get("ocpi-from-party-id")?).ok()
}

/// Wraps the resources of the functional modules (tokens, sessions): every answer that did not
/// set its routing headers itself (only `/authorize` does, from the token's eMSP) gets them from
/// the hub to the caller, errors included. Before the caller is known (an unknown credentials
/// token, say), `TO` is the party the request named as its sender, or left out.
pub async fn routing_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hub = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.hub.clone());
    let claimed = claimed_sender(req.headers());
    let mut res = next.call(req).await?;
    if let Some(hub) = hub {
        if !res.headers().contains_key(FROM_COUNTRY_CODE) {
            let to = res
                .request()
                .extensions()
                .get::<RoutedCaller>()
                .map(|c| c.0.clone())
                .or(claimed);
            set_routing(res.headers_mut(), &hub, to.as_ref());
        }
    }
    Ok(res)
}
