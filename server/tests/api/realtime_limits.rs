//! The realtime contract's limits: heartbeats, malformed and oversize
//! frames, flooding, and the caps on channels and connections.

use std::time::Duration;

use protocol::{ClientMessage, CloseCode, ErrorCode, ServerMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn a_silent_client_is_reaped_by_the_heartbeat() {
    let app = spawn_app_with(|c| {
        c.heartbeat_interval = Duration::from_millis(200);
        c.heartbeat_grace = Duration::from_millis(200);
    })
    .await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    // Never answer pings.
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::HeartbeatTimeout.code()));
}

#[tokio::test]
async fn a_client_answering_pings_stays_connected() {
    let app = spawn_app_with(|c| {
        c.heartbeat_interval = Duration::from_millis(100);
        c.heartbeat_grace = Duration::from_millis(100);
    })
    .await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    let until = tokio::time::Instant::now() + Duration::from_millis(800);
    let mut pings = 0;
    while tokio::time::Instant::now() < until {
        let frame =
            tokio::time::timeout(Duration::from_secs(2), futures_util::StreamExt::next(&mut socket.stream))
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        if let Message::Text(text) = frame {
            if let ServerMessage::Ping { ts } = serde_json::from_str(&text).unwrap() {
                pings += 1;
                socket.send_json(&json!({ "type": "pong", "ts": ts })).await;
            }
        } else {
            panic!("unexpected frame {frame:?}");
        }
    }
    assert!(pings >= 3, "pings arrive at the interval ({pings})");
}

#[tokio::test]
async fn malformed_and_unknown_messages_are_nacked_and_the_server_stays_healthy() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    socket.send_raw(Message::text("{not json")).await;
    assert_eq!(socket.expect_nack(None).await, ErrorCode::MalformedMessage);
    socket.send_json(&json!({ "type": "teleport", "id": "x" })).await;
    assert_eq!(socket.expect_nack(Some("x")).await, ErrorCode::UnknownType, "the nack names the request");
    socket.send_json(&json!({ "type": "subscribe" })).await;
    assert_eq!(socket.expect_nack(None).await, ErrorCode::MalformedMessage);
    // Still usable.
    let (_, head) = socket.subscribe(&visitor.inbox(), None).await;
    assert_eq!(head, 0);
    assert_eq!(reqwest::get(app.url("/health")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn binary_frames_close_with_protocol_violation() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    socket.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::ProtocolViolation.code()));
    assert_eq!(reqwest::get(app.url("/health")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn oversize_frames_close_with_message_too_big() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    let huge = json!({ "type": "ping", "ts": 1, "pad": "x".repeat(64 * 1024) });
    socket.send_json(&huge).await;
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::MessageTooBig.code()));
    let mut again = visitor.connect().await;
    again.subscribe(&visitor.inbox(), None).await;
}

#[tokio::test]
async fn flooding_is_nacked_then_closed() {
    let app = spawn_app_with(|c| c.inbound_rate_per_sec = 5).await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    for _ in 0..40 {
        socket.send_json(&json!({ "type": "ping", "ts": 1 })).await;
    }
    let mut saw_rate_nack = false;
    let code = loop {
        match tokio::time::timeout(FRAME_WAIT, futures_util::StreamExt::next(&mut socket.stream))
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(text))) => {
                if let ServerMessage::Nack(nack) = serde_json::from_str(&text).unwrap() {
                    assert_eq!(nack.code, ErrorCode::RateLimited);
                    saw_rate_nack = true;
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            other => panic!("unexpected end: {other:?}"),
        }
    };
    assert!(saw_rate_nack);
    assert_eq!(code, Some(CloseCode::RateLimited.code()));
}

#[tokio::test]
async fn too_many_channels_is_nacked() {
    let app = spawn_app_with(|c| c.max_channels_per_connection = 2).await;
    let visitor = app.visitor().await;
    for name in ["dashboard:a", "dashboard:b", "dashboard:c"] {
        app.grant(name, &visitor.principal).await;
    }
    let mut socket = visitor.connect().await;
    socket.subscribe("dashboard:a", None).await;
    socket.subscribe("dashboard:b", None).await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: "dashboard:c".into(),
            since: None,
            epoch: None,
        })
        .await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::TooManyChannels);
}

#[tokio::test]
async fn too_many_connections_for_one_principal_are_refused() {
    let app = spawn_app_with(|c| c.max_connections_per_principal = 2).await;
    let visitor = app.visitor().await;
    let _a = visitor.connect().await;
    let _b = visitor.connect().await;
    let mut third = visitor.open_socket().await;
    let token = visitor.token().await;
    third.send_request(|id| ClientMessage::Auth { id, token }).await;
    assert_eq!(third.closed().await, Closed::Code(CloseCode::TooManyConnections.code()));
}

#[tokio::test]
async fn protocol_pings_are_answered_with_their_payload() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    socket.send_raw(Message::Ping(b"are you there".to_vec().into())).await;
    loop {
        let next = futures_util::StreamExt::next(&mut socket.stream);
        match tokio::time::timeout(Duration::from_secs(5), next).await.expect("a pong within 5 s") {
            Some(Ok(Message::Pong(payload))) => break assert_eq!(&payload[..], b"are you there"),
            Some(Ok(Message::Text(_))) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    // The socket goes on as before.
    socket.subscribe(&visitor.inbox(), None).await;
}
