//! Scenario 5: chat. C conversations of M members, one socket per member.
//! Every conversation carries one message a second, each member sending in
//! turn over their own socket, preceded by a typing signal. Latency: from just
//! before the sender writes the frame to its arrival at each other member.
//!
//! Beacon: every member is its own principal, joined by invite; messages are
//! `publish`ed (stored, acknowledged) and typing is a signal. Node: the
//! reference server relays `message:send` and `typing:start` to the sockets
//! that connected with the conversation's id (nothing stored).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{Plan, cpu, cpu_between, percentile, progress};
use crate::client::source_addr;
use crate::server::{Kind, Programs, Server};
use crate::sys;

mod seats;

use self::seats::{Seat, Ws, open, seats};

#[derive(Debug, Clone)]
pub struct ChatRun {
    pub kind: Kind,
    pub conversations: usize,
    pub members: usize,
    pub connected: usize,
    pub send_secs: f64,
    pub sent: u64,
    /// Messages times the other members.
    pub expected: u64,
    pub delivered: u64,
    pub duplicates: u64,
    pub typing_received: u64,
    /// Sorted, nanoseconds.
    pub latencies_ns: Vec<u64>,
    pub server_cpu_secs: Option<f64>,
}

impl ChatRun {
    pub fn latency_ms(&self, p: f64) -> Option<f64> {
        percentile(&self.latencies_ns, p).map(|ns| ns as f64 / 1e6)
    }

    /// Server CPU per delivered message, in microseconds.
    pub fn cpu_us_per_delivery(&self) -> Option<f64> {
        self.server_cpu_secs.map(|s| s * 1e6 / self.delivered.max(1) as f64)
    }
}

struct Tallies {
    sent: AtomicU64,
    delivered: AtomicU64,
    /// A message that reached the same member twice.
    duplicates: AtomicU64,
    typing: AtomicU64,
    latencies: Mutex<Vec<u64>>,
}

/// The `n:t:sender` text of a message, or `None` for other frames.
fn message_text(kind: Kind, value: &Value) -> Option<String> {
    match kind {
        Kind::Beacon if value["type"] == "event" => {
            value["payload"]["message"]["text"].as_str().map(str::to_owned)
        }
        Kind::Node if value["type"] == "message" => value["content"].as_str().map(str::to_owned),
        _ => None,
    }
}

fn is_typing(kind: Kind, value: &Value) -> bool {
    match kind {
        Kind::Beacon => value["type"] == "signal" && value["kind"] == "typing",
        Kind::Node => value["type"] == "typing",
    }
}

/// What every member task shares.
#[derive(Clone)]
struct Shared {
    kind: Kind,
    plan: Plan,
    tallies: Arc<Tallies>,
    /// Cancelled when sending stops (receiving goes on while the last messages drain).
    sending: CancellationToken,
    stop: CancellationToken,
}

/// One member's socket: sends its turn's typing and message, records what arrives.
async fn member(mut ws: Ws, seat: Seat, me: usize, shared: Shared) {
    let Shared { kind, plan, tallies, sending, stop } = shared;
    let m_count = plan.chat_members;
    // Conversations start their seconds at spread-out offsets.
    let phase = Duration::from_secs_f64(seat.conversation as f64 / plan.chat_conversations as f64);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + phase, Duration::from_secs(1));
    let mut second = 0usize;
    let mut n = 0u64;
    let mut seen = std::collections::HashSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticks.tick(), if !sending.is_cancelled() => {
                // The condition above is read when the `select!` starts: a
                // tick that fires later, after sending stopped, must not send.
                // Such a message was counted after the drain had ended, with
                // no one left to receive it.
                if sending.is_cancelled() {
                    continue;
                }
                second += 1;
                if second % m_count != seat.member {
                    continue;
                }
                n += 1;
                let (typing, message) = frames(kind, &seat, me, n);
                if ws.send(Message::text(typing)).await.is_err() {
                    break;
                }
                let text = format!("{n}:{}:{me}", sys::now_ns());
                let message = message.replace("TEXT", &text);
                if ws.send(Message::text(message)).await.is_err() {
                    break;
                }
                tallies.sent.fetch_add(1, Ordering::Relaxed);
            }
            frame = ws.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    if frame.is_none() { break; }
                    continue;
                };
                let Ok(value) = serde_json::from_str::<Value>(&text) else { continue };
                if is_typing(kind, &value) {
                    tallies.typing.fetch_add(1, Ordering::Relaxed);
                } else if value["type"] == "ping" {
                    let _ = ws.send(Message::text(json!({"type": "pong", "ts": value["ts"]}).to_string())).await;
                } else if let Some(body) = message_text(kind, &value) {
                    let mut parts = body.split(':');
                    let (Some(number), Some(t), Some(sender)) = (parts.next(), parts.next(), parts.next()) else {
                        continue;
                    };
                    if sender.parse::<usize>().ok() == Some(me) {
                        continue;
                    }
                    if !seen.insert((sender.to_owned(), number.to_owned())) {
                        tallies.duplicates.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let latency = sys::now_ns().saturating_sub(t.parse().unwrap_or(u64::MAX));
                    tallies.delivered.fetch_add(1, Ordering::Relaxed);
                    tallies.latencies.lock().expect("latency lock").push(latency);
                }
            }
        }
    }
    let _ = ws.close(None).await;
}

