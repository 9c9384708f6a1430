//! The realtime hub: which connection listens to which channel, and fan-out.
//!
//! - [`connection`]: a WebSocket's connection (auth, subscribe, resume, heartbeat,
//!   limits), on a task while busy and parked with none while idle.
//! - [`outbox`]: what the hub queues for a connection, and the kick that closes it.
//! - [`ephemeral`]: signals (typing, presence): live only, never logged.
//! - [`presence`]: who is on a channel, behind a trait; [`typing`]: who is typing.
//! - [`rate`]: the per-connection inbound rate limiter.
//! - [`metrics`]: counters behind `/metrics` and the stats API.
//! - [`resume`]: where a socket or long-poll resumes, and the gap check on reads.
//! - [`counts`]: connections per principal, on this node or across nodes.
//! - [`gap_fill`]: on a lossy bus, events the bus lost are read from the log.
//! - `control`: disconnect and revoke, on every node.
//! - `fan_out`: a bus message to every local listener, events in seq order
//!   ([`reorder`]).
//!
//! The registry is sharded by channel name so fan-out on one channel does not
//! contend with subscribes on others. Locks are std mutexes held only for map
//! updates and non-blocking `try_send`s, never across an `.await`.

pub mod connection;
mod control;
pub mod counts;
pub mod ephemeral;
mod fan_out;
pub mod gap_fill;
mod listeners;
pub mod metrics;
pub mod outbox;
pub mod presence;
pub mod rate;
mod reorder;
pub mod resume;
mod stats;
pub mod typing;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use protocol::{ChannelName, EventEnvelope, ServerMessage};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Principal;
use crate::bus::{BusMessage, Published, SharedBus};
use crate::store::{Store, StoreError};
use counts::{Admission, SharedCounts};
use listeners::Listeners;
pub use metrics::Metrics;
pub use outbox::{Next, Outbound, Outbox, OutboxReader, Refused, outbox};
use presence::SharedPresence;
use reorder::Reorder;
pub use stats::HubStats;
use typing::Typing;

/// Shards of the channel registry: enough that two cores rarely meet on one lock.
const SHARDS: usize = 64;

/// Identifies one WebSocket connection on this node.
pub type ConnectionId = u64;

#[derive(Debug, Clone)]
enum Listener {
    Socket(Outbox),
    /// A long-poll request waiting for the next event of a channel.
    Waiter(Arc<Notify>),
}

/// A channel's listeners on this node, and its live events put back in seq
/// order (the newest seq handed on is what the gap fill compares with the
/// log's head).
#[derive(Default)]
struct ChannelListeners {
    listeners: Listeners<Listener>,
    order: Reorder<Arc<Published>>,
}

type ChannelMap = HashMap<ChannelName, ChannelListeners>;

struct ConnectionEntry {
    principal: Principal,
    outbox: Outbox,
}

struct Shared {
    shards: Vec<Mutex<ChannelMap>>,
    hasher: RandomState,
    connections: Mutex<HashMap<ConnectionId, ConnectionEntry>>,
    counts: SharedCounts,
    next_id: AtomicU64,
    bus: SharedBus,
    store: Store,
    metrics: Metrics,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    max_per_principal: usize,
    presence: SharedPresence,
    typing: Typing,
    /// Wakes the gap fill before its next tick (the bus reconnected).
    catch_up: Notify,
    /// Events held back for order, over all channels (see [`reorder`]).
    held: AtomicUsize,
}

/// What the hub is built from: one node's or a cluster's implementations.
pub struct HubParts {
    pub bus: SharedBus,
    pub presence: SharedPresence,
    pub counts: SharedCounts,
    pub store: Store,
    pub max_per_principal: usize,
    /// How often a lossy bus's channels are compared with the log.
    pub gap_fill_every: std::time::Duration,
}

/// Cloneable handle to the hub, passed through axum state.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

/// Why a connection could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("too many connections for this principal")]
    TooManyConnections,
}

impl Hub {
    /// Creates the hub and starts its dispatcher, which reads the bus until
    /// shutdown, and the ticker that expires typers and marks idle members away.
    pub fn start(parts: HubParts) -> Self {
        Self::start_with(parts, CancellationToken::new(), TaskTracker::new())
    }

