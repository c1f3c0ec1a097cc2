//! `tokenhub healthcheck`: exit 0 when the hub answers 200 on /readyz.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use clap::Args;

use crate::config::Settings;

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// Base URL of the hub (default http:// + http.bind, with 0.0.0.0 or [::] as loopback).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

pub async fn healthcheck(config: &Settings, args: HealthcheckArgs) -> anyhow::Result<()> {
    let base = match args.url {
        Some(url) => url,
        None => {
            let mut addr = config.http.bind;
            // A hub listening on every interface is reached through loopback.
            match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
                IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
                _ => {}
            }
            format!("http://{addr}")
        }
    };
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    // Short, so a hung hub fails the check instead of outliving the orchestrator's own timeout;
    // no proxy: the check is about this hub, not about the path to it.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .no_proxy()
        .build()?;
    let response = client.get(&url).send().await.map_err(|e| {
        // reqwest's top-level message is generic; the innermost cause says what happened.
        let mut cause: &dyn std::error::Error = &e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let why = if e.is_timeout() {
            "no answer within 3 s".to_owned()
        } else {
            cause.to_string()
        };
        anyhow::anyhow!("{url}: {why}")
    })?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        anyhow::bail!("{url} answered {status}");
    }
    Ok(())
}