/// The typing frame and the message frame (with `TEXT` to fill in).
fn frames(kind: Kind, seat: &Seat, me: usize, n: u64) -> (String, String) {
    match kind {
        Kind::Beacon => (
            json!({"type": "typing", "channel": seat.room, "active": true}).to_string(),
            json!({"type": "publish", "id": format!("p{n}"), "channel": seat.room,
                   "client_id": format!("b{me}-{n}"), "payload": {"text": "TEXT"}})
            .to_string(),
        ),
        Kind::Node => (
            json!({"type": "typing:start", "conversationId": seat.room, "userId": me}).to_string(),
            json!({"type": "message:send", "conversationId": seat.room, "clientId": format!("b{me}-{n}"),
                   "content": "TEXT"})
            .to_string(),
        ),
    }
}

pub async fn run(kind: Kind, programs: &Programs, plan: &Plan) -> Result<ChatRun> {
    let label = format!("chat/{}", kind.name());
    let server = Server::start(kind, programs, "chat").await?;
    let result = run_on(&server, plan, &label).await;
    server.stop().await?;
    result
}

async fn run_on(server: &Server, plan: &Plan, label: &str) -> Result<ChatRun> {
    let kind = server.kind;
    let seats = seats(server, plan, label).await?;
    progress(label, format!("connecting {} members", seats.len()));
    let tallies = Arc::new(Tallies {
        sent: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        typing: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
    });
    let (sending, stop) = (CancellationToken::new(), CancellationToken::new());
    let mut sockets = Vec::with_capacity(seats.len());
    let total = seats.len();
    for (i, seat) in seats.into_iter().enumerate() {
        let source = source_addr(i, plan.sources);
        let ws = open(server, &seat, source).await.with_context(|| format!("member {i} of {total}"))?;
        sockets.push((ws, seat));
    }
    let connected = sockets.len();
    let mut tasks = JoinSet::new();
    let cpu_before = cpu(server);
    let started = std::time::Instant::now();
    let shared = Shared {
        kind,
        plan: plan.clone(),
        tallies: tallies.clone(),
        sending: sending.clone(),
        stop: stop.clone(),
    };
    for (me, (ws, seat)) in sockets.into_iter().enumerate() {
        tasks.spawn(member(ws, seat, me, shared.clone()));
    }
    progress(
        label,
        format!("{} conversations sending for {:?}", plan.chat_conversations, plan.chat_duration),
    );
    tokio::time::sleep(plan.chat_duration).await;
    sending.cancel();
    let send_secs = started.elapsed().as_secs_f64();
    // A member may be between its tick and its write when sending stops.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Read again at every check: on a busy load generator a member may count
    // its last send after this point, and the drain waits for that one too.
    let others = plan.chat_members as u64 - 1;
    super::drain(&tallies.delivered, Duration::from_secs(2), || {
        tallies.delivered.load(Ordering::Relaxed) >= tallies.sent.load(Ordering::Relaxed) * others
    })
    .await;
    let server_cpu_secs = cpu_between(cpu_before, cpu(server));
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    // Counted again once every member has stopped: a send that was under way
    // when sending stopped is in this figure.
    let sent = tallies.sent.load(Ordering::Relaxed);
    let expected = sent * (plan.chat_members as u64 - 1);
    let mut latencies_ns = std::mem::take(&mut *tallies.latencies.lock().expect("latency lock"));
    latencies_ns.sort_unstable();
    let run = ChatRun {
        kind,
        conversations: plan.chat_conversations,
        members: plan.chat_members,
        connected,
        send_secs,
        sent,
        expected,
        delivered: tallies.delivered.load(Ordering::Relaxed),
        duplicates: tallies.duplicates.load(Ordering::Relaxed),
        typing_received: tallies.typing.load(Ordering::Relaxed),
        latencies_ns,
        server_cpu_secs,
    };
    progress(
        label,
        format!(
            "{} messages, {} of {} deliveries, {} duplicates, p50 {:.2} ms, p99 {:.2} ms, {:.1} µs CPU per delivery",
            run.sent,
            run.delivered,
            run.expected,
            run.duplicates,
            run.latency_ms(50.0).unwrap_or(f64::NAN),
            run.latency_ms(99.0).unwrap_or(f64::NAN),
            run.cpu_us_per_delivery().unwrap_or(f64::NAN)
        ),
    );
    Ok(run)
}
