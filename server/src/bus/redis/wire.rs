//! How bus messages look on Redis pub/sub: a short header line naming the
//! kind and the sending node, then the body. The frame of an event or signal
//! is the exact text sockets receive, so a receiving node forwards it as is.
//!
//! ```text
//! e <node> <seq>\n<event frame>      on <prefix>:ch:<channel>
//! s <node>\n<signal frame>           on <prefix>:ch:<channel>
//! d <node>\n<principal>              on <prefix>:ctl
//! r <node>\n<principal> <channel>    on <prefix>:ctl
//! ```

use axum::extract::ws::Utf8Bytes;
use protocol::ChannelName;

use crate::auth::Principal;
use crate::bus::{BusMessage, Control, Published, Signalled};

/// Encodes `message` for Redis; `None` for what never leaves a node.
pub fn encode(node: &str, message: &BusMessage) -> Option<(Option<ChannelName>, Vec<u8>)> {
    let (channel, text) = match message {
        BusMessage::Event(event) => {
            (Some(event.channel.clone()), format!("e {node} {}\n{}", event.seq, event.frame.as_str()))
        }
        BusMessage::Signal(signal) => {
            (Some(signal.channel.clone()), format!("s {node}\n{}", signal.frame.as_str()))
        }
        BusMessage::Control(Control::Disconnect(principal)) => {
            (None, format!("d {node}\n{}", principal.as_str()))
        }
        BusMessage::Control(Control::Revoke { principal, channel }) => {
            (None, format!("r {node}\n{} {}", principal.as_str(), channel.as_str()))
        }
        BusMessage::CatchUp => return None,
    };
    Some((channel, text.into_bytes()))
}

/// What arrived, and from which node.
#[derive(Debug)]
pub struct Decoded {
    pub node: String,
    pub message: BusMessage,
}

/// Why a pub/sub payload was ignored (logged, never fatal: another
/// deployment's or version's message must not stop this node).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unreadable bus message: {0}")]
pub struct WireError(&'static str);

/// Decodes a payload received on `channel` (`None`: the control channel).
pub fn decode(channel: Option<ChannelName>, payload: &[u8]) -> Result<Decoded, WireError> {
    let text = std::str::from_utf8(payload).map_err(|_| WireError("not UTF-8"))?;
    let (header, body) = text.split_once('\n').ok_or(WireError("no header"))?;
    let mut parts = header.split(' ');
    let kind = parts.next().ok_or(WireError("no kind"))?;
    let node = parts.next().filter(|n| !n.is_empty()).ok_or(WireError("no node"))?.to_owned();
    let frame = || Utf8Bytes::from(body.to_owned());
    let message = match (kind, channel) {
        ("e", Some(channel)) => {
            let seq = parts.next().and_then(|s| s.parse().ok()).ok_or(WireError("bad seq"))?;
            BusMessage::Event(Published { channel, seq, frame: frame() })
        }
        ("s", Some(channel)) => BusMessage::Signal(Signalled { channel, frame: frame() }),
        ("d", None) => {
            let principal = Principal::parse(body).ok_or(WireError("bad principal"))?;
            BusMessage::Control(Control::Disconnect(principal))
        }
        ("r", None) => {
            let (principal, channel) = body.split_once(' ').ok_or(WireError("bad revoke"))?;
            let principal = Principal::parse(principal).ok_or(WireError("bad principal"))?;
            let channel = ChannelName::parse(channel).map_err(|_| WireError("bad channel"))?;
            BusMessage::Control(Control::Revoke { principal, channel })
        }
        _ => return Err(WireError("unknown kind for this channel")),
    };
    Ok(Decoded { node, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRINCIPAL: &str = "0123456789abcdef0123456789abcdef";

    fn channel() -> ChannelName {
        ChannelName::parse("user:0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn an_event_round_trips_with_its_seq_and_exact_frame() {
        let frame = r#"{"type":"event","seq":7,"payload":"a\nb"}"#;
        let event = Published { channel: channel(), seq: 7, frame: frame.into() };
        let (on, bytes) = encode("n1", &BusMessage::Event(event)).unwrap();
        assert_eq!(on, Some(channel()));
        let decoded = decode(on, &bytes).unwrap();
        assert_eq!(decoded.node, "n1");
        match decoded.message {
            BusMessage::Event(e) => {
                assert_eq!((e.seq, e.frame.as_str()), (7, frame));
                assert_eq!(e.channel, channel());
            }
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn controls_round_trip() {
        let principal = Principal::parse(PRINCIPAL).unwrap();
        let revoke = Control::Revoke { principal: principal.clone(), channel: channel() };
        for control in [Control::Disconnect(principal), revoke] {
            let (on, bytes) = encode("n2", &BusMessage::Control(control.clone())).unwrap();
            assert_eq!(on, None);
            match decode(None, &bytes).unwrap().message {
                BusMessage::Control(decoded) => assert_eq!(decoded, control),
                other => panic!("decoded {other:?}"),
            }
        }
        assert!(encode("n", &BusMessage::CatchUp).is_none());
    }

    #[test]
    fn garbage_is_refused_not_misread() {
        assert!(decode(Some(channel()), b"e n1 x\n{}").is_err(), "seq must be a number");
        assert!(decode(Some(channel()), b"no header").is_err());
        assert!(decode(None, b"e n1 1\n{}").is_err(), "events never come on the control channel");
        assert!(decode(Some(channel()), b"d n1\n0123").is_err(), "controls only on the control channel");
        assert!(decode(None, b"d n1\nnot-a-principal").is_err());
        assert!(decode(Some(channel()), &[0xff, b'\n']).is_err());
    }
}
