//! A WebSocket's connection: greet, authenticate, then serve subscriptions
//! until the socket closes, the heartbeat lapses, the queue overflows or the
//! server shuts down. It runs on a task while it has work, and waits parked,
//! with no task, while it is idle (see [`park`]).
//!
//! Resume without gap or duplicate: a subscription is added to the hub *before*
//! the log is read, so nothing published meanwhile is missed; every delivery is
//! then filtered by the subscription's last seq, so nothing is sent twice; and
//! an event whose seq skips ahead triggers a read of the missing seqs from the
//! log (they are committed before any later seq is visible).
//!
//! - this file: the connection's state, how it starts, resumes and ends.
//! - `event_loop`: what wakes it (client, queue, timer), heartbeat, idling.
//! - [`park`]: a connection waiting with no task, resumed by the first wake.
//! - `ping_schedule`: when its pings fall.
//! - `inline`: a parked connection's delivery or heartbeat handled with no task.
//! - `inbound`: frames in, parsed once; authentication and token refresh.
//! - `subscribe`: subscribe (authorize, listen, replay), unsubscribe.
//! - `delivery`: live events and signals out, in batches, with gap filling.
//! - `publish`: what members send: messages, typing, activity.

mod channel_map;
mod delivery;
mod event_loop;
mod inbound;
mod inline;
mod ops;
mod park;
mod ping_schedule;
mod publish;
mod subscribe;
mod write;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use protocol::chat::Member;
use protocol::message::{Nack, Welcome};
use protocol::{CloseCode, ErrorCode, ServerMessage};

use self::channel_map::{ChannelMap, Subscriptions};
use self::event_loop::{Ran, Woke};
use self::park::Resume;
use self::write::write_bounded;
use super::rate::RateLimiter;
use super::{ConnectionId, Hub, Outbox, OutboxReader, encode};
use crate::auth::Principal;
use crate::auth::token::TokenKeys;
use crate::chat::Chat;
use crate::config::Config;
use crate::guard::Held;
use crate::hub::counts::Admission;
use crate::websocket::UpgradedSocket;

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
    /// Where a parked connection's task is started again when it wakes.
    pub runtime: tokio::runtime::Handle,
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
    /// Channel -> highest seq delivered.
    subscriptions: Subscriptions,
    /// Subscribed channels where this principal is a member (present, may type).
    memberships: ChannelMap<Member>,
    outbox: Outbox,
    queue: OutboxReader,
    limiter: RateLimiter,
    /// When it last parked ([`event_loop::monotonic_ms`]): a delivery soon
    /// after is a busy socket's, which then keeps its task for a while.
    parked_at_ms: u32,
    rate_violations: u8,
    protocol_errors: u8,
    denials: u8,
    last_inbound: Instant,
    /// The one timer: the auth timeout or the token's expiry, the next ping,
    /// and (while running) when to check for idleness. Boxed so that it stays
    /// where it is registered while the connection moves between its tasks
    /// and its parked state.
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The auth timeout until authenticated, then the token's expiry.
    deadline: tokio::time::Instant,
    /// `deadline` moved since the timer was set.
    deadline_moved: bool,
    next_ping: tokio::time::Instant,
    /// The socket's permits, released when the connection ends.
    _admitted: Held,
    /// Keeps shutdown waiting while the connection is parked (no task to wait for).
    _tracked: tokio_util::task::task_tracker::TaskTrackerToken,
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
    let now = tokio::time::Instant::now();
    let deadline = now + ctx.config.auth_timeout;
    let next_ping = ping_schedule::first_ping(now, ctx.config.heartbeat_interval, ctx.config.heartbeat_grace);
    let conn = Connection {
        id: hub.next_connection_id(),
        limiter: RateLimiter::new(ctx.config.inbound_rate_per_sec),
        ctx,
        socket,
        principal: None,
        admission: Admission::Refused,
        subscriptions: Subscriptions::default(),
        memberships: ChannelMap::default(),
        outbox,
        queue,
        parked_at_ms: 0,
        rate_violations: 0,
        protocol_errors: 0,
        denials: 0,
        last_inbound: Instant::now(),
        timer: Box::pin(tokio::time::sleep_until(deadline.min(next_ping))),
        deadline,
        deadline_moved: false,
        next_ping,
        _admitted: admitted,
        _tracked: hub.tasks().token(),
    };
    hub.metrics().connections_opened.fetch_add(1, Ordering::Relaxed);
    drive(conn, Start::Greet)
}

