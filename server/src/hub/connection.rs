//! One task per WebSocket: greet, authenticate, then serve subscriptions until
//! the socket closes, the heartbeat lapses, the queue overflows or the server
//! shuts down.
//!
//! Resume without gap or duplicate: a subscription is added to the hub *before*
//! the log is read, so nothing published meanwhile is missed; every delivery is
//! then filtered by the subscription's last seq, so nothing is sent twice; and
//! an event whose seq skips ahead triggers a read of the missing seqs from the
//! log (they are committed before any later seq is visible).
//!
//! - this file: the connection's state, its event loop, heartbeat and close.
//! - `inbound`: frames in, parsed once; authentication and token refresh.
//! - `subscribe`: subscribe (authorize, listen, replay), unsubscribe.
//! - `delivery`: live events and signals out, in batches, with gap filling.
//! - `publish`: what members send: messages, typing, activity.

mod channel_map;
mod delivery;
mod inbound;
mod ops;
mod publish;
mod subscribe;
mod write;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use protocol::chat::Member;
use protocol::message::{Nack, Welcome};
use protocol::{CloseCode, ErrorCode, ServerMessage};

use self::channel_map::{ChannelMap, Subscriptions};
use self::write::write_bounded;
use super::rate::RateLimiter;
use super::{ConnectionId, Hub, Next, Outbound, Outbox, OutboxReader, encode};
use crate::auth::Principal;
use crate::auth::token::TokenKeys;
use crate::chat::Chat;
use crate::config::Config;
use crate::guard::Held;
use crate::hub::counts::Admission;
use crate::websocket::{Received, UpgradedSocket};

/// Live events written to a socket before one flush: bursts cost one write, and
/// a long backlog still reaches the client in steady pieces.
const WRITE_BATCH: usize = 64;
/// Client frames already received that are handled before their answers are
/// flushed (a reconnect's auth and its subscribes); more wait for the next
/// turn of the loop, after the answers so far and the queued deliveries.
const INBOUND_BURST: usize = 16;
/// No frame of a burst is started after this long: the answers so far go out.
const INBOUND_BURST_TIME: Duration = Duration::from_millis(2);
/// Longest the closing handshake may take before the socket is dropped anyway.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);
/// Consecutive refused messages (rate limit) before the connection is closed.
const RATE_VIOLATIONS_BEFORE_CLOSE: u8 = 10;
/// Unparseable frames tolerated before the connection is closed.
const PROTOCOL_ERRORS_BEFORE_CLOSE: u8 = 10;
/// Forbidden subscribes tolerated before the connection is closed.
const DENIALS_BEFORE_CLOSE: u8 = 10;

/// What a connection needs from the application (one, shared by every socket).
pub struct ConnectionContext {
    pub hub: Hub,
    pub keys: TokenKeys,
    pub config: Arc<Config>,
    pub chat: Chat,
    pub dashboards: crate::dashboard::Dashboards,
}

/// How the connection ended, for logs.
enum End {
    Closed(CloseCode),
    ClientGone,
}

struct Connection {
    ctx: Arc<ConnectionContext>,
    socket: UpgradedSocket,
    id: ConnectionId,
    principal: Option<Principal>,
    /// Where the connection was counted against its principal's limit.
    admission: Admission,
    token_expires_at: u64,
    /// Channel -> highest seq delivered.
    subscriptions: Subscriptions,
    /// Subscribed channels where this principal is a member (present, may type).
    memberships: ChannelMap<Member>,
    outbox: Outbox,
    queue: OutboxReader,
    limiter: RateLimiter,
    rate_violations: u8,
    protocol_errors: u8,
    denials: u8,
    last_inbound: Instant,
}

