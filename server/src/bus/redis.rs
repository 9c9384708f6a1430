//! The bus between nodes: Redis pub/sub carries wake-ups, never the truth.
//!
//! A publish reaches this node's hub directly and the other nodes through
//! `PUBLISH <prefix>:ch:<channel>`. A node subscribes in Redis only to the
//! channels it has listeners for (the hub tells it on the first and last
//! listener), plus `<prefix>:ctl` for cluster-wide requests.
//!
//! Redis pub/sub is at-most-once: a message published while a node is
//! reconnecting, or dropped because a queue was full, is simply gone. So this
//! bus is [`Bus::lossy`]: the hub compares each channel's last delivered seq
//! with the log's head on a timer, and reconnecting asks it to do so at once.
//!
//! Queues: outgoing messages wait in a bounded queue ([`OUTGOING`]) for the
//! publisher task; when full, a message is dropped for the other nodes (their
//! gap fill delivers the event; a signal is superseded by the next). Incoming
//! messages are handed to the hub with `try_send`: when the hub is behind, the
//! message is dropped and counted instead of piling up inside the Redis client.

pub mod wire;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use protocol::ChannelName;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Bus, BusError, BusFuture, BusMessage, BusStatus};
use crate::bus::memory::CAPACITY;
use crate::cluster::redis::{COMMAND_TIMEOUT, RedisNode};

/// Messages waiting to be published to Redis.
const OUTGOING: usize = 8192;
/// Most PUBLISHes sent in one pipeline.
const PIPELINE_MAX: usize = 256;
/// A subscription connection that does not answer a ping this often is
/// replaced (a half-open TCP connection would otherwise look healthy forever).
const PING_EVERY: Duration = Duration::from_secs(5);
/// Channels per SUBSCRIBE/UNSUBSCRIBE command.
const SUBSCRIBE_BATCH: usize = 500;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The channels this node has listeners for; the subscriber task makes Redis
/// match it.
#[derive(Default)]
struct Wanted {
    channels: Mutex<HashSet<ChannelName>>,
    changed: Notify,
}

pub struct RedisBus {
    node: RedisNode,
    local: mpsc::Sender<BusMessage>,
    receiver: Mutex<Option<mpsc::Receiver<BusMessage>>>,
    outgoing: mpsc::Sender<(String, Vec<u8>)>,
    wanted: Arc<Wanted>,
    connected: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

impl RedisBus {
    /// Starts the publisher and subscriber tasks; they end at `shutdown`.
    pub fn start(node: RedisNode, shutdown: CancellationToken, tasks: &TaskTracker) -> Self {
        let (local, receiver) = mpsc::channel(CAPACITY);
        let (outgoing, queue) = mpsc::channel(OUTGOING);
        let bus = Self {
            node,
            local,
            receiver: Mutex::new(Some(receiver)),
            outgoing,
            wanted: Arc::default(),
            connected: Arc::default(),
            dropped: Arc::default(),
        };
        tasks.spawn(publisher(bus.node.clone(), queue, shutdown.clone()));
        tasks.spawn(
            Subscriber {
                node: bus.node.clone(),
                local: bus.local.clone(),
                wanted: bus.wanted.clone(),
                connected: bus.connected.clone(),
                dropped: bus.dropped.clone(),
                shutdown,
            }
            .run(),
        );
        bus
    }

    fn redis_channel(&self, channel: Option<&ChannelName>) -> String {
        match channel {
            Some(channel) => self.node.key(&format!("ch:{}", channel.as_str())),
            None => self.node.key("ctl"),
        }
    }
}

impl Bus for RedisBus {
    fn publish(&self, message: BusMessage) -> BusFuture<'_> {
        Box::pin(async move {
            let encoded = wire::encode(self.node.node_id(), &message);
            if !matches!(message, BusMessage::Control(_)) {
                self.local.send(message).await.map_err(|_| BusError::Closed)?;
            }
            let Some((channel, payload)) = encoded else { return Ok(()) };
            let redis_channel = self.redis_channel(channel.as_ref());
            self.outgoing.try_send((redis_channel, payload)).map_err(|_| {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                BusError::Backend("outgoing queue full; other nodes fill the gap from the log".into())
            })
        })
    }

    fn subscribe(&self) -> mpsc::Receiver<BusMessage> {
        self.receiver
            .lock()
            .expect("bus lock poisoned")
            .take()
            .expect("the bus has one subscriber: this node's hub")
    }

    fn listen(&self, channel: &ChannelName) {
        self.wanted.channels.lock().expect("bus lock poisoned").insert(channel.clone());
        self.wanted.changed.notify_one();
    }

    fn unlisten(&self, channel: &ChannelName) {
        self.wanted.channels.lock().expect("bus lock poisoned").remove(channel);
        self.wanted.changed.notify_one();
    }

    fn lossy(&self) -> bool {
        true
    }

