//! One task per WebSocket: greet, authenticate, then serve subscriptions until
//! the socket closes, the heartbeat lapses, the queue overflows or the server
//! shuts down.
//!
//! Resume without gap or duplicate: a subscription is added to the hub *before*
//! the log is read, so nothing published meanwhile is missed; every delivery is
//! then filtered by the subscription's last seq, so nothing is sent twice; and
//! an event whose seq skips ahead triggers a read of the missing seqs from the
//! log (they are committed before any later seq is visible).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use protocol::message::{Ack, Nack, Reset, Welcome};
use protocol::{ChannelName, ClientMessage, CloseCode, ErrorCode, ResetReason, ServerMessage, limits};
use tokio::sync::mpsc;

use super::rate::RateLimiter;
use super::{ConnectionId, Hub, Kick, Outbox, encode, encode_event};
use crate::auth::token::{TokenError, TokenKeys};
use crate::auth::{Principal, authorize};
use crate::bus::Published;
use crate::config::Config;

/// Live events written to a socket before one flush: bursts cost one write, and
/// a long backlog still reaches the client in steady pieces.
const WRITE_BATCH: usize = 64;
/// Longest one socket write may wait for the peer to read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the closing handshake may take before the socket is dropped anyway.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);
/// Consecutive refused messages (rate limit) before the connection is closed.
const RATE_VIOLATIONS_BEFORE_CLOSE: u32 = 10;
/// Unparseable frames tolerated before the connection is closed.
const PROTOCOL_ERRORS_BEFORE_CLOSE: u32 = 10;
/// Forbidden subscribes tolerated before the connection is closed.
const DENIALS_BEFORE_CLOSE: u32 = 10;

/// What a connection needs from the application.
#[derive(Clone)]
pub struct ConnectionContext {
    pub hub: Hub,
    pub keys: TokenKeys,
    pub config: Arc<Config>,
}

/// How the connection ended, for logs.
enum End {
    Closed(CloseCode),
    ClientGone,
}

struct Connection {
    ctx: ConnectionContext,
    socket: WebSocket,
    id: ConnectionId,
    principal: Option<Principal>,
    token_expires_at: u64,
    /// Channel -> highest seq delivered.
    subscriptions: HashMap<ChannelName, u64>,
    outbox: Outbox,
    queue: mpsc::Receiver<Arc<Published>>,
    limiter: RateLimiter,
    rate_violations: u32,
    protocol_errors: u32,
    denials: u32,
    last_inbound: Instant,
}

/// Serves one upgraded socket until it ends.
pub async fn serve(ctx: ConnectionContext, socket: WebSocket) {
    let hub = ctx.hub.clone();
    let (queue_tx, queue) = mpsc::channel(ctx.config.outbound_queue);
    let mut conn = Connection {
        id: hub.next_connection_id(),
        limiter: RateLimiter::new(ctx.config.inbound_rate_per_sec),
        ctx,
        socket,
        principal: None,
        token_expires_at: 0,
        subscriptions: HashMap::new(),
        outbox: Outbox { queue: queue_tx, kick: Arc::new(Kick::default()) },
        queue,
        rate_violations: 0,
        protocol_errors: 0,
        denials: 0,
        last_inbound: Instant::now(),
    };
    hub.metrics().connections_opened.fetch_add(1, Ordering::Relaxed);
    let end = conn.run().await;
    if conn.principal.is_some() {
        hub.unregister(conn.id, conn.subscriptions.keys());
    }
    match end {
        End::Closed(code) => {
            tracing::debug!(connection = conn.id, code = code.code(), reason = code.reason(), "closed")
        }
        End::ClientGone => tracing::debug!(connection = conn.id, "client went away"),
    }
}

