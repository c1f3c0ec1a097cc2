//! Outbound OCPI: the hub calling partners' platforms (versions discovery, the credentials
//! handshake, pushes of tokens and sessions, and next forwarding). Every call is made outside any transaction or
//! writer job, with a bounded time.

pub mod client;
pub mod client_info;
pub mod credentials;
pub mod policy;
pub mod push;

pub use client::{OcpiClient, PeerError, Routing};
