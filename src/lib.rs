//! tokenhub: an OCPI 2.3.0 token-authorization hub.

pub mod app;
pub mod authorize;
pub mod cli;
pub mod config;
pub mod domain;
pub mod health;
pub mod metrics;
pub mod ocpi;
pub mod onboarding;
pub mod openapi;
pub mod secrets;
pub mod store;
pub mod sweeper;
pub mod telemetry;
