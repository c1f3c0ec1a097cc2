//! OAuth 2 values: the management API's scopes (docs/design.md §5), sets of them as an OAuth
//! `scope` parameter carries them, and the pure rule for the scope a token is granted.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One scope of the management API. The names are the wire form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    TokensRead,
    TokensWrite,
    PartiesRead,
    PartiesWrite,
    SessionsRead,
    AuditRead,
    ClientsWrite,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::TokensRead,
        Scope::TokensWrite,
        Scope::PartiesRead,
        Scope::PartiesWrite,
        Scope::SessionsRead,
        Scope::AuditRead,
        Scope::ClientsWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::TokensRead => "tokens:read",
            Scope::TokensWrite => "tokens:write",
            Scope::PartiesRead => "parties:read",
            Scope::PartiesWrite => "parties:write",
            Scope::SessionsRead => "sessions:read",
            Scope::AuditRead => "audit:read",
            Scope::ClientsWrite => "clients:write",
        }
    }

    /// What the scope lets a client do, in words for the consent page.
    pub fn describe(self) -> &'static str {
        match self {
            Scope::TokensRead => "Read the tokens of every party",
            Scope::TokensWrite => "Change tokens and their policies",
            Scope::PartiesRead => "See the parties and their platforms",
            Scope::PartiesWrite => "Add, suspend and change parties",
            Scope::SessionsRead => "Read charging sessions",
            Scope::AuditRead => "Read the authorization audit and the change log",
            Scope::ClientsWrite => "Register and disable OAuth clients",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    /// Exact, as OAuth compares scope tokens (RFC 6749 §3.3: case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope {s:?} (known: {})", known.join(", "))
            })
    }
}

/// A set of scopes, written space-separated in a fixed order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Strict: every space-separated word must be a known scope, and there must be one at least.
    /// For what an operator or a client asks for.
    pub fn parse(text: &str) -> Result<ScopeSet, String> {
        let mut set = BTreeSet::new();
        for word in text.split(' ') {
            if word.is_empty() {
                // RFC 6749 §3.3: scope tokens separated by single spaces.
                if text.is_empty() || text.trim().is_empty() {
                    break;
                }
                return Err("scopes are separated by single spaces".into());
            }
            set.insert(word.parse::<Scope>()?);
        }
        if set.is_empty() {
            return Err("at least one scope is required".into());
        }
        Ok(ScopeSet(set))
    }

    /// Lenient: the known scopes among `words`; others are ignored (a token of an external
    /// identity provider carries scopes of other services too).
    pub fn known<'a>(words: impl IntoIterator<Item = &'a str>) -> ScopeSet {
        ScopeSet(words.into_iter().filter_map(|w| w.parse().ok()).collect())
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&words.join(" "))
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().collect())
    }
}

/// Why a requested scope is refused (`invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRefusal(pub String);

/// The scope a client is granted: what it asked for if that is within what it may have, or all of
/// what it may have when it asked for nothing (RFC 6749 §3.3 lets the server choose a default).
/// `requested` is the raw `scope` parameter.
pub fn grant_scope(requested: Option<&str>, allowed: &ScopeSet) -> Result<ScopeSet, ScopeRefusal> {
    let Some(requested) = requested else {
        return Ok(allowed.clone());
    };
    let requested = ScopeSet::parse(requested).map_err(ScopeRefusal)?;
    let beyond: Vec<&str> = requested
        .iter()
        .filter(|s| !allowed.contains(*s))
        .map(Scope::as_str)
        .collect();
    if !beyond.is_empty() {
        return Err(ScopeRefusal(format!(
            "the client may not have {}",
            beyond.join(", ")
        )));
    }
    Ok(requested)
}

impl ScopeSet {
    /// The scopes in both sets.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).copied().collect())
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.union(&other.0).copied().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The scope a person's token is granted through a client: what was asked (everything when
/// nothing was), within what the client may have and what the person may have. Scopes beyond
/// either are dropped, not refused: the person sees on the consent page what the client gets,
/// and the token response names it (RFC 6749 §3.3). An empty result is refused by the caller.
pub fn user_grant_scope(
    requested: Option<&ScopeSet>,
    client: &ScopeSet,
    user: &ScopeSet,
) -> ScopeSet {
    let allowed = client.intersection(user);
    match requested {
        Some(requested) => requested.intersection(&allowed),
        None => allowed,
    }
}

/// What a rotated refresh token presented again gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Within the grace: the same client refreshing twice at once (two tabs, a retry after a lost
    /// answer). Like Auth0's reuse interval and Okta's grace period, a fresh pair of the same
    /// family, not the pair already issued: only its hash is kept, and one secret handed out
    /// twice could not be revoked alone.
    FreshPair,
    /// Past the grace the old token was stolen, or the new one was (RFC 9700 §4.14.2): the whole
    /// family goes, access tokens included.
    RevokeFamily,
}

/// The verdict on reuse of a token rotated `since_rotation` ago (negative: clocks of two
/// instances apart, counted as no time).
pub fn refresh_reuse(since_rotation: chrono::TimeDelta, grace: chrono::TimeDelta) -> Reuse {
    if since_rotation <= grace {
        Reuse::FreshPair
    } else {
        Reuse::RevokeFamily
    }
}

