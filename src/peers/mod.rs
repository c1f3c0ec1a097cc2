//! Outbound OCPI: the hub calling partners' platforms (versions discovery, the credentials
//! handshake, forwarding real-time authorizations behind a circuit breaker, and next pushes).
//! Every call is made outside any transaction or writer job, with a bounded time.

pub mod breaker;
pub mod client;
pub mod client_info;
pub mod credentials;
pub mod forward;
pub mod policy;

pub use client::{OcpiClient, PeerError};
