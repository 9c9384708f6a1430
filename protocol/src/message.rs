//! Every message on `/ws` (JSON text frames, tagged by `type`) and the bodies of
//! the realtime HTTP API. One struct per variant keeps each shape nameable.

use serde::{Deserialize, Serialize};

use crate::chat::SignalBody;
use crate::{ChannelName, ErrorCode};

/// Client to server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message on a connection: the connect token from `GET /api/realtime/token`.
    Auth { id: String, token: String },
    /// Start receiving a channel; with `since`, first replay everything after that seq.
    /// `channel` stays a string here so a bad name is answered with a `nack`
    /// carrying this `id`; the server parses it into a [`ChannelName`] at once.
    Subscribe {
        id: String,
        channel: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        /// The log epoch `since` belongs to (from the last ack, reset or poll
        /// answer); a different current epoch answers with a reset.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
    },
    /// Stop receiving a channel.
    Unsubscribe { id: String, channel: String },
    /// A fresh token for the same principal, sent before the old one expires.
    RefreshToken { id: String, token: String },
    /// Client-initiated liveness check; answered with `pong` (the client's RTT).
    Ping { ts: i64 },
    /// Answer to the server's `ping`.
    Pong { ts: i64 },
    /// Stores `payload` on a channel the principal may write to (a conversation
    /// it is a member of), answered with `ack` carrying the stored `seq`.
    /// `client_id` makes it idempotent: a resend after a reconnect stores nothing
    /// new and is acknowledged with the first seq.
    Publish { id: String, channel: String, client_id: String, payload: serde_json::Value },
    /// Ephemeral: the sender is (`active: true`) or stopped (`false`) typing on a
    /// channel. Sent at most every `chat::TYPING_RESEND_MS` while typing. No answer
    /// unless refused.
    Typing { channel: String, active: bool },
    /// Ephemeral: the person is using this tab (input, focus), for online/away.
    /// Sent at most every `chat::ACTIVITY_RESEND_MS`. No answer.
    Activity {},
    /// A dashboard op (`dashboard` is the dashboard's id), answered with `ack`
    /// (`version`, `seq`) or `nack` (with `conflicts` when the base was stale).
    Op { id: String, dashboard: String, op: crate::dashboard::Op },
}

impl ClientMessage {
    /// The correlation id, for messages that are acknowledged.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Self::Auth { id, .. }
            | Self::Subscribe { id, .. }
            | Self::Unsubscribe { id, .. }
            | Self::RefreshToken { id, .. }
            | Self::Publish { id, .. }
            | Self::Op { id, .. } => Some(id),
            Self::Ping { .. } | Self::Pong { .. } | Self::Typing { .. } | Self::Activity {} => None,
        }
    }
}

/// Server to client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Sent once, right after the upgrade.
    Welcome(Welcome),
    /// One event of a channel.
    Event(EventEnvelope),
    /// The request with this `id` succeeded.
    Ack(Ack),
    /// The request with this `id` (if it had one) was refused; nothing changed.
    Nack(Nack),
    /// The client's `since` cannot be served from the log: refetch the state over HTTP,
    /// then continue from `head_seq`.
    Reset(Reset),
    /// The subscription to `channel` ended because the principal lost access
    /// (left the conversation); nothing more arrives from it.
    Revoked(Revoked),
    /// Ephemeral, live only: typing and presence. Never in the log, never
    /// replayed, without a seq.
    Signal(Signal),
    /// Heartbeat; answer with `pong`.
    Ping { ts: i64 },
    /// Answer to the client's `ping`.
    Pong { ts: i64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub connection_id: String,
    pub heartbeat_interval_ms: u64,
    pub max_frame_bytes: usize,
}

/// An event as stored in a channel's log and as delivered, identical on the
/// socket and in long-poll answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub channel: ChannelName,
    /// Strictly increasing per channel, starting at 1, never reused.
    pub seq: u64,
    /// Globally unique event id.
    pub id: String,
    /// Milliseconds since the Unix epoch, when the event was appended.
    pub ts: i64,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub id: String,
    /// For `subscribe`: the channel's newest seq once the replay was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_seq: Option<u64>,
    /// For `subscribe`: the log's epoch, to send back with `since` on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// For `publish`: the seq the payload was stored at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// For `publish` and `op`: the client id had stored it before; nothing new was stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// For `op`: the dashboard version it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