/// How [`drive`] begins.
enum Start {
    /// A new connection: greet the client first.
    Greet,
    /// Woken from its parked state, with what woke it when that is known.
    Resumed(Option<Woke>),
}

/// Runs the connection on the current task until it ends, or until it is
/// idle: then it is parked, and this task ends; the wake that resumes it runs
/// this again on a new task.
///
/// Not an `async fn`: that would move the connection from its argument into
/// a local of the body, and the future would hold both for its whole life.
/// The `async` block uses the captured connection in place.
#[allow(clippy::manual_async_fn, reason = "an `async fn` would hold the connection twice")]
fn drive(mut conn: Connection, start: Start) -> impl Future<Output = ()> + Send + 'static {
    // Taken apart before the `async` block, which then holds only the parts.
    let (greet, mut woke, mut eager) = match start {
        Start::Greet => (true, None, false),
        Start::Resumed(woke) => (false, woke, true),
    };
    async move {
        if greet && let Err(end) = conn.open().await {
            return conn.finish(end).await;
        }
        loop {
            match conn.run(woke.take(), eager).await {
                Ran::Ended(end) => return conn.finish(end).await,
                Ran::Idle => match conn.park() {
                    None => return,
                    // Something was ready after all, or woke it while
                    // parking: busy, so it keeps its task for a while.
                    Some((back, ready)) => {
                        conn = back;
                        woke = ready;
                        eager = false;
                    }
                },
            }
        }
    }
}

impl Resume for Connection {
    fn resume(self) {
        let Some((conn, woke)) = self.handle_here() else {
            return; // handled, and parked again
        };
        conn.ctx.hub.metrics().resumed.fetch_add(1, Ordering::Relaxed);
        let runtime = conn.ctx.runtime.clone();
        // Not awaited: the task owns the connection until it parks or ends.
        drop(runtime.spawn(drive(conn, Start::Resumed(woke))));
    }
}

impl Connection {
    /// Greets the client, unless the server is shutting down.
    async fn open(&mut self) -> Result<(), End> {
        // Boxed: its futures would otherwise size the task for its whole life.
        if Box::pin(self.greet()).await.is_err() {
            return Err(End::ClientGone);
        }
        if self.ctx.hub.shutdown_token().is_cancelled() {
            return Err(Box::pin(self.close(CloseCode::Shutdown)).await);
        }
        Ok(())
    }

    /// Leaves the hub (its channels, its presence) and logs how it ended.
    async fn finish(&mut self, end: End) {
        if self.principal.is_some() {
            // Boxed so the clean-up's futures do not add to the size of every
            // socket's task for its whole life (see the inbound arm in `run`).
            Box::pin(async {
                let hub = &self.ctx.hub;
                hub.unregister(self.id, self.subscriptions.keys(), self.admission).await;
                for channel in self.memberships.keys() {
                    hub.leave_presence(channel, self.id).await;
                }
            })
            .await;
        }
        match end {
            End::Closed(code) => {
                tracing::debug!(connection = self.id, code = code.code(), reason = code.reason(), "closed")
            }
            End::ClientGone => tracing::debug!(connection = self.id, "client went away"),
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
        // A busy socket's task is this size for as long as it runs
        // (docs/PERFORMANCE.md, steps 13, 19, 20, 25, 26 and 27). An await
        // added inline to `run` or to the delivery's fast path grows it: box
        // rare paths.
        let size = future_size(serve);
        assert!(size <= 904, "a socket's future is {size} bytes, more than 904");
    }

    #[test]
    fn a_parked_socket_stays_small() {
        // What an idle socket keeps of its own while parked, beside its boxed
        // timer (step 27): the connection in its slot, behind the slot's
        // reference counts. At 384 bytes with them, it is one of jemalloc's
        // size classes; a field added to the connection takes it to the next
        // (448).
        let size = 2 * std::mem::size_of::<usize>() + park::slot_size::<Connection>();
        assert!(size <= 384, "a parked connection is {size} bytes, more than 384");
    }
}