impl Connection {
    async fn run(&mut self) -> End {
        let config = self.ctx.config.clone();
        let welcome = ServerMessage::Welcome(Welcome {
            connection_id: self.id.to_string(),
            heartbeat_interval_ms: config.heartbeat_interval.as_millis() as u64,
            max_frame_bytes: config.max_frame_bytes,
        });
        if self.send(encode(&welcome)).await.is_err() {
            return End::ClientGone;
        }
        if self.ctx.hub.shutdown_token().is_cancelled() {
            return self.close(CloseCode::Shutdown).await;
        }

        // One deadline: the auth timeout until authenticated, then the token's
        // expiry (moved on every refresh). Every future below is created once and
        // polled across iterations: re-creating them would re-register with the
        // shared shutdown token and the timer wheel on every event.
        let deadline = tokio::time::sleep(config.auth_timeout);
        tokio::pin!(deadline);
        let mut deadline_for = 0u64;
        // The first ping comes at a random point of the interval: sockets that
        // connected together (a reconnect storm, a deploy) must not ping together
        // forever after.
        let interval = config.heartbeat_interval;
        let first_ping = interval.mul_f64(rand::random::<f64>().max(0.01));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + first_ping, interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown = self.ctx.hub.shutdown_token().clone();
        let shutting_down = shutdown.cancelled();
        tokio::pin!(shutting_down);
        let kick = self.outbox.kick.clone();
        let kicked = kick.fired();
        tokio::pin!(kicked);

        loop {
            if self.principal.is_some() && deadline_for != self.token_expires_at {
                deadline_for = self.token_expires_at;
                deadline.as_mut().reset(token_deadline(self.token_expires_at));
            }
            let result = tokio::select! {
                _ = &mut shutting_down => Err(End::Closed(CloseCode::Shutdown)),
                code = &mut kicked => Err(End::Closed(code)),
                _ = &mut deadline => Err(End::Closed(if self.principal.is_none() {
                    CloseCode::AuthTimeout
                } else {
                    CloseCode::TokenExpired
                })),
                _ = heartbeat.tick() => self.on_heartbeat(&config).await,
                Some(event) = self.queue.recv() => self.deliver_batch(event).await,
                inbound = self.socket.recv() => self.on_inbound(inbound).await,
            };
            if let Err(end) = result {
                return match end {
                    End::Closed(code) => self.close(code).await,
                    End::ClientGone => End::ClientGone,
                };
            }
        }
    }

    async fn send(&mut self, frame: Utf8Bytes) -> Result<(), End> {
        self.ctx.hub.metrics().frames_out.fetch_add(1, Ordering::Relaxed);
        write_bounded(self.socket.send(Message::Text(frame))).await
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
        let nack = Nack { id: id.map(str::to_owned), code, message: message.into() };
        self.send_message(&ServerMessage::Nack(nack)).await
    }

    async fn close(&mut self, code: CloseCode) -> End {
        if code == CloseCode::HeartbeatTimeout {
            self.ctx.hub.metrics().heartbeat_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        let frame = CloseFrame { code: code.code(), reason: code.reason().into() };
        // The closing handshake: send our close, then read until the peer's
        // close. Dropping the socket with unread client data would make the
        // kernel answer with a reset, and the client would lose the frames we
        // sent before (the close code included). Bounded: a peer that stopped
        // reading or answering must not hold the task open.
        let handshake = async {
            if self.socket.send(Message::Close(Some(frame))).await.is_err() {
                return;
            }
            while let Some(Ok(message)) = self.socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, handshake).await;
        End::Closed(code)
    }

    async fn on_heartbeat(&mut self, config: &Config) -> Result<(), End> {
        if self.last_inbound.elapsed() > config.heartbeat_interval + config.heartbeat_grace {
            return Err(End::Closed(CloseCode::HeartbeatTimeout));
        }
        self.send_message(&ServerMessage::Ping { ts: crate::store::now_ms() }).await
    }

    async fn on_inbound(&mut self, inbound: Option<Result<Message, axum::Error>>) -> Result<(), End> {
        let message = match inbound {
            None => return Err(End::ClientGone),
            Some(Err(err)) => {
                let too_big = err
                    .into_inner()
                    .downcast_ref::<tungstenite::Error>()
                    .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
                return Err(if too_big { End::Closed(CloseCode::MessageTooBig) } else { End::ClientGone });
            }
            Some(Ok(message)) => message,
        };
        self.last_inbound = Instant::now();
        self.ctx.hub.metrics().frames_in.fetch_add(1, Ordering::Relaxed);
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => return Err(End::Closed(CloseCode::ProtocolViolation)),
            // Protocol-level pings are answered by the library; both count as life.
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
            Message::Close(_) => return Err(End::ClientGone),
        };
        if text.len() > self.ctx.config.max_frame_bytes {
            return Err(End::Closed(CloseCode::MessageTooBig));
        }
        if !self.limiter.allow(Instant::now()) {
            self.rate_violations += 1;
            if self.rate_violations >= RATE_VIOLATIONS_BEFORE_CLOSE {
                return Err(End::Closed(CloseCode::RateLimited));
            }
            return self.nack(None, ErrorCode::RateLimited, "slow down: too many messages").await;
        }
        self.rate_violations = 0;
        let message = match parse_client_message(&text) {
            Ok(message) => message,
            Err((code, detail)) => {
                self.protocol_errors += 1;
                if self.protocol_errors >= PROTOCOL_ERRORS_BEFORE_CLOSE {
                    return Err(End::Closed(CloseCode::ProtocolViolation));
                }
                return self.nack(None, code, detail).await;
            }
        };
        // Boxed: requests (database reads, token checks) are rare next to idle
        // time, and their large futures would otherwise sit inline in every
        // connection's task for its whole life.
        Box::pin(self.handle(message)).await
    }

