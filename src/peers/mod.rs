//! Outbound OCPI: the hub calling partners' platforms (versions discovery, the credentials
//! handshake, and next forwarding and pushes). Every call is made outside any transaction or
//! writer job, with a bounded time.

pub mod client;
pub mod client_info;
pub mod credentials;
pub mod policy;

pub use client::{OcpiClient, PeerError};
