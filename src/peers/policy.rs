//! Which partner URLs the hub may call. A URL a partner hands over (its versions URL, its
//! endpoints) would otherwise let it point the hub at the hub's own network: plain `http://` and
//! loopback, private, link-local and other non-public addresses are refused unless
//! `peers.allow_insecure` is on (tests, and a lab where partners run on one machine).

use std::net::IpAddr;

use url::{Host, Url};

/// Checks the URL's scheme and, for an IP literal or a resolved host name, every address.
pub async fn check(url: &Url, allow_insecure: bool) -> Result<(), String> {
    if allow_insecure {
        return match url.scheme() {
            "http" | "https" => Ok(()),
            other => Err(format!("{url}: the scheme {other} is not http(s)")),
        };
    }
    if url.scheme() != "https" {
        return Err(format!(
            "{url}: only https:// partner URLs are allowed (peers.allow_insecure is off)"
        ));
    }
    let addresses: Vec<IpAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(Host::Domain(name)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| format!("{url}: cannot resolve {name}: {e}"))?
                .map(|a| a.ip())
                .collect()
        }
        None => return Err(format!("{url}: no host")),
    };
    match addresses.iter().find(|ip| !is_public(ip)) {
        Some(ip) => Err(format!(
            "{url}: {ip} is not a public address (peers.allow_insecure is off)"
        )),
        None => Ok(()),
    }
}

fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // 100.64/10 (CGNAT)
                || v4.octets()[0] == 0)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| !is_public(&IpAddr::V4(v4))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn insecure_urls_are_refused_unless_allowed() {
        let cases = [
            ("http://93.184.216.34/ocpi/versions", false),
            ("https://127.0.0.1/ocpi/versions", false),
            ("https://10.1.2.3/ocpi/versions", false),
            ("https://192.168.1.1/ocpi/versions", false),
            ("https://169.254.169.254/latest", false),
            ("https://[::1]/ocpi", false),
            ("https://[fd00::1]/ocpi", false),
            ("https://[::ffff:10.0.0.1]/ocpi", false),
            ("https://100.64.0.1/ocpi", false),
            ("https://93.184.216.34/ocpi/versions", true),
            ("ftp://93.184.216.34/x", false),
        ];
        for (url, ok) in cases {
            let url = Url::parse(url).unwrap();
            assert_eq!(check(&url, false).await.is_ok(), ok, "{url}");
        }
        let local = Url::parse("http://127.0.0.1:8080/ocpi/versions").unwrap();
        assert!(check(&local, true).await.is_ok());
        let ftp = Url::parse("ftp://127.0.0.1/x").unwrap();
        assert!(check(&ftp, true).await.is_err());
    }
}
