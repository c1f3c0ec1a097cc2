//! HubClientInfo module, OCPI 2.2.1 (where it is how a hub reports the parties behind it).

crate::ocpi::common::hubclientinfo::hubclientinfo_handlers!(V2_2_1, "_2_2_1");
