//! What arrives on a socket: frames checked for size and rate, parsed once
//! into a [`ClientMessage`] (a refusal names the request's `id` whenever the
//! frame has a readable one, so no client waits forever), then handled:
//! authentication and token refresh here, subscriptions in [`super::subscribe`].

use std::sync::atomic::Ordering;
use std::time::Instant;

use futures_util::FutureExt;
use protocol::message::Ack;
use protocol::{ClientMessage, CloseCode, ErrorCode, ServerMessage};

use super::{
    Connection, End, INBOUND_BURST, INBOUND_BURST_TIME, PROTOCOL_ERRORS_BEFORE_CLOSE,
    RATE_VIOLATIONS_BEFORE_CLOSE,
};
use crate::auth::token::{TokenError, VerifiedToken};
use crate::websocket::{Message, Received, WsError};

impl Connection {
    /// Handles `first` and the frames the client sent with it that are
    /// already here, then flushes the answers in one write: a reconnect's
    /// `auth` and resuming `subscribe`s are answered together, with one
    /// wake-up of the client. The burst ends at [`INBOUND_BURST`] frames or
    /// once [`INBOUND_BURST_TIME`] has gone by (a replay, a stored message):
    /// an answer waits at most that long behind the frames after it, and so
    /// does the socket's outbound queue.
    pub(super) async fn on_inbound_burst(&mut self, first: Received) -> Result<(), End> {
        let started = Instant::now();
        self.on_inbound(first).await?;
        for _ in 1..INBOUND_BURST {
            if started.elapsed() >= INBOUND_BURST_TIME {
                break;
            }
            // Ready now or not at all; the loop's `select!` waits for the rest.
            let Some(next) = self.socket.recv().now_or_never() else { break };
            self.on_inbound(next).await?;
        }
        self.flush().await
    }

    async fn on_inbound(&mut self, inbound: Received) -> Result<(), End> {
        let message = match inbound {
            None => return Err(End::ClientGone),
            Some(Err(err)) => {
                return Err(match err {
                    WsError::TooBig(_) => End::Closed(CloseCode::MessageTooBig),
                    WsError::Protocol(_) | WsError::InvalidUtf8 => End::Closed(CloseCode::ProtocolViolation),
                    WsError::Closed | WsError::Io(_) => End::ClientGone,
                });
            }
            Some(Ok(message)) => message,
        };
        self.count_inbound();
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => return Err(End::Closed(CloseCode::ProtocolViolation)),
            // Protocol-level pings are answered by the socket; both count as life.
            Message::Ping | Message::Pong => return Ok(()),
            Message::Close(_) => {
                // The socket queued our answer; it goes before the socket is
                // dropped, if the client takes it soon.
                let _ = tokio::time::timeout(super::CLOSE_HANDSHAKE, self.socket.flush()).await;
                return Err(End::ClientGone);
            }
        };
        if !self.limiter.allow(Instant::now()) {
            self.rate_violations = self.rate_violations.saturating_add(1);
            if self.rate_violations >= RATE_VIOLATIONS_BEFORE_CLOSE {
                return Err(End::Closed(CloseCode::RateLimited));
            }
            let id = request_id(&text);
            return self.nack(id.as_deref(), ErrorCode::RateLimited, "slow down: too many messages").await;
        }
        self.rate_violations = 0;
        let message = match parse_client_message(&text) {
            Ok(message) => message,
            Err(refusal) => {
                self.protocol_errors = self.protocol_errors.saturating_add(1);
                if self.protocol_errors >= PROTOCOL_ERRORS_BEFORE_CLOSE {
                    return Err(End::Closed(CloseCode::ProtocolViolation));
                }
                return self.nack(refusal.id.as_deref(), refusal.code, refusal.detail).await;
            }
        };
        // Boxed: requests (database reads, token checks) are rare next to idle
        // time, and their large futures would otherwise sit inline in every
        // connection's task for its whole life.
        Box::pin(self.handle(message)).await
    }

    /// A frame arrived: the client is alive.
    pub(super) fn count_inbound(&mut self) {
        self.last_inbound = Instant::now();
        self.ctx.hub.metrics().frames_in.fetch_add(1, Ordering::Relaxed);
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
            ClientMessage::Subscribe { id, channel, since, epoch } => {
                self.subscribe(&id, &channel, since, epoch.as_deref()).await
            }
            ClientMessage::Unsubscribe { id, channel } => self.unsubscribe(&id, &channel).await,
            ClientMessage::RefreshToken { id, token } => self.refresh(&id, &token).await,
            ClientMessage::Publish { id, channel, client_id, payload } => {
                self.publish(&id, &channel, &client_id, payload).await
            }
            ClientMessage::Typing { channel, active } => self.typing(&channel, active).await,
            ClientMessage::Activity {} => self.activity().await,
            ClientMessage::Op { id, dashboard, op } => self.dashboard_op(&id, &dashboard, &op).await,
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
        if !sign_in_active(self.ctx.hub.store().clone(), &verified).await {
            self.nack(Some(id), ErrorCode::BadToken, "signed out").await?;
            return Err(End::Closed(CloseCode::BadToken));
        }
        match self.ctx.hub.register(self.id, &verified.principal, self.outbox.clone()).await {
            Ok(admission) => self.admission = admission,
            Err(_) => return Err(End::Closed(CloseCode::TooManyConnections)),
        }
        self.principal = Some(verified.principal);
        self.expire_at(verified.expires_at);
        self.send_message(&ServerMessage::Ack(Ack::of(id))).await
    }

    async fn refresh(&mut self, id: &str, token: &str) -> Result<(), End> {
        match self.ctx.keys.verify(token) {
            Ok(verified) if Some(&verified.principal) == self.principal.as_ref() => {
                if !sign_in_active(self.ctx.hub.store().clone(), &verified).await {
                    self.nack(Some(id), ErrorCode::BadToken, "signed out").await?;
                    return Err(End::Closed(CloseCode::BadToken));
                }
                self.expire_at(verified.expires_at);
                self.send_message(&ServerMessage::Ack(Ack::of(id))).await
            }
            Ok(_) => self.nack(Some(id), ErrorCode::PrincipalMismatch, "token names another principal").await,
            Err(_) => self.nack(Some(id), ErrorCode::BadToken, "token invalid or expired").await,
        }
    }
}

