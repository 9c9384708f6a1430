//! Connect sessions that end other than verified (an invalid presentation,
//! declined, a rejected connection, expired unscanned) and finished sessions
//! forgotten with their webhooks.

use std::time::Duration;

use protocol::connect::SessionStatus::*;
use serde_json::json;

use crate::connect::verified_with;
use crate::helpers::*;

/// Connects and waits for the proof request; returns what is needed to finish.
async fn awaiting_share() -> (TestApp, TestSocket, String) {
    let (app, socket, code, _) = awaiting_share_session().await;
    (app, socket, code)
}

/// Like [`awaiting_share`], with the session id.
async fn awaiting_share_session() -> (TestApp, TestSocket, String, String) {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let (view, code) = visitor.start_connect().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&view.channel, Some(0)).await;
    app.wallet(&code, "connect", json!({})).await;
    socket.statuses_until(AwaitingShare).await;
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.wallet_view(&code).await["proof_state"] != "request-sent" {
        assert!(tokio::time::Instant::now() < until);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (app, socket, code, view.session_id)
}

#[tokio::test]
async fn an_invalid_presentation_fails() {
    let (app, mut socket, code) = awaiting_share().await;
    app.wallet(&code, "share-invalid", json!({})).await;
    assert_eq!(socket.statuses_until(Failed).await, vec![Failed]);
}

#[tokio::test]
async fn declining_is_final_and_late_webhooks_are_only_recorded() {
    let (app, mut socket, code, session_id) = awaiting_share_session().await;
    app.wallet(&code, "decline", json!({})).await;
    assert_eq!(socket.statuses_until(Declined).await, vec![Declined]);
    assert_eq!(app.wallet(&code, "share", json!({})).await, 409, "the wallet cannot share after declining");
    assert_eq!(app.wallet_view(&code).await["proof_state"], "abandoned");

    // A late webhook for the finished session, claiming a verified
    // presentation: recorded, answered, and it changes nothing.
    let session = app.store.connect_session(&session_id).await.unwrap().unwrap();
    let channel = channel(&format!("session:{session_id}"));
    let head_before = app.store.log_bounds(&channel).await.unwrap().head;
    let late = json!({"type": "Proof", "orgId": app.org_id, "data": {
        "id": session.proof_id.clone().unwrap(), "state": "presentation-received", "isVerified": true,
        "connectionId": session.connection_id.clone().unwrap(), "role": "verifier"}});
    let response = app.post_webhook(&late).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["outcome"], "ignored");
    let after = app.store.connect_session(&session_id).await.unwrap().unwrap();
    assert_eq!(after.status, Declined);
    assert_eq!(after.version, session.version, "the row was not touched");
    assert_eq!(app.store.log_bounds(&channel).await.unwrap().head, head_before, "nothing announced");
}

#[tokio::test]
async fn a_rejected_connection_fails_the_session() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let (view, code) = visitor.start_connect().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&view.channel, Some(0)).await;
    app.wallet(&code, "reject", json!({})).await;
    let seen = socket.statuses_until(ConnectionFailed).await;
    assert_eq!(seen.last(), Some(&ConnectionFailed));
}

#[tokio::test]
async fn an_unscanned_session_expires() {
    let app = spawn_app_with(|c| c.connect_ttl = Duration::from_millis(600)).await;
    let visitor = app.visitor().await;
    let (view, _) = visitor.start_connect().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&view.channel, Some(0)).await;
    assert_eq!(socket.statuses_until(Expired).await, vec![Expired]);
}

#[tokio::test]
async fn old_finished_sessions_and_webhooks_are_forgotten_open_ones_kept() {
    let (app, _visitor, session, _, _) = verified_with(json!({})).await;
    let other = app.visitor().await;
    let (open, _) = other.start_connect().await;
    // Declined: finished. Verified (not registered) and awaiting_scan: still open.
    let (declined_app, mut socket, code) = awaiting_share().await;
    declined_app.wallet(&code, "decline", json!({})).await;
    socket.statuses_until(Declined).await;
    let removed = declined_app.store.forget_history(i64::MAX).await.unwrap();
    assert!(removed >= 1, "the declined session and its webhooks went");
    assert!(declined_app.store.webhook_outcomes().await.unwrap().is_empty());

    assert!(
        app.store.forget_history(server::store::now_ms() - 60_000).await.unwrap() == 0,
        "nothing is old yet"
    );
    app.store.forget_history(i64::MAX).await.unwrap();
    assert!(app.store.connect_session(&session).await.unwrap().is_some(), "verified sessions are still open");
    assert!(app.store.connect_session(&open.session_id).await.unwrap().is_some());
}
