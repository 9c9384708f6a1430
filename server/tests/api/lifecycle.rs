//! Sessions that always end, claims that never strand a session, a poller that
//! serves live sessions first, rows that do not pile up, commits that last.

use std::time::Duration;

use protocol::connect::SessionStatus::{self, *};
use serde_json::json;
use server::store::now_ms;
use server::store::sessions::SessionDeadlines;

use crate::helpers::*;

/// Waits until the wallet has the proof request.
async fn proof_requested(app: &TestApp, code: &str, within: Duration) {
    let until = tokio::time::Instant::now() + within;
    while app.wallet_view(code).await["proof_state"] != "request-sent" {
        assert!(tokio::time::Instant::now() < until, "the proof request never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_claim_left_by_a_crash_is_taken_back_after_its_lease() {
    let app = spawn_app_with(|c| c.claim_lease = Duration::from_secs(1)).await;
    let visitor = app.visitor().await;
    let (view, code) = visitor.start_connect().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&view.channel, Some(0)).await;
    // A server claimed the proof request and died before calling the platform.
    app.store
        .update_session(&view.session_id, |s| {
            s.proof_requested = true;
            s.proof_claimed_at = now_ms();
            true
        })
        .await
        .unwrap()
        .expect("claimed");
    app.wallet(&code, "connect", json!({})).await;
    socket.statuses_until(AwaitingShare).await;
    // Nobody holds the claim any more: the poller takes it back and asks.
    proof_requested(&app, &code, Duration::from_secs(15)).await;
    assert_eq!(app.wallet_view(&code).await["proof_requests"], 1, "asked once");
    app.wallet(&code, "share", json!({})).await;
    assert_eq!(socket.statuses_until(Verified).await, vec![Verifying, Verified]);
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("beacon_claims_taken_back_total 1"), "{metrics}");
}

#[tokio::test]
async fn a_session_connected_but_never_shared_ends_at_its_deadline() {
    let app = spawn_app_with(|c| {
        c.connect_ttl = Duration::from_secs(2);
        c.share_deadline = Duration::from_secs(3);
        c.register_deadline = Duration::from_secs(60);
    })
    .await;
    let visitor = app.visitor().await;
    let (view, code) = visitor.start_connect().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&view.channel, Some(0)).await;
    app.wallet(&code, "connect", json!({})).await;
    let seen = socket.statuses_until(Expired).await;
    assert_eq!(seen, vec![Connecting, AwaitingShare, Expired], "connected, then out of time");
    assert!(now_ms() - view.expires_at + 2_000 >= 3_000, "not before the share deadline");
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("beacon_sessions_expired_by_deadline_total 1"), "{metrics}");
}

#[tokio::test]
async fn a_verified_session_nobody_registers_with_ends_at_its_deadline() {
    let app = spawn_app_with(|c| {
        c.connect_ttl = Duration::from_secs(4);
        c.share_deadline = Duration::from_secs(6);
        c.register_deadline = Duration::from_secs(7);
    })
    .await;
    let visitor = app.visitor().await;
    let (view, code) = visitor.start_connect().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&view.channel, Some(0)).await;
    app.wallet(&code, "connect", json!({})).await;
    socket.statuses_until(AwaitingShare).await;
    proof_requested(&app, &code, Duration::from_secs(5)).await;
    app.wallet(&code, "share", json!({})).await;
    assert_eq!(socket.statuses_until(Verified).await, vec![Verifying, Verified]);
    assert_eq!(socket.statuses_until(Expired).await, vec![Expired]);
    assert_eq!(visitor.register(&view.session_id, "Ada", "ada@example.org").await, 409, "too late");
}

#[tokio::test]
async fn a_live_session_comes_before_a_crowd_of_backed_off_ones() {
    // The app's own poller must not reschedule the sessions under test.
    let app = spawn_app_with(|c| c.stall_poll_every = Duration::from_secs(3600)).await;
    let store = &app.store;
    let owner = "0123456789abcdef0123456789abcdef";
    // 150 abandoned pages, each polled before without news: due again now.
    for _ in 0..150 {
        let session = store.create_connect_session(owner, 600_000).await.unwrap();
        store.poll_later(&session.id, 0, 0).await.unwrap();
    }
    // A live session whose webhook was lost: never polled.
    let live = store.create_connect_session(owner, 600_000).await.unwrap();
    let far = SessionDeadlines { share_ms: i64::MAX / 4, register_ms: i64::MAX / 4 };
    let due = store.due_sessions(now_ms() + 1_000, far, 100).await.unwrap();
    assert_eq!(due.len(), 100);
    assert_eq!(due[0].id, live.id, "the never-polled session is first in the round");
}

#[tokio::test]
async fn forgotten_sessions_take_their_channel_heads_and_events_with_them() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let (view, _) = visitor.start_connect().await;
    let session_channel = channel(&view.channel);
    app.publish_ok(&view.channel, json!({ "status": "expired" })).await;
    assert_eq!(app.store.log_bounds(&session_channel).await.unwrap().head, 1);
    app.store
        .update_session(&view.session_id, |s| {
            s.status = SessionStatus::Expired;
            true
        })
        .await
        .unwrap();
    let kept = visitor.inbox();
    app.publish_ok(&kept, json!({ "n": 1 })).await;
    let removed = app.store.forget_history(now_ms() + 1_000).await.unwrap();
    assert!(removed >= 3, "session, its head and its event ({removed})");
    assert!(app.store.connect_session(&view.session_id).await.unwrap().is_none());
    let bounds = app.store.log_bounds(&session_channel).await.unwrap();
    assert_eq!((bounds.head, bounds.first_retained), (0, 1), "no head, no events left");
    assert_eq!(app.store.log_bounds(&channel(&kept)).await.unwrap().head, 1, "other channels untouched");
}

#[tokio::test]
async fn commits_are_durable_and_health_says_so() {
    let app = spawn_app().await;
    assert!(app.store.durable_commits().await.unwrap());
    let health: serde_json::Value = reqwest::get(app.url("/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["database"]["durable_commits"], true);
}
