//! tokenhub: an OCPI token-authorization hub.
//!
//! Dependencies point down: the surfaces (`ocpi`, `oauth`, `admin`, `console`, `cli`, and the `startup` that assembles them)
//! call `service`, which calls `registry` (the pure decision) and `store`; everything speaks in
//! `domain` types. Nothing imports `startup`; `registry` and `domain` do no I/O.

pub mod admin;
pub mod cli;
pub mod config;
pub mod console;
pub mod domain;
pub mod error;
pub mod oauth;
pub mod ocpi;
pub mod openapi;
pub mod ops;
pub mod peers;
pub mod registry;
pub mod secrets;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
