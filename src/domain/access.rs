//! Party-restricted access (issue 13 point 7): the parties a management API caller may act for.
//!
//! A client or a user is stored with a restriction (`None` in the database = every party); the
//! access token carries it as the claim `parties: ["NL*ABC", ...]` (absent = every party); the
//! `Bearer<S>` extractor hands it to the handler, and every service that lists, reads or writes
//! party data takes it as a parameter. The rules, kept here so that they are the same everywhere:
//! reading or changing another party's object answers as if it did not exist (404); a write that
//! names another party is refused (403); creating parties, clients or users needs [`PartyAccess::All`].

use std::fmt;

use super::ids::PartyKey;
use super::ValidationError;

/// Which parties a caller may act for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PartyAccess {
    /// Every party (no restriction): the operator's clients and users.
    #[default]
    All,
    /// Only these parties, sorted and without duplicates. Empty: none at all (a person restricted
    /// to parties the client may not act for).
    Only(Vec<PartyKey>),
}

/// `CC*PID` (e.g. `NL*ABC`) as a party key; the error names `field`.
pub fn parse_party_key(field: &str, text: &str) -> Result<PartyKey, ValidationError> {
    let (cc, pid) = text.split_once('*').ok_or_else(|| {
        ValidationError::new(field, "must be a party as COUNTRY*PARTY, e.g. NL*ABC")
    })?;
    PartyKey::parse(cc, pid)
        .map_err(|e| ValidationError::new(field, format!("{text:?}: {}: {}", e.field, e.message)))
}

