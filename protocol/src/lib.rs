//! Beacon's wire protocol, shared by the server, the browser and the load generator.
//!
//! - [`channel`]: validated channel names (`session:<id>`, `user:<id>`, ...).
//! - [`message`]: every client-to-server and server-to-client message.
//! - [`close`]: WebSocket close codes in a reconnect-allowed and a terminal range.
//! - [`error`]: the error codes carried by `nack` and by HTTP error bodies.
//! - [`chat`]: conversations, their events and the typing and presence signals.
//! - [`inbox`]: notifications, the inbox events and the inbox HTTP API.
//! - [`dashboard`]: live dashboards: widgets, ops, conflicts, and the op applier.
//! - [`limits`]: defaults both sides agree on.
//!
//! docs/PROTOCOL.md describes the same contract with JSON examples.

pub mod channel;
pub mod chat;
pub mod close;
pub mod connect;
pub mod dashboard;
pub mod error;
pub mod inbox;
pub mod limits;
pub mod message;

pub use channel::{ChannelError, ChannelKind, ChannelName};
pub use close::CloseCode;
pub use error::ErrorCode;
pub use message::{
    ClientMessage, ConnectToken, EventEnvelope, PollResponse, PublishRequest, PublishResponse, ResetReason,
    ServerMessage,
};
