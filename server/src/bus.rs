//! The bus carries appended events (and ephemeral signals) from whichever node
//! made them to every node's hub. One node uses [`memory::MemoryBus`]; several
//! nodes share [`redis::RedisBus`], an implementation of the same trait.
//!
//! The bus may deliver an event late, twice or not at all: connections detect
//! gaps by seq and fill them from the event log, and on a [`Bus::lossy`] bus
//! the hub also compares each channel's last delivered seq with the log's head
//! on a timer, so a lost bus message delays an event, it never loses it.

pub mod memory;
pub mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use protocol::ChannelName;
use tokio::sync::mpsc;

use crate::auth::Principal;

/// An event on its way to subscribers, already encoded as the `event` frame.
#[derive(Debug, Clone)]
pub struct Published {
    pub channel: ChannelName,
    pub seq: u64,
    /// The complete `{"type":"event",...}` text, encoded once, shared by all sockets.
    pub frame: Utf8Bytes,
}

/// An ephemeral signal (typing, presence) on its way to a channel's current
/// subscribers: no seq, never stored, dropped rather than queued when a
/// subscriber is behind (the next signal carries the full state again).
#[derive(Debug, Clone)]
pub struct Signalled {
    pub channel: ChannelName,
    /// The complete `{"type":"signal",...}` text.
    pub frame: Utf8Bytes,
}

/// A request every node carries out for its own connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Close the principal's sockets with the reconnect code (admin, sign-out).
    Disconnect(Principal),
    /// End the principal's subscriptions to the channel (lost access).
    Revoke { principal: Principal, channel: ChannelName },
}

/// What travels on the bus.
#[derive(Debug, Clone)]
pub enum BusMessage {
    Event(Published),
    Signal(Signalled),
    Control(Control),
    /// The bus was away (Redis reconnected): compare every channel with the
    /// log now instead of at the next gap-fill tick. Never sent between nodes.
    CatchUp,
}

/// How the bus is doing, for `/health`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BusStatus {
    pub kind: &'static str,
    /// Whether messages from other nodes are arriving (always true in memory).
    pub connected: bool,
    /// Messages from other nodes dropped because this hub was behind (the gap
    /// fill delivers their events from the log).
    pub dropped: u64,
}

/// Why a publish did not reach the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus closed")]
    Closed,
    #[error("bus backend: {0}")]
    Backend(String),
}

pub type BusFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BusError>> + Send + 'a>>;

/// Delivers published events to every node's hub.
pub trait Bus: Send + Sync + 'static {
    /// Sends an event or signal to every node (this one included), a control
    /// request to every *other* node (the caller carries it out here itself).
    fn publish(&self, message: BusMessage) -> BusFuture<'_>;
    /// The stream of messages for this node's hub. Called once, at start.
    fn subscribe(&self) -> mpsc::Receiver<BusMessage>;
    /// This node has its first listener on `channel`: receive its messages.
    /// Called with a registry lock held, so it must not block.
    fn listen(&self, _channel: &ChannelName) {}
    /// This node's last listener on `channel` left.
    fn unlisten(&self, _channel: &ChannelName) {}
    /// Whether messages can be lost on the way (then the hub fills gaps from
    /// the log on a timer).
    fn lossy(&self) -> bool {
        false
    }
    fn status(&self) -> BusStatus;
}

pub type SharedBus = Arc<dyn Bus>;
