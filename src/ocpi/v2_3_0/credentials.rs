//! Credentials module, OCPI 2.3.0: the hub lists every party reachable through it, with its
//! `hub_party_id`.

crate::ocpi::common::credentials::credentials_handlers!(
    v2_3_0,
    V2_3_0,
    "",
    get_note =
        "Its `hub_party_id` and, as OCPI 2.3.0 asks of hubs, every party reachable through it."
);
