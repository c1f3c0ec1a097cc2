//! The Credentials object on the wire, in both directions and both OCPI versions: what a partner
//! sends is validated into [`PartnerCredentials`]; the hub's own is rendered from
//! [`HubCredentials`]. 2.3.0 lists every party reachable through the hub with `hub_party_id`;
//! 2.2.1 lists the hub itself with role `HUB` (its parties are in hubclientinfo).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::ids::PartyKey;
use crate::domain::partner::{
    check_credentials_token, HubCredentials, OcpiVersion, PartnerCredentials, RoleClaim,
};
use crate::domain::party::Role;
use crate::domain::{from_json, ValidationError};

#[derive(Deserialize)]
struct CredentialsDoc {
    token: String,
    url: String,
    roles: Vec<RoleDoc>,
}

#[derive(Deserialize)]
struct RoleDoc {
    role: String,
    business_details: BusinessDetailsDoc,
    party_id: String,
    country_code: String,
}

#[derive(Deserialize)]
struct BusinessDetailsDoc {
    name: String,
}

/// Validates a partner's Credentials. A `HUB` role (a 2.2.1 hub describing itself) names no
/// party of its own and is passed over.
pub fn parse(value: Value) -> Result<PartnerCredentials, ValidationError> {
    let doc: CredentialsDoc = from_json(value)?;
    check_credentials_token("token", &doc.token)?;
    let versions_url = url::Url::parse(&doc.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ValidationError::new("url", "must be an http(s) URL"))?;
    let mut roles = Vec::with_capacity(doc.roles.len());
    for (i, r) in doc.roles.iter().enumerate() {
        if r.role.eq_ignore_ascii_case("HUB") {
            continue;
        }
        let field = |name: &str| format!("roles[{i}].{name}");
        let role: Role = r
            .role
            .parse()
            .map_err(|e: String| ValidationError::new(field("role"), e))?;
        let key = PartyKey::parse(&r.country_code, &r.party_id)
            .map_err(|e| ValidationError::new(field(&e.field), e.message))?;
        let name = r.business_details.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ValidationError::new(
                field("business_details.name"),
                "must be 1 to 100 characters",
            ));
        }
        roles.push(RoleClaim {
            key,
            role,
            name: name.to_owned(),
        });
    }
    if roles.is_empty() {
        return Err(ValidationError::new(
            "roles",
            "must name at least one party",
        ));
    }
    Ok(PartnerCredentials {
        token: doc.token,
        versions_url,
        roles,
    })
}

/// The hub's Credentials in `version`'s shape.
pub fn render(version: OcpiVersion, hub: &HubCredentials) -> Value {
    let role = |role: &str, key: &PartyKey, name: &str| {
        json!({
            "role": role,
            "business_details": { "name": name },
            "party_id": key.party_id.key(),
            "country_code": key.country_code.key(),
        })
    };
    match version {
        OcpiVersion::V2_3_0 => json!({
            "token": hub.token,
            "url": hub.versions_url,
            "hub_party_id": format!("{}{}", hub.hub.country_code.key(), hub.hub.party_id.key()),
            "roles": hub
                .roles
                .iter()
                .map(|r| role(r.role.as_str(), &r.key, &r.name))
                .collect::<Vec<_>>(),
        }),
        OcpiVersion::V2_2_1 => json!({
            "token": hub.token,
            "url": hub.versions_url,
            "roles": [role("HUB", &hub.hub, &hub.hub_name)],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(token: &str, roles: Value) -> Value {
        json!({"token": token, "url": "https://partner.example/ocpi/versions", "roles": roles})
    }

    #[test]
    fn partner_credentials_are_validated_naming_the_field() {
        let good = json!([{"role": "EMSP", "business_details": {"name": "ABC"}, "party_id": "ABC", "country_code": "NL"}]);
        let parsed = parse(doc("tok-B", good.clone())).unwrap();
        assert_eq!(parsed.roles[0].key.to_string(), "NL*ABC");
        let cases = [
            (doc("has space", good.clone()), "token"),
            (doc(&"x".repeat(65), good.clone()), "token"),
            (
                json!({"token": "t", "url": "ftp://x", "roles": good}),
                "url",
            ),
            (doc("t", json!([])), "roles"),
            (
                doc(
                    "t",
                    json!([{"role": "KING", "business_details": {"name": "A"}, "party_id": "ABC", "country_code": "NL"}]),
                ),
                "roles[0].role",
            ),
            (
                doc(
                    "t",
                    json!([{"role": "CPO", "business_details": {"name": "A"}, "party_id": "TOOLONG", "country_code": "NL"}]),
                ),
                "roles[0].party_id",
            ),
            (doc("t", json!([{"role": "CPO"}])), "roles[0]"),
        ];
        for (value, field) in cases {
            let err = parse(value).unwrap_err();
            assert!(err.field.starts_with(field), "{field}: got {err}");
        }
        let hub_only = doc(
            "t",
            json!([{"role": "HUB", "business_details": {"name": "H"}, "party_id": "HUB", "country_code": "DE"}]),
        );
        assert_eq!(parse(hub_only).unwrap_err().field, "roles");
    }

    #[test]
    fn the_hub_describes_itself_per_version() {
        let hub = HubCredentials {
            token: "C".into(),
            versions_url: "https://hub/ocpi/versions".into(),
            hub: PartyKey::parse("NL", "HUB").unwrap(),
            hub_name: "tokenhub".into(),
            roles: vec![RoleClaim {
                key: PartyKey::parse("DE", "CPO").unwrap(),
                role: Role::Cpo,
                name: "CPO GmbH".into(),
            }],
        };
        let v23 = render(OcpiVersion::V2_3_0, &hub);
        assert_eq!(v23["hub_party_id"], "NLHUB");
        assert_eq!(v23["roles"][0]["role"], "CPO");
        let v22 = render(OcpiVersion::V2_2_1, &hub);
        assert!(v22.get("hub_party_id").is_none());
        assert_eq!(v22["roles"][0]["role"], "HUB");
        assert_eq!(v22["roles"][0]["party_id"], "HUB");
    }
}