    async fn handle(&mut self, message: ClientMessage) -> Result<(), End> {
        if self.principal.is_none() {
            return match message {
                ClientMessage::Auth { id, token } => self.authenticate(&id, &token).await,
                ClientMessage::Ping { ts } => self.send_message(&ServerMessage::Pong { ts }).await,
                ClientMessage::Pong { .. } => Ok(()),
                other => {
                    let id = other.correlation_id().map(str::to_owned);
                    self.nack(id.as_deref(), ErrorCode::NotAuthenticated, "send auth first").await
                }
            };
        }
        match message {
            ClientMessage::Auth { id, .. } => {
                self.nack(Some(&id), ErrorCode::AlreadyAuthenticated, "use refresh_token").await
            }
            ClientMessage::Subscribe { id, channel, since } => self.subscribe(&id, &channel, since).await,
            ClientMessage::Unsubscribe { id, channel } => self.unsubscribe(&id, &channel).await,
            ClientMessage::RefreshToken { id, token } => self.refresh(&id, &token).await,
            ClientMessage::Ping { ts } => self.send_message(&ServerMessage::Pong { ts }).await,
            ClientMessage::Pong { .. } => Ok(()),
        }
    }

    async fn authenticate(&mut self, id: &str, token: &str) -> Result<(), End> {
        let verified = match self.ctx.keys.verify(token) {
            Ok(verified) => verified,
            Err(TokenError::Expired) => {
                self.nack(Some(id), ErrorCode::BadToken, "token expired").await?;
                return Err(End::Closed(CloseCode::TokenExpired));
            }
            Err(TokenError::Invalid) => {
                self.nack(Some(id), ErrorCode::BadToken, "token invalid").await?;
                return Err(End::Closed(CloseCode::BadToken));
            }
        };
        if self.ctx.hub.register(self.id, &verified.principal, self.outbox.clone()).is_err() {
            return Err(End::Closed(CloseCode::TooManyConnections));
        }
        self.principal = Some(verified.principal);
        self.token_expires_at = verified.expires_at;
        self.send_message(&ServerMessage::Ack(Ack { id: id.to_owned(), head_seq: None })).await
    }

    async fn refresh(&mut self, id: &str, token: &str) -> Result<(), End> {
        match self.ctx.keys.verify(token) {
            Ok(verified) if Some(&verified.principal) == self.principal.as_ref() => {
                self.token_expires_at = verified.expires_at;
                self.send_message(&ServerMessage::Ack(Ack { id: id.to_owned(), head_seq: None })).await
            }
            Ok(_) => self.nack(Some(id), ErrorCode::PrincipalMismatch, "token names another principal").await,
            Err(_) => self.nack(Some(id), ErrorCode::BadToken, "token invalid or expired").await,
        }
    }