impl Ack {
    /// A plain acknowledgement of request `id`.
    pub fn of(id: impl Into<String>) -> Self {
        Self { id: id.into(), head_seq: None, epoch: None, seq: None, duplicate: false, version: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revoked {
    pub channel: ChannelName,
}

/// An ephemeral signal on a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub channel: ChannelName,
    #[serde(flatten)]
    pub body: SignalBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nack {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub code: ErrorCode,
    pub message: String,
    /// For a dashboard `op` refused with `conflict`: each stale field, with
    /// what it holds now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<crate::dashboard::FieldConflict>,
}

impl Nack {
    pub fn new(id: Option<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { id, code, message: message.into(), conflicts: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reset {
    pub channel: ChannelName,
    pub reason: ResetReason,
    /// Continue from here after refetching.
    pub head_seq: u64,
    /// The log's current epoch, to resume in from now on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub epoch: String,
}

/// Why a `since` could not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// Events after `since` were already removed by retention.
    BeyondRetention,
    /// `since` is newer than anything this channel has (a log from another deployment).
    AheadOfLog,
    /// `since` belongs to an earlier epoch of this channel's log (it was reset
    /// or truncated): its seqs mean other events now.
    EpochChanged,
}

/// `GET /api/realtime/token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectToken {
    pub token: String,
    /// Milliseconds since the Unix epoch.
    pub expires_at: i64,
    pub principal: String,
}

/// `GET /api/realtime/poll?channel=..&since=..`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollResponse {
    pub events: Vec<EventEnvelope>,
    /// Set instead of events when `since` cannot be served (see [`Reset`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<Reset>,
    /// The channel's newest seq when the answer was built.
    pub head_seq: u64,
    /// The log's epoch, to send back with the next `since`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub epoch: String,
}

/// `POST /api/realtime/publish`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub channel: ChannelName,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishResponse {
    pub channel: ChannelName,
    pub seq: u64,
    pub id: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip_client(msg: ClientMessage, golden: serde_json::Value) {
        assert_eq!(serde_json::to_value(&msg).unwrap(), golden);
        assert_eq!(serde_json::from_value::<ClientMessage>(golden).unwrap(), msg);
    }

    fn round_trip_server(msg: ServerMessage, golden: serde_json::Value) {
        assert_eq!(serde_json::to_value(&msg).unwrap(), golden);
        assert_eq!(serde_json::from_value::<ServerMessage>(golden).unwrap(), msg);
    }

    #[test]
    fn client_messages_match_the_documented_json() {
        round_trip_client(
            ClientMessage::Auth { id: "1".into(), token: "t".into() },
            json!({"type": "auth", "id": "1", "token": "t"}),
        );
        round_trip_client(
            ClientMessage::Subscribe {
                id: "2".into(),
                channel: "user:7".into(),
                since: Some(41),
                epoch: Some("9f3a".into()),
            },
            json!({"type": "subscribe", "id": "2", "channel": "user:7", "since": 41, "epoch": "9f3a"}),
        );
        round_trip_client(
            ClientMessage::Subscribe { id: "3".into(), channel: "user:7".into(), since: None, epoch: None },
            json!({"type": "subscribe", "id": "3", "channel": "user:7"}),
        );
        round_trip_client(
            ClientMessage::Unsubscribe { id: "4".into(), channel: "user:7".into() },
            json!({"type": "unsubscribe", "id": "4", "channel": "user:7"}),
        );
        round_trip_client(
            ClientMessage::RefreshToken { id: "5".into(), token: "t2".into() },
            json!({"type": "refresh_token", "id": "5", "token": "t2"}),
        );
        round_trip_client(ClientMessage::Ping { ts: 9 }, json!({"type": "ping", "ts": 9}));
        round_trip_client(ClientMessage::Pong { ts: 9 }, json!({"type": "pong", "ts": 9}));
        round_trip_client(
            ClientMessage::Publish {
                id: "6".into(),
                channel: "conversation:c1".into(),
                client_id: "m-1".into(),
                payload: json!({"text": "hi"}),
            },
            json!({"type": "publish", "id": "6", "channel": "conversation:c1", "client_id": "m-1", "payload": {"text": "hi"}}),
        );
        round_trip_client(
            ClientMessage::Typing { channel: "conversation:c1".into(), active: true },
            json!({"type": "typing", "channel": "conversation:c1", "active": true}),
        );
        round_trip_client(ClientMessage::Activity {}, json!({"type": "activity"}));
    }

    #[test]
    fn server_messages_match_the_documented_json() {
        let channel = ChannelName::parse("session:abc").unwrap();
        round_trip_server(
            ServerMessage::Welcome(Welcome {
                connection_id: "c1".into(),
                heartbeat_interval_ms: 25_000,
                max_frame_bytes: 16_384,
            }),
            json!({"type": "welcome", "connection_id": "c1", "heartbeat_interval_ms": 25000, "max_frame_bytes": 16384}),
        );
        round_trip_server(
            ServerMessage::Event(EventEnvelope {
                channel: channel.clone(),
                seq: 3,
                id: "e".into(),
                ts: 1_700_000_000_000,
                payload: json!({"status": "connected"}),
            }),
            json!({"type": "event", "channel": "session:abc", "seq": 3, "id": "e", "ts": 1_700_000_000_000_i64, "payload": {"status": "connected"}}),
        );
        round_trip_server(
            ServerMessage::Ack(Ack { head_seq: Some(3), ..Ack::of("2") }),
            json!({"type": "ack", "id": "2", "head_seq": 3}),
        );
        round_trip_server(
            ServerMessage::Ack(Ack { seq: Some(8), duplicate: true, ..Ack::of("6") }),
            json!({"type": "ack", "id": "6", "seq": 8, "duplicate": true}),
        );
        let conversation = ChannelName::parse("conversation:c1").unwrap();
        round_trip_server(
            ServerMessage::Signal(Signal {
                channel: conversation.clone(),
                body: SignalBody::Typing {
                    members: vec![crate::chat::Member { member_id: "m1".into(), name: "Ada".into() }],
                },
            }),
            json!({"type": "signal", "channel": "conversation:c1", "kind": "typing", "members": [{"member_id": "m1", "name": "Ada"}]}),
        );
        round_trip_server(
            ServerMessage::Revoked(Revoked { channel: conversation.clone() }),
            json!({"type": "revoked", "channel": "conversation:c1"}),
        );
        round_trip_server(
            ServerMessage::Signal(Signal {
                channel: conversation,
                body: SignalBody::PresenceLeave { member_id: "m1".into() },
            }),
            json!({"type": "signal", "channel": "conversation:c1", "kind": "presence_leave", "member_id": "m1"}),
        );
        round_trip_server(
            ServerMessage::Nack(Nack::new(Some("2".into()), ErrorCode::Forbidden, "no")),
            json!({"type": "nack", "id": "2", "code": "forbidden", "message": "no"}),
        );
        round_trip_server(
            ServerMessage::Reset(Reset {
                channel,
                reason: ResetReason::EpochChanged,
                head_seq: 90,
                epoch: "b7".into(),
            }),
            json!({"type": "reset", "channel": "session:abc", "reason": "epoch_changed", "head_seq": 90, "epoch": "b7"}),
        );
        round_trip_server(ServerMessage::Ping { ts: 1 }, json!({"type": "ping", "ts": 1}));
    }

    #[test]
    fn unknown_types_and_fields_are_rejected() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"shout","id":"1"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"ping","ts":1,"extra":true}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>("not json").is_err());
    }

    #[test]
    fn an_event_with_a_bad_channel_does_not_parse() {
        let bad = json!({"type": "event", "channel": "nope", "seq": 1, "id": "e", "ts": 0, "payload": null});
        assert!(serde_json::from_value::<ServerMessage>(bad).is_err());
    }
}