    /// Like [`Hub::start`], with a shutdown token and task tracker made
    /// earlier (the cluster's tasks started before the hub share them).
    pub fn start_with(parts: HubParts, shutdown: CancellationToken, tasks: TaskTracker) -> Self {
        let lossy = parts.bus.lossy();
        let hub = Self {
            shared: Arc::new(Shared {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                hasher: RandomState::new(),
                connections: Mutex::new(HashMap::new()),
                counts: parts.counts,
                next_id: AtomicU64::new(1),
                bus: parts.bus,
                store: parts.store,
                metrics: Metrics::default(),
                shutdown,
                tasks,
                max_per_principal: parts.max_per_principal,
                presence: parts.presence,
                typing: Typing::default(),
                catch_up: Notify::new(),
                held: AtomicUsize::new(0),
            }),
        };
        let mut incoming = hub.shared.bus.subscribe();
        let dispatcher = hub.clone();
        hub.shared.tasks.spawn(async move {
            // Checked five times per wait, so an overdue event waits at most 1.2x.
            let mut release = tokio::time::interval(reorder::WAIT / 5);
            release.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = dispatcher.shared.shutdown.cancelled() => break,
                    _ = release.tick() => {
                        if dispatcher.shared.held.load(Ordering::Relaxed) > 0 {
                            dispatcher.release_overdue();
                        }
                    }
                    next = incoming.recv() => match next {
                        Some(BusMessage::Control(control)) => dispatcher.obey(control),
                        Some(BusMessage::CatchUp) => dispatcher.shared.catch_up.notify_one(),
                        Some(message) => dispatcher.fan_out(message),
                        None => break,
                    },
                }
            }
        });
        hub.spawn_ephemeral_ticker();
        if lossy {
            hub.spawn_gap_fill(parts.gap_fill_every);
        }
        hub
    }

    pub fn bus(&self) -> &SharedBus {
        &self.shared.bus
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Cancelled when the server shuts down; connection tasks close on it.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shared.shutdown
    }

    /// Tracks connection tasks so shutdown can wait for their close frames.
    pub fn tasks(&self) -> &TaskTracker {
        &self.shared.tasks
    }

    /// Closes every connection with the reconnect-allowed shutdown code and
    /// waits (up to `timeout`) for their tasks to finish.
    pub async fn shutdown(&self, timeout: std::time::Duration) {
        self.shared.shutdown.cancel();
        // A parked connection has no task waiting on the token: a kick wakes
        // it (one registered after this sees the token before it parks).
        // Kicked outside the registry's lock: a wake starts a task.
        let outboxes: Vec<Outbox> = {
            let connections = self.shared.connections.lock().expect("registry lock poisoned");
            connections.values().map(|entry| entry.outbox.clone()).collect()
        };
        outboxes.iter().for_each(|outbox| outbox.kick(protocol::CloseCode::Shutdown));
        self.shared.tasks.close();
        if tokio::time::timeout(timeout, self.shared.tasks.wait()).await.is_err() {
            tracing::warn!("hub tasks still running after {timeout:?}; leaving them");
        }
    }

    /// Appends `payload` to the channel's log and sends it to every subscriber
    /// on every node. The event is durable before anyone sees it.
    pub async fn publish(
        &self,
        channel: &ChannelName,
        payload: serde_json::Value,
    ) -> Result<EventEnvelope, StoreError> {
        // On a task of its own: once the writer has the event it may commit
        // it, and a caller that gives up meanwhile (a client gone, a request
        // timeout) must not leave it stored but never broadcast.
        let hub = self.clone();
        let channel = channel.clone();
        let published = self.shared.tasks.spawn(async move {
            let event = hub.shared.store.append_event(&channel, payload).await?;
            hub.broadcast(&event).await;
            Ok(event)
        });
        published.await.map_err(|err| StoreError::Failed(format!("publishing: {err}")))?
    }

    /// Sends an event that is already in the log (appended by a store
    /// transaction of its own) to every subscriber on every node.
    pub async fn broadcast(&self, event: &EventEnvelope) {
        // Before the bus: a subscriber that starts listening after this event
        // went out must find it in the head it reads.
        self.shared.store.log_heads().end_write(&event.channel, event.seq);
        let frame = encode_event(event);
        self.shared.metrics.published.fetch_add(1, Ordering::Relaxed);
        let published = Published { channel: event.channel.clone(), seq: event.seq, frame };
        if let Err(err) = self.shared.bus.publish(BusMessage::Event(published)).await {
            // Stored but not broadcast: subscribers get it on their next gap fill or resume.
            tracing::warn!(channel = %event.channel, seq = event.seq, error = %err, "bus publish failed");
        }
    }

    pub fn next_connection_id(&self) -> ConnectionId {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers an authenticated connection, enforcing the per-principal
    /// limit (across every node when the counts are shared).
    pub async fn register(
        &self,
        id: ConnectionId,
        principal: &Principal,
        outbox: Outbox,
    ) -> Result<Admission, RegisterError> {
        let admission = self.shared.counts.acquire(principal, self.shared.max_per_principal).await;
        if admission == Admission::Refused {
            return Err(RegisterError::TooManyConnections);
        }
        self.shared
            .connections
            .lock()
            .expect("registry lock poisoned")
            .insert(id, ConnectionEntry { principal: principal.clone(), outbox });
        Ok(admission)
    }

    /// Removes a connection and all its subscriptions, and uncounts it.
    pub async fn unregister<'a>(
        &self,
        id: ConnectionId,
        channels: impl IntoIterator<Item = &'a ChannelName>,
        admission: Admission,
    ) {
        for channel in channels {
            self.remove_listener(channel, id);
        }
        let entry = self.shared.connections.lock().expect("registry lock poisoned").remove(&id);
        if let Some(entry) = entry {
            self.shared.counts.release(&entry.principal, admission).await;
        }
    }

    fn shard(&self, channel: &ChannelName) -> &Mutex<ChannelMap> {
        let index = self.shared.hasher.hash_one(channel) as usize % SHARDS;
        &self.shared.shards[index]
    }

    /// Starts delivering `channel`'s live events to `outbox`.
    pub fn add_subscriber(&self, channel: &ChannelName, id: ConnectionId, outbox: Outbox) {
        self.add_listener(channel, id, Listener::Socket(outbox));
    }

    fn add_listener(&self, channel: &ChannelName, id: ConnectionId, listener: Listener) {
        let mut shard = self.shard(channel).lock().expect("shard lock poisoned");
        let entry = shard.entry(channel.clone()).or_insert_with(|| {
            self.shared.bus.listen(channel);
            ChannelListeners::default()
        });
        entry.listeners.insert(id, listener);
    }

    pub fn remove_listener(&self, channel: &ChannelName, id: ConnectionId) {
        let mut shard = self.shard(channel).lock().expect("shard lock poisoned");
        if let Some(entry) = shard.get_mut(channel) {
            entry.listeners.remove(&id);
            if entry.listeners.is_empty() {
                shard.remove(channel);
                self.shared.bus.unlisten(channel);
            }
        }
    }

    /// Connection `id` read the channel's head from the log after it started
    /// listening. When it is the channel's only listener here, nobody needs
    /// anything up to that head live (its replay covers it), so live events
    /// count from there: the first one after it is not mistaken for early.
    pub fn note_head(&self, channel: &ChannelName, id: ConnectionId, head: u64) {
        let mut shard = self.shard(channel).lock().expect("shard lock poisoned");
        if let Some(entry) = shard.get_mut(channel)
            && entry.listeners.len() == 1
            && entry.listeners.contains_key(&id)
        {
            entry.order.start_after(head);
        }
    }

    /// Registers a long-poll waiter; it is notified on the channel's next event.
    /// Remove it with [`Hub::remove_listener`] and the returned id.
    pub fn add_waiter(&self, channel: &ChannelName) -> (ConnectionId, Arc<Notify>) {
        let id = self.next_connection_id();
        let notify = Arc::new(Notify::new());
        self.add_listener(channel, id, Listener::Waiter(notify.clone()));
        (id, notify)
    }

    /// Connections on this node right now.
    /// The channels of `kind` that have a socket listening on this node.
    pub fn local_channels(&self, kind: protocol::ChannelKind) -> Vec<ChannelName> {
        let mut channels = Vec::new();
        for shard in &self.shared.shards {
            let shard = shard.lock().expect("shard lock poisoned");
            channels.extend(
                shard
                    .iter()
                    .filter(|(name, entry)| {
                        name.kind() == kind
                            && entry.listeners.values().any(|l| matches!(l, Listener::Socket(_)))
                    })
                    .map(|(name, _)| name.clone()),
            );
        }
        channels
    }

    pub fn connection_count(&self) -> usize {
        self.shared.connections.lock().expect("registry lock poisoned").len()
    }
}

/// The `event` frame for an envelope, as sent on every socket.
pub fn encode_event(event: &EventEnvelope) -> Utf8Bytes {
    encode(&ServerMessage::Event(event.clone()))
}

/// Serializes a server message; our own types always serialize.
pub fn encode(message: &ServerMessage) -> Utf8Bytes {
    serde_json::to_string(message).expect("server messages serialize").into()
}
