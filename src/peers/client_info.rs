//! hubclientinfo's `ClientInfo` on the wire. Its shape is the same in OCPI 2.2.1 and 2.3.0, so the
//! hub's sender list of every version and the pushes to partners' receivers share it.

use serde_json::{json, Value};

use crate::domain::datetime::format_ocpi_datetime;
use crate::domain::partner::ClientInfo;

pub fn render(info: &ClientInfo) -> Value {
    json!({
        "party_id": info.key.party_id.as_str(),
        "country_code": info.key.country_code.as_str(),
        "role": info.role.as_str(),
        "status": info.status.as_str(),
        "last_updated": format_ocpi_datetime(&info.last_updated),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::PartyKey;
    use crate::domain::partner::ConnectionStatus;
    use crate::domain::party::Role;

    #[test]
    fn a_client_info_has_the_five_ocpi_fields() {
        let info = ClientInfo {
            key: PartyKey::parse("NL", "ABC").unwrap(),
            role: Role::Emsp,
            status: ConnectionStatus::Offline,
            last_updated: chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
                .unwrap()
                .to_utc(),
        };
        assert_eq!(
            render(&info),
            json!({"party_id": "ABC", "country_code": "NL", "role": "EMSP",
                   "status": "OFFLINE", "last_updated": "2026-01-02T03:04:05.000Z"})
        );
    }
}
