//! The outbound leg of a push (docs/design.md §6 "Push"): one object PUT to a partner's receiver.
//! Which objects, to whom and when is the push worker's (`service::push`); this is the HTTP.

use serde_json::Value;
use url::Url;

use super::client::{OcpiClient, PeerError, Routing};

/// `{receiver}/{segments...}[?type=...]`, each segment escaped as one path segment.
pub fn object_url(receiver: &Url, segments: &[&str], token_type: Option<&str>) -> Url {
    let mut url = receiver.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url.set_query(None);
    if let Some(t) = token_type {
        url.query_pairs_mut().append_pair("type", t);
    }
    url
}

/// How a failed push goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The partner refused this object (OCPI 2xxx client error, HTTP below 500): the same object
    /// would be refused again, so it is dropped and the partner's next entry goes.
    Rejected,
    /// No answer, a server error, an OCPI 3xxx, the partner refusing the hub's token (HTTP 401
    /// or 403), or a URL the hub may not call now (its name does not resolve, or to a private
    /// address): nothing of this object's doing, so try again later, in order.
    Retry,
}

pub fn classify(err: &PeerError) -> Failure {
    match err {
        PeerError::Failed {
            http,
            ocpi: Some(code),
            ..
        } if (2000..3000).contains(code) && *http < 500 && !matches!(http, 401 | 403) => {
            Failure::Rejected
        }
        _ => Failure::Retry,
    }
}

/// PUTs `body` at `url` with token B and the routing headers; Ok on HTTP 2xx + OCPI 1xxx.
pub async fn put(
    client: &OcpiClient,
    url: &Url,
    token: &str,
    body: &Value,
    routing: &Routing,
) -> Result<(), PeerError> {
    client
        .call_routed(reqwest::Method::PUT, url, token, Some(body), Some(routing))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_url_escapes_each_segment_and_adds_the_type() {
        for base in [
            "https://p.example/ocpi/2.3.0/tokens",
            "https://p.example/ocpi/2.3.0/tokens/",
        ] {
            let url = object_url(
                &Url::parse(base).unwrap(),
                &["NL", "ABC", "04A/1 B"],
                Some("APP_USER"),
            );
            assert_eq!(
                url.as_str(),
                "https://p.example/ocpi/2.3.0/tokens/NL/ABC/04A%2F1%20B?type=APP_USER"
            );
        }
        let url = object_url(
            &Url::parse("https://p.example/ocpi/2.2.1/sessions").unwrap(),
            &["DE", "CPO", "S-1"],
            None,
        );
        assert_eq!(
            url.as_str(),
            "https://p.example/ocpi/2.2.1/sessions/DE/CPO/S-1"
        );
    }

    #[test]
    fn client_errors_are_rejections_and_the_rest_is_retried() {
        let failed = |http, ocpi| PeerError::Failed {
            url: "u".into(),
            http,
            ocpi,
            message: "m".into(),
        };
        let cases = [
            (failed(200, Some(2001)), Failure::Rejected),
            (failed(400, Some(2001)), Failure::Rejected),
            (failed(500, Some(2001)), Failure::Retry),
            (failed(200, Some(3000)), Failure::Retry),
            (failed(503, None), Failure::Retry),
            (failed(401, Some(2000)), Failure::Retry),
            (
                PeerError::Unreachable {
                    url: "u".into(),
                    detail: "refused".into(),
                },
                Failure::Retry,
            ),
            (PeerError::Refused("cannot resolve".into()), Failure::Retry),
        ];
        for (err, expected) in cases {
            assert_eq!(classify(&err), expected, "{err}");
        }
    }
}
