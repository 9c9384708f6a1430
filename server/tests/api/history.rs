//! History retention (`store/history.rs`): finished sessions go with their
//! channels' heads and events, and old webhooks, revoked sign-ins and op
//! answers go, open and recent ones stay. In batches of one or two here, so
//! that a pass takes several; on SQLite and on Postgres alike.

use protocol::connect::SessionStatus;
use serde_json::json;
use server::store::now_ms;

use crate::helpers::{channel, spawn_app};

/// How many rows of `table` (the events or the heads) `channel` has.
async fn rows_of(store: &server::store::Store, table: &str, channel: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE channel = $1"))
        .bind(channel)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Ends a session: it is finished, and may be forgotten once old enough.
async fn expire(store: &server::store::Store, id: &str) {
    let expired = store.update_session(id, |s| {
        s.status = SessionStatus::Expired;
        true
    });
    assert!(expired.await.unwrap().is_some(), "{id} expired");
}

#[tokio::test]
async fn finished_sessions_go_with_their_channels_a_batch_at_a_time() {
    for sessions_per_batch in [1, 2] {
        let app = spawn_app().await;
        let store = &app.store;
        let mut finished = Vec::new();
        for _ in 0..3 {
            let session = store.create_connect_session("owner-history", 600_000).await.unwrap();
            let session_channel = format!("session:{}", session.id);
            for n in 1..=2 {
                store.append_event(&channel(&session_channel), json!({ "n": n })).await.unwrap();
            }
            expire(store, &session.id).await;
            finished.push((session.id, session_channel));
        }
        let open = store.create_connect_session("owner-history", 600_000).await.unwrap();
        let open_channel = format!("session:{}", open.id);
        store.append_event(&channel(&open_channel), json!({ "n": 1 })).await.unwrap();
        let other = "dashboard:history-other";
        store.append_event(&channel(other), json!({ "n": 1 })).await.unwrap();

        let removed = store.forget_history_in_batches(now_ms() + 1_000, sessions_per_batch, 2).await.unwrap();

        assert_eq!(removed, 3 * (1 + 1 + 2), "each finished session, its head and its two events");
        for (id, session_channel) in &finished {
            assert!(store.connect_session(id).await.unwrap().is_none(), "{id} forgotten");
            assert_eq!(rows_of(store, "events", session_channel).await, 0, "{id}'s events");
            assert_eq!(rows_of(store, "channel_heads", session_channel).await, 0, "{id}'s head");
        }
        assert!(store.connect_session(&open.id).await.unwrap().is_some(), "an open session stays");
        for kept in [open_channel.as_str(), other] {
            assert_eq!(rows_of(store, "events", kept).await, 1, "{kept} untouched");
            assert_eq!(rows_of(store, "channel_heads", kept).await, 1, "{kept} untouched");
        }
        assert_eq!(
            store.forget_history_in_batches(now_ms() + 1_000, sessions_per_batch, 2).await.unwrap(),
            0
        );
    }
}

#[tokio::test]
async fn a_head_read_back_after_its_session_was_forgotten_goes_next_time() {
    let app = spawn_app().await;
    let store = &app.store;
    let session = store.create_connect_session("owner-history", 600_000).await.unwrap();
    expire(store, &session.id).await;
    let open = store.create_connect_session("owner-history", 600_000).await.unwrap();
    assert_eq!(store.forget_history(now_ms() + 1_000).await.unwrap(), 1);
    // A read that passed the access check before the session went.
    for id in [&session.id, &open.id] {
        store.log_bounds(&channel(&format!("session:{id}"))).await.unwrap();
    }

    assert_eq!(store.forget_history_in_batches(now_ms() + 1_000, 1, 2).await.unwrap(), 1);

    assert_eq!(
        rows_of(store, "channel_heads", &format!("session:{}", session.id)).await,
        0,
        "the orphan head"
    );
    assert_eq!(
        rows_of(store, "channel_heads", &format!("session:{}", open.id)).await,
        1,
        "an open session's"
    );
}

#[tokio::test]
async fn old_webhooks_and_revoked_sign_ins_go_a_batch_at_a_time() {
    let app = spawn_app().await;
    let store = &app.store;
    for n in 0..5 {
        store.insert_webhook("connections", &format!("record-{n}"), "completed", "{}").await.unwrap();
    }
    let mut revoked = Vec::new();
    for _ in 0..3 {
        let sign_in = store.create_sign_in("user-history").await.unwrap();
        store.revoke_sign_in(&sign_in).await.unwrap();
        revoked.push(sign_in);
    }
    let active = store.create_sign_in("user-history").await.unwrap();
    let before = now_ms() + 1_000;
    // Stored after the cut: stays.
    sqlx::query("UPDATE webhooks SET received_at = $1 WHERE record_id = 'record-4'")
        .bind(before + 60_000)
        .execute(store.pool())
        .await
        .unwrap();

    let removed = store.forget_history_in_batches(before, 1, 2).await.unwrap();

    assert_eq!(removed, 4 + 3, "four webhooks and three revoked sign-ins");
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT record_id FROM webhooks").fetch_all(store.pool()).await.unwrap();
    assert_eq!(kept, ["record-4"], "the recent webhook stays");
    assert!(store.sign_in_active(&active, "user-history").await.unwrap(), "an active sign-in stays");
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sign_ins").fetch_one(store.pool()).await.unwrap();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn old_op_answers_go_a_batch_at_a_time() {
    let app = spawn_app().await;
    let store = &app.store;
    let (dashboard, _) = store.create_dashboard("owner-history", "History").await.unwrap();
    let hour_ago = now_ms() - 3_600_000;
    for op_seq in 1..=6_i64 {
        let created_at = if op_seq == 6 { now_ms() } else { hour_ago };
        sqlx::query(
            "INSERT INTO dashboard_ops (dashboard_id, principal, client_id, op_seq, outcome, created_at) \
             VALUES ($1, 'owner-history', 'tab', $2, '{}', $3)",
        )
        .bind(&dashboard)
        .bind(op_seq)
        .bind(created_at)
        .execute(store.pool())
        .await
        .unwrap();
    }

    let removed = store.trim_dashboard_ops_in_batches(60_000, 2).await.unwrap();

    assert_eq!(removed, 5);
    let left: Vec<i64> =
        sqlx::query_scalar("SELECT op_seq FROM dashboard_ops").fetch_all(store.pool()).await.unwrap();
    assert_eq!(left, [6], "the recent answer stays");
}
