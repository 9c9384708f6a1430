//! A reconnect in one round trip: the browser client sends `auth` and its
//! resuming `subscribe`s the moment the socket opens, before the welcome and
//! before any answer. The server must answer them in order.

use futures_util::SinkExt;
use protocol::{ClientMessage, CloseCode, ErrorCode, ServerMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// Writes `messages` in one go, before anything is read.
async fn send_together(socket: &mut TestSocket, messages: impl IntoIterator<Item = ClientMessage>) {
    for message in messages {
        socket.stream.feed(Message::text(serde_json::to_string(&message).unwrap())).await.unwrap();
    }
    socket.stream.flush().await.unwrap();
}

fn resume(id: &str, channel: String, since: u64) -> ClientMessage {
    ClientMessage::Subscribe { id: id.into(), channel, since: Some(since), epoch: None }
}

#[tokio::test]
async fn auth_and_resume_sent_at_open_are_answered_in_order() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    for n in 1..=3 {
        app.publish_ok(&visitor.inbox(), json!({ "n": n })).await;
    }
    let token = visitor.token().await;
    let mut socket = visitor.upgrade_socket().await;
    send_together(
        &mut socket,
        [ClientMessage::Auth { id: "a".into(), token }, resume("s", visitor.inbox(), 1)],
    )
    .await;

    assert!(matches!(socket.recv().await, ServerMessage::Welcome(_)));
    socket.expect_ack("a").await;
    let replayed: Vec<u64> = socket.events(2).await.iter().map(|e| e.seq).collect();
    assert_eq!(replayed, vec![2, 3]);
    assert_eq!(socket.expect_ack("s").await, Some(3));
    // Live right after the replay.
    app.publish_ok(&visitor.inbox(), json!({ "n": 4 })).await;
    assert_eq!(socket.events(1).await[0].seq, 4);
}

#[tokio::test]
async fn a_refused_auth_ends_the_socket_before_the_subscribe_behind_it() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    app.publish_ok(&visitor.inbox(), json!({ "n": 1 })).await;
    let mut socket = visitor.upgrade_socket().await;
    let forged = ClientMessage::Auth { id: "a".into(), token: "forged.token.value".into() };
    send_together(&mut socket, [forged, resume("s", visitor.inbox(), 0)]).await;

    assert!(matches!(socket.recv().await, ServerMessage::Welcome(_)));
    assert_eq!(socket.expect_nack(Some("a")).await, ErrorCode::BadToken);
    // Closed without a word about the channel: no event, no ack, no nack.
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), socket.recv_or_close()).await;
    assert_eq!(next.expect("closed in time"), Err(Closed::Code(CloseCode::BadToken.code())));
}

#[tokio::test]
async fn an_upgrade_neither_reads_nor_sets_the_visitor_cookie() {
    let app = spawn_app().await;
    let url = app.url("/ws").replacen("http://", "ws://", 1);
    let (_socket, response) = tokio_tungstenite::connect_async(url).await.expect("upgrade");
    assert_eq!(response.status(), 101);
    // The socket authenticates with its token; a cookie here would be a new
    // visitor minted for nothing on every reconnect.
    assert!(response.headers().get("set-cookie").is_none(), "{:?}", response.headers());
}

#[tokio::test]
async fn more_frames_at_once_than_one_burst_are_all_answered_in_order() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    // Past the server's burst of 16 (and within the inbound rate's bucket of
    // 40): the rest are answered on the next turns of its loop.
    send_together(&mut socket, (1..=30i64).map(|ts| ClientMessage::Ping { ts })).await;
    for ts in 1..=30i64 {
        match socket.recv_or_close().await {
            Ok(ServerMessage::Pong { ts: answered }) => assert_eq!(answered, ts),
            other => panic!("expected pong {ts}, got {other:?}"),
        }
    }
}
