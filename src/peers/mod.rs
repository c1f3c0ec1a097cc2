//! Outbound OCPI: the hub calling partners' platforms (versions discovery, the credentials
//! handshake, forwarding real-time authorizations behind a circuit breaker, and pushes of tokens
//! and sessions). Every call is made outside any transaction or writer job, with a bounded time.

pub mod breaker;
pub mod client;
pub mod client_info;
pub mod credentials;
pub mod forward;
pub mod policy;
pub mod push;

pub use client::{OcpiClient, PeerError, Routing};
