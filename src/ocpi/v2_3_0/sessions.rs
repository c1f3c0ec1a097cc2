//! Sessions receiver interface: CPOs push their sessions so the hub knows which tokens are in use.
//! `total_cost` is a 2.3.0 `Price` (`before_taxes`, `taxes`).

crate::ocpi::common::sessions::sessions_handlers!(v2_3_0, V2_3_0, "");
