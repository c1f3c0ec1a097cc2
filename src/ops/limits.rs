//! Budgets against unauthenticated load: failed authentications per client address, and which
//! address a request comes from behind trusted proxies. Any surface that authenticates (OCPI
//! today, the OAuth server next) asks [`FailureLimiter::check_failure_budget`] before it spends a
//! database look-up on an unknown secret, and [`FailureLimiter::record_failure`] when the secret
//! turns out bad; successful authentications are never counted.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::{IpNet, Ipv6Net};

/// How long the caller must wait before its address may fail again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header, at least 1.
    pub fn secs(self) -> u64 {
        self.0.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// Addresses refused right now; bounded so that a spread-out attack cannot grow it without end.
const MAX_BLOCKED: usize = 100_000;
/// Every this many failures, forget addresses whose budget is full again.
const HOUSEKEEPING_EVERY: u64 = 4096;

/// Failed authentications per key: a burst, then a sustained rate per minute (GCRA, by
/// `governor`). Keyed by client address (IPv6 addresses count per /64, the block one subscriber
/// usually holds), or by any other name a failure is charged to (an OAuth client id).
pub struct FailureLimiter<K: Hash + Eq + Clone = IpAddr> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
    /// Keys over budget and until when: governor has no look without spending a cell, and the
    /// look must come before the database does any work.
    blocked: Mutex<HashMap<K, Instant>>,
    failures: AtomicU64,
}

impl FailureLimiter<IpAddr> {
    /// Whether `ip` may still fail an authentication; spends nothing.
    pub fn check_failure_budget(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        self.check_key_budget(&budget_key(ip))
    }

    /// Counts a failed authentication of `ip`; `Err` when it was one too many.
    pub fn record_failure(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        self.record_key_failure(budget_key(ip))
    }
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        let clock = DefaultClock::default();
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            limiter: DefaultKeyedRateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
            blocked: Mutex::new(HashMap::new()),
            failures: AtomicU64::new(0),
        }
    }

    /// Whether `key` may still fail an authentication; spends nothing.
    pub fn check_key_budget(&self, key: &K) -> Result<(), RetryAfter> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(key) {
            Some(until) => match until.checked_duration_since(Instant::now()) {
                Some(wait) if !wait.is_zero() => Err(RetryAfter(wait)),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Counts a failed authentication of `key`; `Err` when it was one too many.
    pub fn record_key_failure(&self, key: K) -> Result<(), RetryAfter> {
        if self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(HOUSEKEEPING_EVERY)
        {
            self.housekeeping();
        }
        match self.limiter.check_key(&key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
                if blocked.len() >= MAX_BLOCKED {
                    let now = Instant::now();
                    blocked.retain(|_, until| *until > now);
                }
                // Full of live entries: this address is still refused by `check_key`, only
                // after its look-ups instead of before.
                if blocked.len() < MAX_BLOCKED {
                    blocked.insert(key, Instant::now() + wait);
                }
                Err(RetryAfter(wait))
            }
        }
    }

    fn housekeeping(&self) {
        self.limiter.retain_recent();
        let now = Instant::now();
        self.blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, until| *until > now);
    }
}

/// The address a budget is kept for: IPv4 as is (also when mapped into IPv6), IPv6 by its /64.
fn budget_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(
                Ipv6Net::new(v6, 64)
                    .expect("64 is a valid IPv6 prefix length")
                    .trunc()
                    .addr(),
            ),
        },
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`http.trusted_proxies`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy. Entries further left were
    /// written by the client and prove nothing. Without a peer (not a TCP connection), the
    /// unspecified address, so such callers share one budget.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let Some(peer) = peer.map(canonical) else {
            return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        };
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>().map(canonical) {
                Ok(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                // Garbage written by the client or a broken proxy: the last good hop stands.
                Err(_) => break,
            }
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn limiter(per_minute: u32, burst: u32) -> FailureLimiter {
        FailureLimiter::new(
            NonZeroU32::new(per_minute).unwrap(),
            NonZeroU32::new(burst).unwrap(),
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_burst_is_allowed_then_the_address_is_refused() {
        let limits = limiter(1, 3);
        let attacker = ip("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(limits.check_failure_budget(attacker), Ok(()));
            assert_eq!(limits.record_failure(attacker), Ok(()));
        }
        let refused = limits.record_failure(attacker).unwrap_err();
        // One failure a minute: the next is allowed about a minute later.
        assert!((55..=60).contains(&refused.secs()), "{refused:?}");
        assert!(limits.check_failure_budget(attacker).is_err());
        assert_eq!(limits.check_failure_budget(ip("192.0.2.2")), Ok(()));
    }

    #[test]
    fn ipv6_counts_per_64() {
        let limits = limiter(1, 1);
        assert_eq!(limits.record_failure(ip("2001:db8:1:2::1")), Ok(()));
        assert!(limits.record_failure(ip("2001:db8:1:2::ffff")).is_err());
        assert!(limits
            .check_failure_budget(ip("2001:db8:1:2:3::9"))
            .is_err());
        assert_eq!(limits.check_failure_budget(ip("2001:db8:1:3::1")), Ok(()));
        // An IPv4-mapped address is the IPv4 address.
        assert_eq!(limits.record_failure(ip("198.51.100.7")), Ok(()));
        assert!(limits
            .check_failure_budget(ip("::ffff:198.51.100.7"))
            .is_ok());
        assert!(limits.record_failure(ip("::ffff:198.51.100.7")).is_err());
        assert!(limits.check_failure_budget(ip("198.51.100.7")).is_err());
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let local = TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
        let chain = TrustedProxies::new(vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.1.0.0/16".parse().unwrap(),
        ]);
        let peer = Some(ip("127.0.0.1"));
        let xff = forwarded(&["203.0.113.9"]);
        assert_eq!(none.client_ip(peer, &xff), ip("127.0.0.1"));
        assert_eq!(local.client_ip(peer, &xff), ip("203.0.113.9"));
        assert_eq!(
            local.client_ip(Some(ip("192.0.2.5")), &xff),
            ip("192.0.2.5")
        );
        // The client wrote the left part: only the hop its trusted proxy appended counts.
        let spoofed = forwarded(&["1.2.3.4, 203.0.113.9"]);
        assert_eq!(local.client_ip(peer, &spoofed), ip("203.0.113.9"));
        let two_proxies = forwarded(&["1.2.3.4", "203.0.113.9, 10.1.2.3"]);
        assert_eq!(chain.client_ip(peer, &two_proxies), ip("203.0.113.9"));
        assert_eq!(local.client_ip(peer, &forwarded(&[])), ip("127.0.0.1"));
        assert_eq!(
            local.client_ip(peer, &forwarded(&["203.0.113.9, junk"])),
            ip("127.0.0.1")
        );
        assert_eq!(
            local.client_ip(peer, &forwarded(&["2001:db8::1"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            local.client_ip(Some(ip("::ffff:127.0.0.1")), &xff),
            ip("203.0.113.9")
        );
        assert_eq!(
            local.client_ip(None, &xff),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
    }
}