/// Serves one upgraded socket until it ends.
///
/// The connection is built here and moved once into the returned future, which
/// then uses it in place: an `async fn` would keep its arguments (the socket,
/// the context) a second time beside the state built from them, for the whole
/// life of every socket. `admitted` (the socket's permits) is released when
/// the connection ends.
pub fn serve(
    ctx: Arc<ConnectionContext>,
    socket: UpgradedSocket,
    admitted: Held,
) -> impl Future<Output = ()> + Send + 'static {
    let hub = ctx.hub.clone();
    let (outbox, queue) = super::outbox(ctx.config.outbound_queue);
    let mut conn = Connection {
        id: hub.next_connection_id(),
        limiter: RateLimiter::new(ctx.config.inbound_rate_per_sec),
        ctx,
        socket,
        principal: None,
        admission: Admission::Refused,
        token_expires_at: 0,
        subscriptions: Subscriptions::default(),
        memberships: ChannelMap::default(),
        outbox,
        queue,
        rate_violations: 0,
        protocol_errors: 0,
        denials: 0,
        last_inbound: Instant::now(),
    };
    hub.metrics().connections_opened.fetch_add(1, Ordering::Relaxed);
    async move {
        let end = conn.run().await;
        if conn.principal.is_some() {
            // Boxed so the clean-up's futures do not add to the size of every
            // socket's task for its whole life (see the inbound arm in `run`).
            Box::pin(async {
                let hub = &conn.ctx.hub;
                hub.unregister(conn.id, conn.subscriptions.keys(), conn.admission).await;
                for channel in conn.memberships.keys() {
                    hub.leave_presence(channel, conn.id).await;
                }
            })
            .await;
        }
        match end {
            End::Closed(code) => {
                tracing::debug!(connection = conn.id, code = code.code(), reason = code.reason(), "closed")
            }
            End::ClientGone => tracing::debug!(connection = conn.id, "client went away"),
        }
        drop(admitted);
    }
}

/// What woke a connection's loop. The loop handles it after the `select!`, whose
/// futures are gone by then, so they and the handler share one slot of the
/// task's memory instead of being laid out side by side.
enum Woke {
    End(End),
    Timer,
    Item(Outbound),
    Inbound(Received),
}

impl Connection {
    async fn run(&mut self) -> End {
        // Boxed: its futures would otherwise size the task for its whole life.
        if Box::pin(self.greet()).await.is_err() {
            return End::ClientGone;
        }
        if self.ctx.hub.shutdown_token().is_cancelled() {
            return Box::pin(self.close(CloseCode::Shutdown)).await;
        }

        // One deadline: the auth timeout until authenticated, then the token's
        // expiry (moved on every refresh). The first ping comes at a random point
        // of the interval: sockets that connected together (a reconnect storm, a
        // deploy) must not ping together forever after. One timer serves both
        // (an idle socket holds one timer entry, not two). The timer and the
        // shutdown wait are created once and polled across iterations:
        // re-creating them would re-register with the timer wheel and the
        // shutdown token on every event.
        let now = tokio::time::Instant::now();
        let mut deadline = now + self.ctx.config.auth_timeout;
        let mut deadline_for = 0u64;
        let mut next_ping = now + self.ctx.config.heartbeat_interval.mul_f64(rand::random::<f64>().max(0.01));
        let timer = tokio::time::sleep_until(deadline.min(next_ping));
        tokio::pin!(timer);
        let shutdown = self.ctx.hub.shutdown_token().clone();
        let shutting_down = shutdown.cancelled();
        tokio::pin!(shutting_down);

        loop {
            if self.principal.is_some() && deadline_for != self.token_expires_at {
                deadline_for = self.token_expires_at;
                deadline = token_deadline(self.token_expires_at);
                timer.as_mut().reset(deadline.min(next_ping));
            }
            let woke = tokio::select! {
                _ = &mut shutting_down => Woke::End(End::Closed(CloseCode::Shutdown)),
                () = &mut timer => Woke::Timer,
                next = self.queue.next() => match next {
                    Next::Item(item) => Woke::Item(item),
                    Next::Kicked(code) => Woke::End(End::Closed(code)),
                },
                inbound = self.socket.recv() => Woke::Inbound(inbound),
            };
            let result = match woke {
                Woke::End(end) => Err(end),
                Woke::Timer if tokio::time::Instant::now() >= deadline => {
                    Err(End::Closed(if self.principal.is_none() {
                        CloseCode::AuthTimeout
                    } else {
                        CloseCode::TokenExpired
                    }))
                }
                Woke::Timer => {
                    // Pings keep their cadence; a late one delays the next rather
                    // than bunching two.
                    let now = tokio::time::Instant::now();
                    let interval = self.ctx.config.heartbeat_interval;
                    next_ping += interval;
                    if next_ping <= now {
                        next_ping = now + interval;
                    }
                    timer.as_mut().reset(deadline.min(next_ping));
                    // Boxed, like the other rare paths below: inline, its write
                    // would size every socket's task for its whole life.
                    Box::pin(self.on_heartbeat()).await
                }
                // The hot path stays inline: it shares its slot with the select.
                Woke::Item(item) => self.deliver_batch(item).await,
                // Handling a client message (subscribe and its replay, publish,
                // ops) awaits database futures several KiB large; boxed, that
                // memory exists only while a message is being handled.
                Woke::Inbound(inbound) => Box::pin(self.on_inbound_burst(inbound)).await,
            };
            if let Err(end) = result {
                return match end {
                    End::Closed(code) => Box::pin(self.close(code)).await,
                    End::ClientGone => End::ClientGone,
                };
            }
        }
    }

