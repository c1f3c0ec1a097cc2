//! Credentials module, OCPI 2.2.1: a 2.2.1 hub lists only itself, with role `HUB` and its
//! business details, and has no `hub_party_id` (2.2.1 partners learn the parties behind a hub
//! through HubClientInfo).

crate::ocpi::common::credentials::credentials_handlers!(
    v2_2_1,
    V2_2_1,
    "_2_2_1",
    get_note = "As OCPI 2.2.1 has a hub do, one role: the hub itself (`hub.country_code`, `hub.party_id`), role `HUB`, with its name (`hub.name`). No `hub_party_id` (2.3.0 only)."
);