    fn status(&self) -> BusStatus {
        BusStatus {
            kind: "redis",
            connected: self.connected.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Sends queued messages in pipelines over the shared connection. A failed
/// pipeline is dropped (logged once per outage): the other nodes' gap fill
/// delivers its events.
async fn publisher(
    node: RedisNode,
    mut queue: mpsc::Receiver<(String, Vec<u8>)>,
    shutdown: CancellationToken,
) {
    let mut connection = node.connection();
    let mut failing = false;
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = queue.recv() => match next { Some(item) => item, None => break },
        };
        let mut pipe = redis::pipe();
        pipe.cmd("PUBLISH").arg(first.0).arg(first.1).ignore();
        let mut count = 1;
        while count < PIPELINE_MAX {
            let Ok((channel, payload)) = queue.try_recv() else { break };
            pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
            count += 1;
        }
        let sent = tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(&mut connection)).await;
        match sent {
            Ok(Ok(())) if failing => {
                failing = false;
                tracing::info!("publishing to Redis again");
            }
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) if !failing => {
                failing = true;
                tracing::warn!(dropped = count, "publishing to Redis failed; other nodes fill from the log");
            }
            _ => {}
        }
    }
}

struct Subscriber {
    node: RedisNode,
    local: mpsc::Sender<BusMessage>,
    wanted: Arc<Wanted>,
    connected: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    shutdown: CancellationToken,
}

impl Subscriber {
    /// Holds a subscription connection, reconnecting with backoff when it fails.
    async fn run(self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            let connected = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                pubsub = tokio::time::timeout(COMMAND_TIMEOUT, self.node.client().get_async_pubsub()) => pubsub,
            };
            match connected {
                Ok(Ok(pubsub)) => {
                    let (mut sink, mut stream) = pubsub.split();
                    let outcome = self.serve(&mut sink, &mut stream).await;
                    let was_connected = self.connected.swap(false, Ordering::Relaxed);
                    if self.shutdown.is_cancelled() {
                        return;
                    }
                    tracing::warn!(reason = %outcome, "Redis subscription lost; reconnecting");
                    if was_connected {
                        backoff = BACKOFF_MIN;
                    }
                }
                Ok(Err(err)) => tracing::debug!(error = %err, "Redis subscription connect failed"),
                Err(_) => tracing::debug!("Redis subscription connect timed out"),
            }
            // Jitter spreads the reconnects of many nodes after a Redis restart.
            let jitter = rand::random_range(0..=backoff.as_millis() as u64 / 2);
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff + Duration::from_millis(jitter)) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One subscription connection's life; returns why it ended.
    async fn serve(&self, sink: &mut PubSubSink, stream: &mut PubSubStream) -> String {
        let control = self.node.key("ctl");
        let channel_prefix = self.node.key("ch:");
        if let Err(err) = sink.subscribe(&control).await {
            return err.to_string();
        }
        let mut subscribed = HashSet::new();
        if let Err(err) = self.reconcile(sink, &mut subscribed, &channel_prefix).await {
            return err.to_string();
        }
        self.connected.store(true, Ordering::Relaxed);
        // Whatever was published while this node was not subscribed is in the log.
        let _ = self.local.try_send(BusMessage::CatchUp);
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return "shutdown".into(),
                message = stream.next() => match message {
                    Some(message) => self.receive(&message, &control, &channel_prefix).await,
                    None => return "connection closed".into(),
                },
                _ = self.wanted.changed.notified() => {
                    if let Err(err) = self.reconcile(sink, &mut subscribed, &channel_prefix).await {
                        return err.to_string();
                    }
                }
                _ = ping.tick() => {
                    // In subscribed mode PING answers ["pong", ""], not a status.
                    match tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(err)) => return err.to_string(),
                        Err(_) => return "ping timed out".into(),
                    }
                }
            }
        }
    }

    /// Makes the connection's subscriptions match the wanted set.
    async fn reconcile(
        &self,
        sink: &mut PubSubSink,
        subscribed: &mut HashSet<ChannelName>,
        channel_prefix: &str,
    ) -> redis::RedisResult<()> {
        let (add, remove): (Vec<ChannelName>, Vec<ChannelName>) = {
            let wanted = self.wanted.channels.lock().expect("bus lock poisoned");
            (
                wanted.difference(subscribed).cloned().collect(),
                subscribed.difference(&wanted).cloned().collect(),
            )
        };
        let name = |c: &ChannelName| format!("{channel_prefix}{}", c.as_str());
        for batch in add.chunks(SUBSCRIBE_BATCH) {
            let names: Vec<String> = batch.iter().map(name).collect();
            tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(names))
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "subscribe timed out")))??;
            subscribed.extend(batch.iter().cloned());
        }
        for batch in remove.chunks(SUBSCRIBE_BATCH) {
            let names: Vec<String> = batch.iter().map(name).collect();
            tokio::time::timeout(COMMAND_TIMEOUT, sink.unsubscribe(names))
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "unsubscribe timed out")))??;
            for channel in batch {
                subscribed.remove(channel);
            }
        }
        Ok(())
    }

    async fn receive(&self, message: &redis::Msg, control: &str, channel_prefix: &str) {
        let name = message.get_channel_name();
        let channel = if name == control {
            None
        } else {
            match name.strip_prefix(channel_prefix).map(ChannelName::parse) {
                Some(Ok(channel)) => Some(channel),
                _ => {
                    tracing::debug!(channel = name, "message on an unknown Redis channel");
                    return;
                }
            }
        };
        let decoded = match wire::decode(channel, message.get_payload_bytes()) {
            Ok(decoded) => decoded,
            Err(err) => {
                tracing::warn!(channel = name, error = %err, "ignored a bus message");
                return;
            }
        };
        if decoded.node == self.node.node_id() {
            return; // delivered locally when it was published
        }
        if matches!(decoded.message, BusMessage::Control(_)) {
            // Rare and not recoverable from the log: wait for room.
            let _ = self.local.send(decoded.message).await;
        } else if self.local.try_send(decoded.message).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