/// Whether a token's sign-in (a registered person's) is still valid; a token
/// of an anonymous visitor has none. A failed lookup refuses: the client
/// retries with backoff rather than slipping past a revocation. (A free
/// function with an owned store: a `&Connection` must not live across an
/// await, the connection task is `Send` but not `Sync`.)
async fn sign_in_active(store: crate::store::Store, verified: &VerifiedToken) -> bool {
    let Some(sign_in) = &verified.sign_in else { return true };
    match store.sign_in_active(sign_in, verified.principal.as_str()).await {
        Ok(active) => active,
        Err(err) => {
            tracing::error!(error = %err, "checking a sign-in failed");
            false
        }
    }
}

/// Why a frame was not a client message, and the request it answers.
#[derive(Debug, PartialEq)]
pub(super) struct Refusal {
    code: ErrorCode,
    detail: String,
    /// The frame's `id` when it has a readable one: the client waits on it.
    id: Option<String>,
}

/// The `id` of a frame that is JSON with a string `id`, whatever else is wrong with it.
fn request_id(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<String>,
    }
    serde_json::from_str::<IdOnly>(text).ok().and_then(|frame| frame.id)
}

/// Parses a frame, telling unknown message types from malformed ones.
///
/// [`ClientMessage`] is the only list of message types: a `type` it does not
/// know is reported by serde as an unknown variant named after that `type` (a
/// misspelt field is an unknown *field*), so adding a variant there is all it
/// takes.
pub(super) fn parse_client_message(text: &str) -> Result<ClientMessage, Refusal> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| Refusal {
        code: ErrorCode::MalformedMessage,
        detail: format!("not JSON: {e}"),
        id: None,
    })?;
    let id = value.get("id").and_then(|id| id.as_str()).map(str::to_owned);
    let refuse = |code, detail: String| Refusal { code, detail, id: id.clone() };
    let Some(kind) = value.get("type").and_then(|t| t.as_str()).map(str::to_owned) else {
        return Err(refuse(ErrorCode::MalformedMessage, "missing `type`".into()));
    };
    serde_json::from_value(value).map_err(|e| {
        if e.to_string().starts_with(&format!("unknown variant `{kind}`")) {
            refuse(ErrorCode::UnknownType, format!("unknown message type `{kind}`"))
        } else {
            refuse(ErrorCode::MalformedMessage, e.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_unknown_types_from_malformed_frames() {
        assert_eq!(parse_client_message("{").unwrap_err().code, ErrorCode::MalformedMessage);
        assert_eq!(parse_client_message("{}").unwrap_err().code, ErrorCode::MalformedMessage);
        assert_eq!(parse_client_message(r#"{"type":"dance"}"#).unwrap_err().code, ErrorCode::UnknownType);
        assert_eq!(
            parse_client_message(r#"{"type":"subscribe"}"#).unwrap_err().code,
            ErrorCode::MalformedMessage
        );
        assert!(parse_client_message(r#"{"type":"ping","ts":1}"#).is_ok());
        assert!(parse_client_message(r#"{"type":"activity"}"#).is_ok());
        // A known type with a field it does not take is malformed, not unknown.
        let extra = parse_client_message(r#"{"type":"activity","variant":"x"}"#).unwrap_err();
        assert_eq!(extra.code, ErrorCode::MalformedMessage);
        // A type that names a field of another message is still unknown.
        let unknown = parse_client_message(r#"{"type":"unknown variant","id":"z"}"#).unwrap_err();
        assert_eq!(unknown.code, ErrorCode::UnknownType);
    }

    #[test]
    fn refusals_carry_the_request_id_when_it_is_readable() {
        let id = |text: &str| parse_client_message(text).unwrap_err().id;
        // A misspelt field: the client is waiting on request `t`.
        assert_eq!(id(r#"{"type":"subscribe","id":"t","channel":"user:x","sinze":3}"#).as_deref(), Some("t"));
        assert_eq!(id(r#"{"type":"dance","id":"u"}"#).as_deref(), Some("u"));
        assert_eq!(id(r#"{"id":"v"}"#).as_deref(), Some("v"));
        assert_eq!(id(r#"{"type":"subscribe","id":7}"#), None, "not a string id");
        assert_eq!(id("{not json"), None);
        assert_eq!(request_id(r#"{"type":"ping","id":"w","ts":"x"}"#).as_deref(), Some("w"));
        assert_eq!(request_id(r#"{"type":"ping","id":5}"#), None);
    }
}
