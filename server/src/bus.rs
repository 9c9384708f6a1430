//! The bus carries appended events (and ephemeral signals) from whichever node
//! made them to every node's hub. One node uses [`memory::MemoryBus`]; several nodes share a
//! Redis-backed implementation of the same trait.
//!
//! The bus may deliver an event late or twice; it must not reorder events of a
//! channel *and* hide the gap: connections detect gaps by seq and fill them from
//! the event log, so a lost bus message delays an event, it never loses it.

pub mod memory;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use protocol::ChannelName;
use tokio::sync::mpsc;

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

/// What travels on the bus.
#[derive(Debug, Clone)]
pub enum BusMessage {
    Event(Published),
    Signal(Signalled),
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
    /// Sends `message` to every node (this one included).
    fn publish(&self, message: BusMessage) -> BusFuture<'_>;
    /// The stream of messages for this node's hub. Called once, at start.
    fn subscribe(&self) -> mpsc::Receiver<BusMessage>;
}

pub type SharedBus = Arc<dyn Bus>;
