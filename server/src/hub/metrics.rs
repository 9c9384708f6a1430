//! Counters for `/metrics` (Prometheus text) and the stats API. Relaxed atomics:
//! each counter is independent and read only for reporting.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    /// Events appended and handed to the bus.
    pub published: AtomicU64,
    /// Live events placed in connection queues.
    pub queued: AtomicU64,
    /// Frames written to sockets (events, replays, acks, pings...).
    pub frames_out: AtomicU64,
    /// Frames read from sockets.
    pub frames_in: AtomicU64,
    /// Events sent from the log on subscribe-with-since or gap fill.
    pub replayed: AtomicU64,
    /// Connections closed because their queue was full.
    pub slow_consumers: AtomicU64,
    /// Connections closed for missing heartbeats.
    pub heartbeat_timeouts: AtomicU64,
    /// Requests refused with a nack.
    pub nacks: AtomicU64,
    /// WebSocket connections accepted since start.
    pub connections_opened: AtomicU64,
    /// Long-poll requests answered.
    pub polls: AtomicU64,
    /// Ephemeral signals (typing, presence) placed in connection queues.
    pub signals: AtomicU64,
    /// Signals dropped because a connection's queue was full.
    pub signals_dropped: AtomicU64,
    /// Events the bus lost and the gap fill read from the log instead.
    pub gap_filled: AtomicU64,
    /// Idle connections parked (their task ended).
    pub parked: AtomicU64,
    /// Parked connections woken (a task started again).
    pub resumed: AtomicU64,
    /// Deliveries to parked connections written whole where they were
    /// queued, with no task (`connection::inline`).
    pub delivered_inline: AtomicU64,
    /// Heartbeat frames of parked connections (pings sent, pongs read)
    /// handled where their timer or their bytes woke them, with no task
    /// (`connection::inline::heartbeat`).
    pub heartbeats_inline: AtomicU64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    pub published: u64,
    pub queued: u64,
    pub frames_out: u64,
    pub frames_in: u64,
    pub replayed: u64,
    pub slow_consumers: u64,
    pub heartbeat_timeouts: u64,
    pub nacks: u64,
    pub connections_opened: u64,
    pub polls: u64,
    pub signals: u64,
    pub signals_dropped: u64,
    pub gap_filled: u64,
    pub parked: u64,
    pub resumed: u64,
    pub delivered_inline: u64,
    pub heartbeats_inline: u64,
}

impl Metrics {
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            published: get(&self.published),
            queued: get(&self.queued),
            frames_out: get(&self.frames_out),
            frames_in: get(&self.frames_in),
            replayed: get(&self.replayed),
            slow_consumers: get(&self.slow_consumers),
            heartbeat_timeouts: get(&self.heartbeat_timeouts),
            nacks: get(&self.nacks),
            connections_opened: get(&self.connections_opened),
            polls: get(&self.polls),
            signals: get(&self.signals),
            signals_dropped: get(&self.signals_dropped),
            gap_filled: get(&self.gap_filled),
            parked: get(&self.parked),
            resumed: get(&self.resumed),
            delivered_inline: get(&self.delivered_inline),
            heartbeats_inline: get(&self.heartbeats_inline),
        }
    }
}

impl Snapshot {
    /// `(name, help, value)` for each counter, in Prometheus naming.
    pub fn counters(&self) -> [(&'static str, &'static str, u64); 17] {
        [
            (
                "beacon_signals_queued_total",
                "Typing and presence signals placed in connection queues.",
                self.signals,
            ),
            (
                "beacon_signals_dropped_total",
                "Signals dropped because a connection's queue was full.",
                self.signals_dropped,
            ),
            ("beacon_events_published_total", "Events appended and broadcast.", self.published),
            ("beacon_events_queued_total", "Live events placed in connection queues.", self.queued),
            ("beacon_frames_out_total", "Frames written to WebSockets.", self.frames_out),
            ("beacon_frames_in_total", "Frames read from WebSockets.", self.frames_in),
            (
                "beacon_events_replayed_total",
                "Events sent from the log on resume or gap fill.",
                self.replayed,
            ),
            (
                "beacon_slow_consumers_total",
                "Connections closed because their queue was full.",
                self.slow_consumers,
            ),
            (
                "beacon_heartbeat_timeouts_total",
                "Connections closed for missed heartbeats.",
                self.heartbeat_timeouts,
            ),
            ("beacon_nacks_total", "Client requests refused.", self.nacks),
            ("beacon_connections_opened_total", "WebSocket connections accepted.", self.connections_opened),
            ("beacon_polls_total", "Long-poll requests answered.", self.polls),
            (
                "beacon_events_gap_filled_total",
                "Events the bus lost, handed on from the log by the gap fill.",
                self.gap_filled,
            ),
            ("beacon_sockets_parked_total", "Idle WebSockets parked with no task.", self.parked),
            ("beacon_sockets_resumed_total", "Parked WebSockets woken onto a task again.", self.resumed),
            (
                "beacon_sockets_delivered_inline_total",
                "Deliveries to parked WebSockets written whole with no task.",
                self.delivered_inline,
            ),
            (
                "beacon_sockets_heartbeats_inline_total",
                "Heartbeat frames of parked WebSockets (pings sent, pongs read) handled with no task.",
                self.heartbeats_inline,
            ),
        ]
    }
}
