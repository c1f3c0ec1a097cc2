//! Sessions receiver interface: CPOs push their sessions so the hub knows which tokens are in use.
//! `total_cost` is a 2.2.1 `Price` (`excl_vat`, `incl_vat`); the session is stored as pushed and
//! moves its token's usage exactly as over 2.3.0.

crate::ocpi::common::sessions::sessions_handlers!(v2_2_1, V2_2_1, "_2_2_1");
