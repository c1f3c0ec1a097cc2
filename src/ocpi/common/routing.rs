//! Routing headers on responses of functional modules (OCPI message routing), errors included.

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
    for (name, value) in [
        (FROM_COUNTRY_CODE, Some(from.country_code.as_str())),
        ("ocpi-from-party-id", Some(from.party_id.as_str())),
        (
            "ocpi-to-country-code",
            to.map(|to| to.country_code.as_str()),
        ),
        ("ocpi-to-party-id", to.map(|to| to.party_id.as_str())),
    ] {
        if let Some(Ok(value)) = value.map(HeaderValue::from_str) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// The party a request names in its `OCPI-from-*` headers, when both are there and valid.
fn claimed_sender(
    country_code: Option<&HeaderValue>,
    party_id: Option<&HeaderValue>,
) -> Option<PartyKey> {
    PartyKey::parse(country_code?.to_str().ok()?, party_id?.to_str().ok()?).ok()
}

/// Wraps the resources of the functional modules (tokens, sessions): every answer that did not
/// set its routing headers itself (only `/authorize` does, from the token's eMSP) gets them from
/// the hub to the caller, errors included. Before the caller is known (an unknown credentials
/// token, say), `TO` is the party the request named as its sender, or left out.
pub async fn routing_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Kept as they came (cheap clones), parsed only if the caller never became known.
    let claimed = (
        req.headers().get(FROM_COUNTRY_CODE).cloned(),
        req.headers().get("ocpi-from-party-id").cloned(),
    );
    let mut res = next.call(req).await?;
    if res.headers().contains_key(FROM_COUNTRY_CODE) {
        return Ok(res);
    }
    let Some(state) = res.request().app_data::<web::Data<AppState>>().cloned() else {
        return Ok(res);
    };
    let to = res
        .request()
        .extensions()
        .get::<RoutedCaller>()
        .map(|c| c.0.clone())
        .or_else(|| claimed_sender(claimed.0.as_ref(), claimed.1.as_ref()));
    set_routing(res.headers_mut(), &state.hub, to.as_ref());
    Ok(res)
}
