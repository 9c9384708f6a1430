//! The realtime contract's authorization: who may subscribe to which
//! channel, authentication on the socket, and token refresh.

use std::time::Duration;

use protocol::{ClientMessage, CloseCode, ErrorCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn another_visitors_inbox_is_forbidden() {
    let app = spawn_app().await;
    let alice = app.visitor().await;
    let bob = app.visitor().await;
    let mut socket = bob.connect().await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: alice.inbox(),
            since: Some(0),
            epoch: None,
        })
        .await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::Forbidden);
    assert_eq!(bob.poll(&alice.inbox(), 0).await.status(), 403);
    // Nothing leaked: after Alice's event, the first event Bob's socket gets
    // is the marker on his own inbox, and polling hers is still refused.
    let (_, head) = socket.subscribe(&bob.inbox(), None).await;
    assert_eq!(head, 0);
    app.publish_ok(&alice.inbox(), json!({ "secret": true })).await;
    app.publish_ok(&bob.inbox(), json!({ "marker": true })).await;
    let next = socket.events(1).await.remove(0);
    assert_eq!(next.channel.as_str(), bob.inbox(), "only Bob's own channel reaches Bob");
    assert_eq!(next.payload, json!({ "marker": true }));
    assert_eq!(bob.poll(&alice.inbox(), 0).await.status(), 403);
}

#[tokio::test]
async fn another_visitors_connect_session_is_forbidden() {
    let app = spawn_app().await;
    let alice = app.visitor().await;
    let bob = app.visitor().await;
    let session = alice.create_session().await;
    let channel = format!("session:{session}");
    let mut own = alice.connect().await;
    own.subscribe(&channel, Some(0)).await;
    let mut socket = bob.connect().await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: channel.clone(),
            since: Some(0),
            epoch: None,
        })
        .await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::Forbidden);
    let status =
        bob.http.get(app.url(&format!("/api/connections/session/{session}"))).send().await.unwrap().status();
    assert_eq!(status, 404);
    let status = alice
        .http
        .get(app.url(&format!("/api/connections/session/{session}")))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn dashboard_channels_need_a_grant() {
    let app = spawn_app().await;
    let member = app.visitor().await;
    let outsider = app.visitor().await;
    app.grant("dashboard:ops", &member.principal).await;
    let mut socket = member.connect().await;
    socket.subscribe("dashboard:ops", Some(0)).await;
    let mut other = outsider.connect().await;
    for channel in ["dashboard:ops", "dashboard:other"] {
        let id = other
            .send_request(|id| ClientMessage::Subscribe {
                id,
                channel: channel.into(),
                since: None,
                epoch: None,
            })
            .await;
        assert_eq!(other.expect_nack(Some(&id)).await, ErrorCode::Forbidden, "{channel}");
    }
}

#[tokio::test]
async fn unknown_kinds_and_malformed_names_are_invalid_channels() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    for bad in ["admin:1", "user", "user:", "user:../../etc", &format!("user:{}", "a".repeat(65))] {
        let id = socket
            .send_request(|id| ClientMessage::Subscribe {
                id,
                channel: bad.to_owned(),
                since: None,
                epoch: None,
            })
            .await;
        assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::InvalidChannel, "{bad}");
    }
    assert_eq!(visitor.poll("admin:1", 0).await.status(), 400);
}

#[tokio::test]
async fn subscribing_before_auth_is_refused_and_bad_tokens_close() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.open_socket().await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: visitor.inbox(),
            since: None,
            epoch: None,
        })
        .await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::NotAuthenticated);
    let id = socket.send_request(|id| ClientMessage::Auth { id, token: "forged.token.value".into() }).await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::BadToken);
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::BadToken.code()));
}

#[tokio::test]
async fn tokens_refresh_without_reconnecting() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let other = app.visitor().await;
    let mut socket = visitor.connect().await;
    let token = visitor.token().await;
    let id = socket.send_request(|id| ClientMessage::RefreshToken { id, token }).await;
    socket.expect_ack(&id).await;
    let token = other.token().await;
    let id = socket.send_request(|id| ClientMessage::RefreshToken { id, token }).await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::PrincipalMismatch);
}

#[tokio::test]
async fn an_unauthenticated_socket_times_out() {
    let app = spawn_app_with(|c| c.auth_timeout = Duration::from_millis(300)).await;
    let visitor = app.visitor().await;
    let mut socket = visitor.open_socket().await;
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::AuthTimeout.code()));
}