/// A person's login name: 1 to 64 characters of `a-z 0-9 . _ - @`, lowercase so that `Alice`
/// and `alice` are one person, and safe as a rate-limit key, a log field and a JWT `sub`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(text: &str) -> Result<Username, String> {
        let text = text.trim();
        if !(1..=64).contains(&text.len()) {
            return Err("1 to 64 characters".into());
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b))
        {
            return Err("only lowercase letters, digits and . _ - @".into());
        }
        Ok(Username(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// PKCE (RFC 7636 §4.1): a verifier is 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`.
pub fn is_pkce_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// An S256 challenge is base64url(SHA-256) without padding: 43 characters of that alphabet.
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

/// What may be an OAuth client id: 1 to 64 characters of `A-Z a-z 0-9 . _ -`, so that it can be a
/// rate-limit key and a log field as is.
pub fn is_client_id_shaped(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    #[test]
    fn scopes_round_trip_and_are_exact() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert!("TOKENS:READ".parse::<Scope>().is_err());
        assert!("tokens:delete".parse::<Scope>().is_err());
        assert_eq!(
            set("tokens:write audit:read tokens:read").to_string(),
            "tokens:read tokens:write audit:read"
        );
    }

    #[test]
    fn parsing_names_what_is_wrong() {
        for (text, message) in [
            ("", "at least one scope is required"),
            ("tokens:read  audit:read", "single spaces"),
            ("tokens:read nope", "unknown scope \"nope\""),
        ] {
            let err = ScopeSet::parse(text).unwrap_err();
            assert!(err.contains(message), "{text:?}: {err}");
        }
        assert_eq!(
            ScopeSet::known(["openid", "tokens:read", "email"]).to_string(),
            "tokens:read"
        );
    }

    /// The granted scope, case by case: (requested, allowed, granted or the refusal's words).
    #[test]
    fn granted_scope_table() {
        let allowed = "tokens:read audit:read";
        let cases: [(Option<&str>, Result<&str, &str>); 7] = [
            (None, Ok("tokens:read audit:read")),
            (Some("tokens:read"), Ok("tokens:read")),
            (Some("audit:read tokens:read"), Ok("tokens:read audit:read")),
            (Some("tokens:read tokens:read"), Ok("tokens:read")),
            (Some("tokens:write"), Err("may not have tokens:write")),
            (Some("tokens:read foo"), Err("unknown scope \"foo\"")),
            (Some(""), Err("at least one scope")),
        ];
        for (requested, expected) in cases {
            let got = grant_scope(requested, &set(allowed));
            match (got, expected) {
                (Ok(granted), Ok(want)) => assert_eq!(granted.to_string(), want, "{requested:?}"),
                (Err(ScopeRefusal(why)), Err(want)) => {
                    assert!(why.contains(want), "{requested:?}: {why}")
                }
                (got, want) => panic!("{requested:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// Granted = requested ∩ client ∩ user: (requested, client, user, granted).
    #[test]
    fn user_grant_table() {
        let cases: [(Option<&str>, &str, &str, &str); 5] = [
            (None, "tokens:read audit:read", "tokens:read", "tokens:read"),
            (
                Some("tokens:read tokens:write"),
                "tokens:read tokens:write",
                "tokens:read tokens:write audit:read",
                "tokens:read tokens:write",
            ),
            (
                Some("tokens:write"),
                "tokens:read",
                "tokens:read tokens:write",
                "",
            ),
            (
                Some("audit:read tokens:read"),
                "tokens:read audit:read",
                "audit:read",
                "audit:read",
            ),
            (None, "tokens:read", "audit:read", ""),
        ];
        for (requested, client, user, granted) in cases {
            let requested = requested.map(set);
            let got = user_grant_scope(requested.as_ref(), &set(client), &set(user));
            assert_eq!(got.to_string(), granted, "{requested:?} {client} {user}");
        }
    }

    #[test]
    fn refresh_reuse_table() {
        use chrono::TimeDelta as T;
        for (since, grace, verdict) in [
            (T::zero(), T::seconds(10), Reuse::FreshPair),
            (T::seconds(-2), T::seconds(10), Reuse::FreshPair),
            (T::seconds(10), T::seconds(10), Reuse::FreshPair),
            (T::milliseconds(10_001), T::seconds(10), Reuse::RevokeFamily),
            (T::days(3), T::seconds(10), Reuse::RevokeFamily),
            (T::zero(), T::zero(), Reuse::FreshPair),
            (T::milliseconds(1), T::zero(), Reuse::RevokeFamily),
        ] {
            assert_eq!(refresh_reuse(since, grace), verdict, "{since} {grace}");
        }
    }

    #[test]
    fn usernames_and_pkce_shapes() {
        assert_eq!(
            Username::parse(" ops.alice@hub ").unwrap().as_str(),
            "ops.alice@hub"
        );
        for bad in ["", "Alice", "a b", "a:b", &"x".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(is_pkce_verifier(&"a-._~".repeat(9)));
        assert!(!is_pkce_verifier(&"a".repeat(42)));
        assert!(!is_pkce_verifier(&"a".repeat(129)));
        assert!(!is_pkce_verifier(&format!("{}+", "a".repeat(43))));
        assert!(is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="
        ));
    }

    #[test]
    fn client_ids() {
        assert!(is_client_id_shaped("th_abc-1.2"));
        for bad in ["", "a b", "é", "a:b", &"x".repeat(65)] {
            assert!(!is_client_id_shaped(bad), "{bad:?}");
        }
    }
}
