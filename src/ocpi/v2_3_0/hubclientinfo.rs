//! HubClientInfo module, OCPI 2.3.0.

crate::ocpi::common::hubclientinfo::hubclientinfo_handlers!(V2_3_0, "");
