//! Reading the servers' frames: only the fields the load generator needs,
//! borrowed from the text, and what each asks of the socket loop.

use anyhow::{Context, Result};
use protocol::ClientMessage;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use super::Mark;

/// The fields of any server frame that the load generator needs.
#[derive(Debug, Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    ts: Option<i64>,
    #[serde(default, borrow)]
    id: Option<&'a str>,
    #[serde(default)]
    head_seq: Option<u64>,
    /// Beacon events carry the mark as their payload.
    #[serde(default)]
    payload: Option<Mark>,
    /// The Node server copies the webhook's `meta` into its status_update.
    #[serde(default)]
    meta: Option<Mark>,
    #[serde(default, borrow)]
    code: Option<&'a str>,
}

/// What a frame asks of the socket loop.
#[derive(Debug, PartialEq)]
pub(super) enum Seen {
    Event(Mark),
    Ping(i64),
    Ack { id: String, head_seq: Option<u64> },
    Nack(String),
    Reset(u64),
    Greeting,
    Other,
}

pub(super) fn classify(text: &str) -> Result<(Seen, Option<u64>)> {
    let frame: Frame<'_> = serde_json::from_str(text).with_context(|| format!("unreadable frame: {text}"))?;
    let seen = match frame.kind {
        "event" => Seen::Event(frame.payload.context("event without a bench mark")?),
        "status_update" => Seen::Event(frame.meta.context("status_update without meta")?),
        "ping" => Seen::Ping(frame.ts.unwrap_or_default()),
        "ack" => Seen::Ack { id: frame.id.unwrap_or_default().to_owned(), head_seq: frame.head_seq },
        "nack" => Seen::Nack(frame.code.unwrap_or("?").to_owned()),
        "reset" => Seen::Reset(frame.head_seq.unwrap_or_default()),
        "welcome" | "connected" => Seen::Greeting,
        _ => Seen::Other,
    };
    Ok((seen, frame.seq))
}

pub(super) fn to_text(message: &ClientMessage) -> Message {
    Message::text(serde_json::to_string(message).expect("client messages serialize"))
}

#[cfg(test)]
mod tests {
    use protocol::message::{Ack, EventEnvelope, Welcome};
    use protocol::{ChannelName, ServerMessage};

    use super::*;

    #[test]
    fn reads_beacon_frames_as_the_server_writes_them() {
        let event = ServerMessage::Event(EventEnvelope {
            channel: ChannelName::parse("user:abc").unwrap(),
            seq: 7,
            id: "e1".into(),
            ts: 1,
            payload: serde_json::json!({"n": 3, "t": 99, "p": "xxxx"}),
        });
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(classify(&text).unwrap(), (Seen::Event(Mark { n: 3, t: 99 }), Some(7)));
        let ack =
            serde_json::to_string(&ServerMessage::Ack(Ack { head_seq: Some(4), ..Ack::of("s") })).unwrap();
        assert_eq!(classify(&ack).unwrap().0, Seen::Ack { id: "s".into(), head_seq: Some(4) });
        let welcome = serde_json::to_string(&ServerMessage::Welcome(Welcome {
            connection_id: "1".into(),
            heartbeat_interval_ms: 25_000,
            max_frame_bytes: 16_384,
        }))
        .unwrap();
        assert_eq!(classify(&welcome).unwrap().0, Seen::Greeting);
        let ping = serde_json::to_string(&ServerMessage::Ping { ts: 5 }).unwrap();
        assert_eq!(classify(&ping).unwrap().0, Seen::Ping(5));
    }

    #[test]
    fn reads_node_frames() {
        let update = r#"{"type":"status_update","status":"active","timestamp":"2024-01-01T00:00:00.000Z","sessionId":"s1","connectionId":"conn-s1","theirLabel":"bench","meta":{"n":12,"t":34,"p":"x"}}"#;
        assert_eq!(classify(update).unwrap(), (Seen::Event(Mark { n: 12, t: 34 }), None));
        let hello = r#"{"type":"connected","sessionId":"s1"}"#;
        assert_eq!(classify(hello).unwrap().0, Seen::Greeting);
    }
}
