//! The hub through its HTTP API, one module per feature. Storage tests run on SQLite and on
//! PostgreSQL (see `on_both_backends!`); one test binary, so the harness is compiled once.

mod helpers;

mod abuse;
mod admin;
mod agreements;
mod authentication;
mod authorize;
mod console;
mod crawl;
mod credentials;
mod credentials_epoch;
mod forwarding;
mod hubclientinfo;
mod liveness;
mod login;
mod oauth;
mod openapi;
mod ops;
mod partner_platform;
mod partners;
mod postgres_outage;
mod push;
mod request_context;
mod sessions;
mod sessions_sender;
mod timestamps;
mod tokens_receiver;
mod tokens_sender;
mod v2_2_1;
mod versions;