    async fn subscribe(&mut self, id: &str, channel: &str, since: Option<u64>) -> Result<(), End> {
        let channel = match ChannelName::parse(channel) {
            Ok(channel) => channel,
            Err(err) => {
                return self.nack(Some(id), ErrorCode::InvalidChannel, err.to_string()).await;
            }
        };
        let already = self.subscriptions.contains_key(&channel);
        if !already && self.subscriptions.len() >= self.ctx.config.max_channels_per_connection {
            let limit = self.ctx.config.max_channels_per_connection;
            return self
                .nack(Some(id), ErrorCode::TooManyChannels, format!("at most {limit} channels"))
                .await;
        }
        let principal = self.principal.clone().expect("authenticated");
        let store = self.ctx.hub.store().clone();
        match authorize::may_read(&store, &principal, &channel).await {
            Ok(true) => {}
            Ok(false) => {
                self.denials += 1;
                if self.denials >= DENIALS_BEFORE_CLOSE {
                    return Err(End::Closed(CloseCode::Forbidden));
                }
                return self.nack(Some(id), ErrorCode::Forbidden, "not allowed on this channel").await;
            }
            Err(err) => {
                tracing::error!(error = %err, "authorization lookup failed");
                return self.nack(Some(id), ErrorCode::Internal, "try again").await;
            }
        }

        // Live first, then the log: see the module comment.
        self.ctx.hub.add_subscriber(&channel, self.id, self.outbox.clone());
        let bounds = match store.log_bounds(&channel).await {
            Ok(bounds) => bounds,
            Err(err) => {
                tracing::error!(error = %err, "reading log bounds failed");
                if !already {
                    self.ctx.hub.remove_listener(&channel, self.id);
                }
                return self.nack(Some(id), ErrorCode::Internal, "try again").await;
            }
        };
        let (start, reset) = match since {
            None => (bounds.head, None),
            Some(since) if since > bounds.head => (bounds.head, Some(ResetReason::AheadOfLog)),
            Some(since) if since + 1 < bounds.first_retained => {
                (bounds.head, Some(ResetReason::BeyondRetention))
            }
            Some(since) => (since, None),
        };
        // Recorded before anything is sent, so the listener is removed with the
        // connection whatever happens next.
        self.subscriptions.insert(channel.clone(), start);
        if let Some(reason) = reset {
            self.reset(&channel, reason, bounds.head).await?;
        }
        if start < bounds.head {
            self.replay(&channel, bounds.head).await?;
        }
        let head_seq = self.subscriptions.get(&channel).copied();
        self.send_message(&ServerMessage::Ack(Ack { id: id.to_owned(), head_seq })).await
    }

    async fn reset(&mut self, channel: &ChannelName, reason: ResetReason, head_seq: u64) -> Result<(), End> {
        self.send_message(&ServerMessage::Reset(Reset { channel: channel.clone(), reason, head_seq })).await
    }

    /// Sends the logged events after the subscription's last seq up to `up_to`.
    async fn replay(&mut self, channel: &ChannelName, up_to: u64) -> Result<(), End> {
        loop {
            let Some(&last) = self.subscriptions.get(channel) else {
                return Ok(());
            };
            if last >= up_to {
                return Ok(());
            }
            let batch = self
                .ctx
                .hub
                .store()
                .events_between(channel, last, up_to, limits::MAX_REPLAY_BATCH)
                .await
                .map_err(|err| {
                    tracing::error!(error = %err, "replay read failed");
                    End::Closed(CloseCode::Shutdown)
                })?;
            let Some(first) = batch.first() else {
                // Retention removed the gap while we were away from it.
                self.subscriptions.insert(channel.clone(), up_to);
                return self.reset(channel, ResetReason::BeyondRetention, up_to).await;
            };
            if first.seq != last + 1 {
                self.subscriptions.insert(channel.clone(), up_to);
                return self.reset(channel, ResetReason::BeyondRetention, up_to).await;
            }
            for event in &batch {
                self.send(encode_event(event)).await?;
            }
            self.ctx.hub.metrics().replayed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            let newest = batch.last().map_or(last, |e| e.seq);
            self.subscriptions.insert(channel.clone(), newest);
        }
    }

    /// Writes `first` and whatever else is already queued (up to a batch), then
    /// flushes once: one write to the socket for a burst instead of one per event.
    async fn deliver_batch(&mut self, first: Arc<Published>) -> Result<(), End> {
        let mut written = u64::from(self.deliver(&first).await?);
        for _ in 1..WRITE_BATCH {
            let Ok(next) = self.queue.try_recv() else { break };
            written += u64::from(self.deliver(&next).await?);
        }
        if written > 0 {
            self.ctx.hub.metrics().frames_out.fetch_add(written, Ordering::Relaxed);
            write_bounded(futures_util::SinkExt::flush(&mut self.socket)).await?;
        }
        Ok(())
    }

