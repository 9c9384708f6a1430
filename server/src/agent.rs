//! The identity agent: what Beacon asks of the identity platform.
//!
//! - [`confirmd`]: the client of the ConfirmD platform API (token caching, the
//!   exact paths and bodies). It is the one implementation Beacon calls.
//! - [`dev`]: the built-in dev agent, the default. It *serves* the same platform
//!   API on Beacon's own server and stands in for the wallet, so in development
//!   and in every test the real client speaks real HTTP to a real counterpart,
//!   and both sides of the contract are exercised.

pub mod confirmd;
#[cfg(feature = "dev-agent")]
pub mod dev;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// An invitation as the platform created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The platform's invitation id (not the out-of-band id).
    pub id: String,
    /// The short URL to put in the QR.
    pub url: String,
    /// The out-of-band record id: connection webhooks carry it as `outOfBandId`.
    pub record_id: String,
}

/// A connection record as read from the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub id: String,
    pub state: String,
    pub their_label: Option<String>,
}

/// A proof record as read from the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofRecord {
    pub id: String,
    pub state: String,
    pub is_verified: Option<bool>,
    pub error_message: Option<String>,
}

/// Why a platform call failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("platform unreachable: {0}")]
    Transport(String),
    #[error("platform answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("platform answer not understood: {0}")]
    Decode(String),
}

pub type AgentFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, AgentError>> + Send + 'a>>;

/// The calls Beacon makes to the identity platform.
pub trait Agent: Send + Sync + 'static {
    /// A single-use invitation whose connection carries `alias` (the session id).
    fn create_invitation<'a>(&'a self, alias: &'a str) -> AgentFuture<'a, Invitation>;
    /// The connection made from an invitation, if any (polling fallback).
    fn connection_by_record<'a>(&'a self, record_id: &'a str) -> AgentFuture<'a, Option<ConnectionRecord>>;
    fn connection<'a>(&'a self, connection_id: &'a str) -> AgentFuture<'a, ConnectionRecord>;
    /// Asks the wallet on `connection_id` for the registration attributes.
    fn send_proof_request<'a>(&'a self, connection_id: &'a str) -> AgentFuture<'a, ProofRecord>;
    fn proof<'a>(&'a self, proof_id: &'a str) -> AgentFuture<'a, ProofRecord>;
    /// Accepts a received presentation (moves it to `done`).
    fn verify<'a>(&'a self, proof_id: &'a str) -> AgentFuture<'a, ()>;
    /// The verified attribute values, merged into one map.
    fn verified_attributes<'a>(&'a self, proof_id: &'a str) -> AgentFuture<'a, BTreeMap<String, String>>;
}
