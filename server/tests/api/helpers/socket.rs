//! A test's WebSocket: typed requests and frames, waits bounded by
//! [`FRAME_WAIT`], and how the socket ended.

use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::*;

pub struct TestSocket {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub(super) next_id: u64,
}

/// How a socket ended, as seen by the client.
#[derive(Debug, PartialEq)]
pub enum Closed {
    Code(u16),
    WithoutFrame,
}

impl TestSocket {
    pub async fn send_json(&mut self, value: &serde_json::Value) {
        self.stream.send(Message::text(value.to_string())).await.unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.unwrap();
    }

    /// Sends a request with a fresh correlation id and returns the id.
    pub async fn send_request(&mut self, build: impl FnOnce(String) -> ClientMessage) -> String {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        let message = build(id.clone());
        self.stream.send(Message::text(serde_json::to_string(&message).unwrap())).await.unwrap();
        id
    }

    /// The next protocol message, skipping heartbeat pings.
    pub async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = tokio::time::timeout(FRAME_WAIT, self.stream.next())
                .await
                .expect("a frame within the wait")
                .expect("socket open")
                .expect("frame readable");
            match frame {
                Message::Text(text) => match serde_json::from_str(&text).expect("server JSON parses") {
                    ServerMessage::Ping { .. } => continue,
                    message => return message,
                },
                Message::Close(frame) => panic!("socket closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next protocol message, or how the socket closed instead.
    #[allow(dead_code)] // the cluster tests share this file
    pub async fn recv_or_close(&mut self) -> Result<ServerMessage, Closed> {
        loop {
            match self.stream.next().await {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str(&text).expect("server JSON parses") {
                        ServerMessage::Ping { .. } => continue,
                        message => return Ok(message),
                    }
                }
                Some(Ok(Message::Close(Some(frame)))) => return Err(Closed::Code(frame.code.into())),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return Err(Closed::WithoutFrame),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads until the server closes; returns the close code.
    pub async fn closed(&mut self) -> Closed {
        loop {
            match tokio::time::timeout(FRAME_WAIT, self.stream.next()).await.expect("close within the wait") {
                Some(Ok(Message::Close(Some(frame)))) => return Closed::Code(frame.code.into()),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    return Closed::WithoutFrame;
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn expect_ack(&mut self, id: &str) -> Option<u64> {
        match self.recv().await {
            ServerMessage::Ack(ack) if ack.id == id => ack.head_seq,
            other => panic!("expected ack {id}, got {other:?}"),
        }
    }

    pub async fn expect_nack(&mut self, id: Option<&str>) -> protocol::ErrorCode {
        match self.recv().await {
            ServerMessage::Nack(nack) if nack.id.as_deref() == id => nack.code,
            other => panic!("expected nack {id:?}, got {other:?}"),
        }
    }

    /// Subscribes and returns the events replayed before the ack, and the ack's head.
    pub async fn subscribe(
        &mut self,
        channel: &str,
        since: Option<u64>,
    ) -> (Vec<protocol::EventEnvelope>, u64) {
        let id = self
            .send_request(|id| ClientMessage::Subscribe {
                id,
                channel: channel.to_owned(),
                since,
                epoch: None,
            })
            .await;
        let mut replayed = Vec::new();
        loop {
            match self.recv().await {
                ServerMessage::Event(event) => replayed.push(event),
                ServerMessage::Ack(ack) if ack.id == id => {
                    return (replayed, ack.head_seq.unwrap_or(0));
                }
                other => panic!("unexpected while subscribing: {other:?}"),
            }
        }
    }

    /// The next `n` events.
    pub async fn events(&mut self, n: usize) -> Vec<protocol::EventEnvelope> {
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            match self.recv().await {
                ServerMessage::Event(event) => events.push(event),
                other => panic!("expected an event, got {other:?}"),
            }
        }
        events
    }
}

impl TestSocket {
    /// Reads session updates until `until` (or a terminal status); returns every status seen.
    pub async fn statuses_until(
        &mut self,
        until: protocol::connect::SessionStatus,
    ) -> Vec<protocol::connect::SessionStatus> {
        let mut seen = Vec::new();
        loop {
            let event = self.events(1).await.remove(0);
            let update: protocol::connect::SessionUpdate = serde_json::from_value(event.payload).unwrap();
            seen.push(update.status);
            if update.status == until || update.status.is_terminal() {
                return seen;
            }
        }
    }
}