    /// The first frame: the connection's id and the limits the client must keep.
    async fn greet(&mut self) -> Result<(), End> {
        let welcome = ServerMessage::Welcome(Welcome {
            connection_id: self.id.to_string(),
            heartbeat_interval_ms: self.ctx.config.heartbeat_interval.as_millis() as u64,
            max_frame_bytes: self.ctx.config.max_frame_bytes,
        });
        self.send(encode(&welcome)).await?;
        self.flush().await
    }

    /// Queues a frame on the socket, unflushed: whoever sends flushes once
    /// it has nothing more to say (the end of an inbound burst, a heartbeat,
    /// a delivery batch). The socket's write buffer still goes out by itself
    /// past `WRITE_BUFFER_BYTES` (a long replay).
    async fn send(&mut self, frame: Utf8Bytes) -> Result<(), End> {
        self.ctx.hub.metrics().frames_out.fetch_add(1, Ordering::Relaxed);
        write_bounded(self.socket.feed(frame)).await
    }

    async fn flush(&mut self) -> Result<(), End> {
        write_bounded(self.socket.flush()).await
    }

    async fn send_message(&mut self, message: &ServerMessage) -> Result<(), End> {
        self.send(encode(message)).await
    }

    async fn nack(
        &mut self,
        id: Option<&str>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Result<(), End> {
        self.ctx.hub.metrics().nacks.fetch_add(1, Ordering::Relaxed);
        let nack = Nack::new(id.map(str::to_owned), code, message);
        self.send_message(&ServerMessage::Nack(nack)).await
    }

    async fn close(&mut self, code: CloseCode) -> End {
        if code == CloseCode::HeartbeatTimeout {
            self.ctx.hub.metrics().heartbeat_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        // The closing handshake: send our close, then read until the peer's
        // close. Dropping the socket with unread client data would make the
        // kernel answer with a reset, and the client would lose the frames we
        // sent before (the close code included). Bounded: a peer that stopped
        // reading or answering must not hold the task open.
        let handshake = async {
            if self.socket.close(code.code(), code.reason()).await.is_err() {
                return;
            }
            while let Some(Ok(message)) = self.socket.recv().await {
                if matches!(message, crate::websocket::Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, handshake).await;
        End::Closed(code)
    }

    async fn on_heartbeat(&mut self) -> Result<(), End> {
        let config = &self.ctx.config;
        if self.last_inbound.elapsed() > config.heartbeat_interval + config.heartbeat_grace {
            return Err(End::Closed(CloseCode::HeartbeatTimeout));
        }
        self.send_message(&ServerMessage::Ping { ts: crate::store::now_ms() }).await?;
        self.flush().await
    }
}

/// When the connection's token runs out, as an instant for `sleep_until`.
fn token_deadline(expires_at_unix: u64) -> tokio::time::Instant {
    let now_unix = jsonwebtoken::get_current_timestamp();
    let left = Duration::from_secs(expires_at_unix.saturating_sub(now_unix));
    tokio::time::Instant::now() + left
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `serve` returns, without making one.
    fn future_size<F, Fut>(_: F) -> usize
    where
        F: FnOnce(Arc<ConnectionContext>, UpgradedSocket, Held) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    #[test]
    fn a_socket_task_stays_small() {
        // Every socket's task is this size for the socket's whole life, idle or
        // not (docs/PERFORMANCE.md, steps 13, 19, 20, 25 and 26). An await added inline
        // to `run` or to the delivery's fast path grows it: box rare paths.
        let size = future_size(serve);
        assert!(size <= 856, "a socket's future is {size} bytes, more than 856");
    }
}
