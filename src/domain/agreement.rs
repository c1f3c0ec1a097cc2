//! Roaming agreements (docs/design.md §6 "Roaming agreements"): which CPOs and eMSPs deal with
//! each other. Under `open` every CPO deals with every eMSP; under `explicit` only the pairs the
//! operator recorded (`tokenhub agreement add`) do: they see each other's tokens, authorize, get
//! pushes, and show each other CONNECTED in hubclientinfo.

use serde::{Deserialize, Serialize};

use super::ids::PartyKey;
use super::partner::ConnectionStatus;
use super::party::Role;

/// `hub.agreements`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgreementMode {
    /// Every CPO deals with every eMSP (the default).
    #[default]
    Open,
    /// Only the recorded (CPO, eMSP) pairs deal with each other.
    Explicit,
}

impl AgreementMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AgreementMode::Open => "open",
            AgreementMode::Explicit => "explicit",
        }
    }

    /// Whether a CPO and an eMSP may deal with each other, given whether an agreement between
    /// them is recorded. The one rule every surface applies (through `store::agreements`).
    pub fn permits(self, agreement_recorded: bool) -> bool {
        match self {
            AgreementMode::Open => true,
            AgreementMode::Explicit => agreement_recorded,
        }
    }
}

/// A recorded agreement: this CPO and this eMSP deal with each other.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Agreement {
    pub cpo: PartyKey,
    pub emsp: PartyKey,
}

/// The hubclientinfo status of `party` (in `role`, stored as `status`) as a platform serving the
/// parties `viewer` sees it. Agreements bind CPOs to eMSPs only: between a CPO and an eMSP of
/// the viewer's with no agreement under `explicit`, a CONNECTED or OFFLINE party shows PLANNED
/// (OCPI: "no contract configured"); a party that forms such a pair with several of the viewer's
/// parties shows as it is when one of them has an agreement. Its own parties, parties of other
/// roles, PLANNED and SUSPENDED ones show as they are.
pub fn status_seen_by(
    mode: AgreementMode,
    party: &PartyKey,
    role: Role,
    status: ConnectionStatus,
    viewer: &[(PartyKey, Role)],
    agreements: &[Agreement],
) -> ConnectionStatus {
    let applies = mode == AgreementMode::Explicit
        && matches!(
            status,
            ConnectionStatus::Connected | ConnectionStatus::Offline
        )
        && !viewer.iter().any(|(key, r)| key == party && *r == role);
    if !applies {
        return status;
    }
    let pairs: Vec<Agreement> = viewer
        .iter()
        .filter_map(|(key, viewer_role)| match (role, viewer_role) {
            (Role::Emsp, Role::Cpo) => Some(Agreement {
                cpo: key.clone(),
                emsp: party.clone(),
            }),
            (Role::Cpo, Role::Emsp) => Some(Agreement {
                cpo: party.clone(),
                emsp: key.clone(),
            }),
            _ => None,
        })
        .collect();
    if pairs.is_empty() || pairs.iter().any(|pair| agreements.contains(pair)) {
        status
    } else {
        ConnectionStatus::Planned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> PartyKey {
        let (cc, pid) = s.split_once('*').unwrap();
        PartyKey::parse(cc, pid).unwrap()
    }

    /// (mode, listed party, its role, its status, viewer, expected)
    type Row<'a> = (
        AgreementMode,
        &'a str,
        Role,
        ConnectionStatus,
        &'a [(PartyKey, Role)],
        ConnectionStatus,
    );

    #[test]
    fn status_seen_by_table() {
        use AgreementMode::{Explicit, Open};
        use ConnectionStatus::{Connected, Offline, Planned, Suspended};
        let agreements = [Agreement {
            cpo: key("DE*CPO"),
            emsp: key("NL*ABC"),
        }];
        let cpo = [(key("DE*CPO"), Role::Cpo)];
        let other_cpo = [(key("FR*CPO"), Role::Cpo)];
        let both_cpos = [(key("FR*CPO"), Role::Cpo), (key("DE*CPO"), Role::Cpo)];
        let emsp = [(key("NL*ABC"), Role::Emsp)];
        let nsp = [(key("DE*NSP"), Role::Nsp)];
        let table: [Row; 14] = [
            (Open, "NL*ABC", Role::Emsp, Connected, &other_cpo, Connected),
            (Explicit, "NL*ABC", Role::Emsp, Connected, &cpo, Connected),
            (
                Explicit,
                "NL*ABC",
                Role::Emsp,
                Connected,
                &other_cpo,
                Planned,
            ),
            (Explicit, "NL*ABC", Role::Emsp, Offline, &other_cpo, Planned),
            (
                Explicit,
                "NL*ABC",
                Role::Emsp,
                Suspended,
                &other_cpo,
                Suspended,
            ),
            (Explicit, "NL*ABC", Role::Emsp, Planned, &cpo, Planned),
            (
                Explicit,
                "NL*ABC",
                Role::Emsp,
                Connected,
                &both_cpos,
                Connected,
            ),
            // The other way round: the eMSP sees the CPOs.
            (Explicit, "DE*CPO", Role::Cpo, Connected, &emsp, Connected),
            (Explicit, "FR*CPO", Role::Cpo, Offline, &emsp, Planned),
            // No CPO–eMSP pair: agreements do not apply.
            (Explicit, "FR*CPO", Role::Cpo, Connected, &cpo, Connected),
            (Explicit, "NL*ABC", Role::Emsp, Connected, &emsp, Connected),
            (Explicit, "NL*ABC", Role::Emsp, Connected, &nsp, Connected),
            (Explicit, "DE*NSP", Role::Nsp, Connected, &cpo, Connected),
            // A platform serving none of the parties (an empty viewer) sees every status as is.
            (Explicit, "NL*ABC", Role::Emsp, Connected, &[], Connected),
        ];
        for (mode, party, role, status, viewer, expected) in table {
            let seen = status_seen_by(mode, &key(party), role, status, viewer, &agreements);
            assert_eq!(
                seen, expected,
                "{mode:?} {party} {status:?} seen by {viewer:?}"
            );
        }
    }

    #[test]
    fn open_permits_every_pair_explicit_only_recorded_ones() {
        let table = [
            (AgreementMode::Open, false, true),
            (AgreementMode::Open, true, true),
            (AgreementMode::Explicit, false, false),
            (AgreementMode::Explicit, true, true),
        ];
        for (mode, recorded, permitted) in table {
            assert_eq!(mode.permits(recorded), permitted, "{mode:?} {recorded}");
        }
    }

    #[test]
    fn the_mode_is_spelled_in_lower_case() {
        assert_eq!(AgreementMode::default(), AgreementMode::Open);
        let explicit: AgreementMode = serde_json::from_str("\"explicit\"").unwrap();
        assert_eq!(explicit, AgreementMode::Explicit);
        assert!(serde_json::from_str::<AgreementMode>("\"Explicit\"").is_err());
        assert_eq!(AgreementMode::Explicit.as_str(), "explicit");
    }
}