    /// Queues one live event on the socket (unflushed); returns whether it was written.
    async fn deliver(&mut self, event: &Published) -> Result<bool, End> {
        let Some(&last) = self.subscriptions.get(&event.channel) else {
            return Ok(false);
        };
        if event.seq <= last {
            return Ok(false); // already sent by a replay
        }
        if event.seq > last + 1 {
            Box::pin(self.replay(&event.channel, event.seq - 1)).await?;
        }
        if let Some(last) = self.subscriptions.get_mut(&event.channel) {
            *last = event.seq;
        }
        let frame = Message::Text(event.frame.clone());
        write_bounded(futures_util::SinkExt::feed(&mut self.socket, frame)).await?;
        Ok(true)
    }

    async fn unsubscribe(&mut self, id: &str, channel: &str) -> Result<(), End> {
        let removed = ChannelName::parse(channel).ok().filter(|c| self.subscriptions.remove(c).is_some());
        match removed {
            Some(channel) => {
                self.ctx.hub.remove_listener(&channel, self.id);
                self.send_message(&ServerMessage::Ack(Ack { id: id.to_owned(), head_seq: None })).await
            }
            None => self.nack(Some(id), ErrorCode::NotSubscribed, "not subscribed to that channel").await,
        }
    }
}

/// Runs a socket write, giving up on a peer that has not taken our bytes for
/// [`WRITE_TIMEOUT`]: a frozen or hostile client that keeps its receive window
/// shut must not hold the task (and its kick, shutdown and expiry) forever.
async fn write_bounded<E>(write: impl std::future::Future<Output = Result<(), E>>) -> Result<(), End> {
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(End::ClientGone),
    }
}

/// When the connection's token runs out, as an instant for `sleep_until`.
fn token_deadline(expires_at_unix: u64) -> tokio::time::Instant {
    let now_unix = jsonwebtoken::get_current_timestamp();
    let left = Duration::from_secs(expires_at_unix.saturating_sub(now_unix));
    tokio::time::Instant::now() + left
}

/// Every `type` a client may send; a unit test keeps it equal to [`ClientMessage`]'s tags.
const KNOWN: [&str; 6] = ["auth", "subscribe", "unsubscribe", "refresh_token", "ping", "pong"];

/// Parses a frame, telling unknown message types from malformed ones.
fn parse_client_message(text: &str) -> Result<ClientMessage, (ErrorCode, String)> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| (ErrorCode::MalformedMessage, format!("not JSON: {e}")))?;
    match value.get("type").and_then(|t| t.as_str()) {
        None => return Err((ErrorCode::MalformedMessage, "missing `type`".into())),
        Some(kind) if !KNOWN.contains(&kind) => {
            return Err((ErrorCode::UnknownType, format!("unknown message type `{kind}`")));
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|e| (ErrorCode::MalformedMessage, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_unknown_types_from_malformed_frames() {
        assert_eq!(parse_client_message("{").unwrap_err().0, ErrorCode::MalformedMessage);
        assert_eq!(parse_client_message("{}").unwrap_err().0, ErrorCode::MalformedMessage);
        assert_eq!(parse_client_message(r#"{"type":"dance"}"#).unwrap_err().0, ErrorCode::UnknownType);
        assert_eq!(
            parse_client_message(r#"{"type":"subscribe"}"#).unwrap_err().0,
            ErrorCode::MalformedMessage
        );
        assert!(parse_client_message(r#"{"type":"ping","ts":1}"#).is_ok());
    }

    #[test]
    fn the_known_types_are_exactly_the_protocol_s() {
        let every_variant = [
            ClientMessage::Auth { id: String::new(), token: String::new() },
            ClientMessage::Subscribe { id: String::new(), channel: String::new(), since: None },
            ClientMessage::Unsubscribe { id: String::new(), channel: String::new() },
            ClientMessage::RefreshToken { id: String::new(), token: String::new() },
            ClientMessage::Ping { ts: 0 },
            ClientMessage::Pong { ts: 0 },
        ];
        let tags: Vec<String> = every_variant
            .iter()
            .map(|m| serde_json::to_value(m).unwrap()["type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(tags, KNOWN);
    }
}
