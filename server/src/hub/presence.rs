//! Who is on a channel, one entry per member however many tabs and devices
//! they have open. The hub keeps it current from subscribes, connection ends
//! and activity reports, and turns each change into a signal.
//!
//! [`memory::MemoryPresence`] serves one node; [`redis::RedisPresence`] serves
//! several, with per-node leases so a dead node's entries leave together.

pub mod memory;
pub mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use protocol::ChannelName;
use protocol::chat::{Member, PresenceEntry};

use super::ConnectionId;

pub type PresenceFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A change other members should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceChange {
    /// Arrived, or changed status.
    Update(PresenceEntry),
    /// Their last connection left.
    Leave { member_id: String },
}

pub trait Presence: Send + Sync + 'static {
    /// A connection of `member` is now on `channel`. Returns the change to
    /// announce: an update when the member was not here (or was away), else none.
    fn join<'a>(
        &'a self,
        channel: &'a ChannelName,
        connection: ConnectionId,
        member: &'a Member,
        now: Instant,
    ) -> PresenceFuture<'a, Option<PresenceChange>>;

    /// The connection left `channel` (unsubscribed or closed). Returns the
    /// leave to announce when it was the member's last connection there.
    fn leave<'a>(
        &'a self,
        channel: &'a ChannelName,
        connection: ConnectionId,
    ) -> PresenceFuture<'a, Option<PresenceChange>>;

    /// Someone used the tab behind `connection`; members who were away and are
    /// back are returned with the channel to announce them on.
    fn activity(
        &self,
        connection: ConnectionId,
        now: Instant,
    ) -> PresenceFuture<'_, Vec<(ChannelName, PresenceChange)>>;

    /// Everyone on `channel` now.
    fn snapshot<'a>(&'a self, channel: &'a ChannelName) -> PresenceFuture<'a, Vec<PresenceEntry>>;

    /// Members whose every connection has been idle for the away time are now
    /// away; returned with their channel.
    fn sweep(&self, now: Instant) -> PresenceFuture<'_, Vec<(ChannelName, PresenceChange)>>;
}

pub type SharedPresence = Arc<dyn Presence>;