impl PartyAccess {
    /// A restriction to `parties` (each `CC*PID`); at least one.
    pub fn only<'a>(
        field: &str,
        parties: impl IntoIterator<Item = &'a str>,
    ) -> Result<PartyAccess, ValidationError> {
        let keys = parties
            .into_iter()
            .map(|p| parse_party_key(field, p.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(ValidationError::new(field, "names no party"));
        }
        Ok(PartyAccess::restricted(keys))
    }

    fn restricted(mut keys: Vec<PartyKey>) -> PartyAccess {
        keys.sort_by_key(PartyKey::to_string);
        keys.dedup();
        PartyAccess::Only(keys)
    }

    /// From a list of `CC*PID` given on the CLI or the API: empty = every party.
    pub fn from_list(field: &str, parties: &[String]) -> Result<PartyAccess, ValidationError> {
        if parties.is_empty() {
            Ok(PartyAccess::All)
        } else {
            PartyAccess::only(field, parties.iter().map(String::as_str))
        }
    }

    /// From the database column: `None` = every party, else space-separated `CC*PID`.
    pub fn from_stored(stored: Option<&str>) -> Result<PartyAccess, ValidationError> {
        match stored {
            None => Ok(PartyAccess::All),
            Some(text) => {
                let keys = text
                    .split_whitespace()
                    .map(|p| parse_party_key("parties", p))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(PartyAccess::restricted(keys))
            }
        }
    }

    /// For the database column.
    pub fn to_stored(&self) -> Option<String> {
        self.keys().map(|keys| {
            keys.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// From the access token's `parties` claim (absent = every party).
    pub fn from_claim(claim: Option<&[String]>) -> Result<PartyAccess, ValidationError> {
        match claim {
            None => Ok(PartyAccess::All),
            Some(items) => {
                let keys = items
                    .iter()
                    .map(|p| parse_party_key("parties", p))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(PartyAccess::restricted(keys))
            }
        }
    }

    /// For the access token's `parties` claim, and for JSON views.
    pub fn to_claim(&self) -> Option<Vec<String>> {
        self.keys()
            .map(|keys| keys.iter().map(ToString::to_string).collect())
    }

    /// The parties of a restriction; `None` for every party.
    pub fn keys(&self) -> Option<&[PartyKey]> {
        match self {
            PartyAccess::All => None,
            PartyAccess::Only(keys) => Some(keys),
        }
    }

    pub fn is_restricted(&self) -> bool {
        matches!(self, PartyAccess::Only(_))
    }

    /// Whether the caller may act for `party`.
    pub fn permits(&self, party: &PartyKey) -> bool {
        match self {
            PartyAccess::All => true,
            PartyAccess::Only(keys) => keys.contains(party),
        }
    }

    /// What a person may do through a client: the parties both may act for.
    pub fn intersect(&self, other: &PartyAccess) -> PartyAccess {
        match (self, other) {
            (PartyAccess::All, x) | (x, PartyAccess::All) => x.clone(),
            (PartyAccess::Only(a), PartyAccess::Only(b)) => {
                PartyAccess::Only(a.iter().filter(|k| b.contains(k)).cloned().collect())
            }
        }
    }
}

impl fmt::Display for PartyAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_stored() {
            None => f.write_str("all parties"),
            Some(list) if list.is_empty() => f.write_str("no party"),
            Some(list) => f.write_str(&list),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> PartyKey {
        parse_party_key("p", text).unwrap()
    }

    fn only(list: &[&str]) -> PartyAccess {
        PartyAccess::only("p", list.iter().copied()).unwrap()
    }

    #[test]
    fn parsing_names_the_field_and_normalizes() {
        assert_eq!(
            only(&["nl*abc", "DE*XYZ", "NL*ABC"]).to_stored().as_deref(),
            Some("DE*XYZ NL*ABC")
        );
        for bad in ["NLABC", "N*ABC", "NL*", "NL*ABCD"] {
            let err = PartyAccess::only("party", [bad]).unwrap_err();
            assert_eq!(err.field, "party", "{bad}");
        }
        assert_eq!(
            PartyAccess::only("party", []).unwrap_err().message,
            "names no party"
        );
        assert_eq!(
            PartyAccess::from_list("party", &[]).unwrap(),
            PartyAccess::All
        );
    }

    /// Stored column and token claim both round-trip, and absent means every party.
    #[test]
    fn stored_and_claim_forms_round_trip() {
        for access in [
            PartyAccess::All,
            only(&["NL*ABC"]),
            only(&["NL*ABC", "BE*EMP"]),
        ] {
            let stored = access.to_stored();
            assert_eq!(PartyAccess::from_stored(stored.as_deref()).unwrap(), access);
            let claim = access.to_claim();
            assert_eq!(PartyAccess::from_claim(claim.as_deref()).unwrap(), access);
        }
        assert!(PartyAccess::from_claim(Some(&["bogus".to_owned()])).is_err());
    }

    /// (caller, party, permitted)
    #[test]
    fn permits_table() {
        for (access, party, permitted) in [
            (PartyAccess::All, "NL*ABC", true),
            (only(&["NL*ABC"]), "NL*ABC", true),
            (only(&["NL*ABC"]), "nl*abc", true),
            (only(&["NL*ABC"]), "NL*XYZ", false),
            (only(&["NL*ABC", "DE*XYZ"]), "DE*XYZ", true),
            (PartyAccess::Only(Vec::new()), "NL*ABC", false),
        ] {
            assert_eq!(access.permits(&key(party)), permitted, "{access} {party}");
        }
    }

    /// (client, user, what the person's token may act for)
    #[test]
    fn intersection_table() {
        for (a, b, both) in [
            (PartyAccess::All, PartyAccess::All, PartyAccess::All),
            (PartyAccess::All, only(&["NL*ABC"]), only(&["NL*ABC"])),
            (only(&["NL*ABC"]), PartyAccess::All, only(&["NL*ABC"])),
            (
                only(&["NL*ABC", "DE*XYZ"]),
                only(&["DE*XYZ", "BE*EMP"]),
                only(&["DE*XYZ"]),
            ),
            (
                only(&["NL*ABC"]),
                only(&["DE*XYZ"]),
                PartyAccess::Only(Vec::new()),
            ),
        ] {
            assert_eq!(a.intersect(&b), both, "{a} ∩ {b}");
        }
    }
}
