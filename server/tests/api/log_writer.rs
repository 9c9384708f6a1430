//! The event log's single writer on SQLite (`store/appender.rs`): appends
//! queued together are committed together, and each keeps its own channel,
//! seq and payload. On Postgres every append is a transaction of its own,
//! on connections kept for appends; the same checks hold.

use std::sync::atomic::Ordering;

use serde_json::json;

use crate::helpers::{channel, spawn_app, spawn_app_with};

#[tokio::test]
async fn appends_at_once_share_commits_and_each_is_stored_as_answered() {
    let app = spawn_app().await;
    let channels: Vec<_> = (0..4).map(|k| channel(&format!("dashboard:group-{k}"))).collect();
    let counts = |app: &crate::helpers::TestApp| {
        app.store
            .log_writer_counts()
            .map(|c| (c.groups.load(Ordering::Relaxed), c.jobs.load(Ordering::Relaxed)))
    };
    let before = counts(&app);

    // 64 appends queued at once, round-robin over the channels. Straight to
    // the store (no broadcast), so the channels' heads are read from the
    // database below. Queued in one poll of `join_all`, a few microseconds,
    // while each commit waits for the disk: the writer finds most of them
    // waiting together (the check below allows half as many groups as appends).
    let store = &app.store;
    let appends =
        (0..64usize).map(|n| {
            let channel = channels[n % channels.len()].clone();
            async move {
                (n, store.append_event(&channel, json!({ "n": n, "pad": "x".repeat(n) })).await.unwrap())
            }
        });
    let answered = futures_util::future::join_all(appends).await;

    for (k, channel) in channels.iter().enumerate() {
        let mut mine: Vec<_> =
            answered.iter().filter(|(n, _)| n % channels.len() == k).map(|(_, e)| e.clone()).collect();
        mine.sort_by_key(|event| event.seq);
        assert_eq!(mine.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=16).collect::<Vec<_>>(), "{channel}");
        let stored = app.store.events_between(channel, 0, u64::MAX, 100).await.unwrap();
        assert_eq!(stored, mine, "{channel}: the log holds what each append was answered");
        for event in &stored {
            let n = event.payload["n"].as_u64().unwrap() as usize;
            assert_eq!((n % channels.len(), event.payload["pad"].as_str().unwrap().len()), (k, n));
        }
        assert_eq!(app.store.log_bounds(channel).await.unwrap().head, 16);
    }
    let ids: std::collections::HashSet<_> = answered.iter().map(|(_, e)| e.id.clone()).collect();
    assert_eq!(ids.len(), 64, "every event has an id of its own");

    if let (Some((groups_before, jobs_before)), Some((groups, jobs))) = (before, counts(&app)) {
        let (groups, jobs) = (groups - groups_before, jobs - jobs_before);
        assert_eq!(jobs, 64);
        assert!(
            groups * 2 <= jobs,
            "queued together, committed together: {groups} groups for {jobs} appends"
        );
    }
}

#[tokio::test]
async fn an_append_needs_no_connection_of_the_shared_pool() {
    // A reconnect storm's resubscribes can take every connection of the
    // shared pool for a while; publishing must not queue behind them.
    let app = spawn_app_with(|c| c.db_max_connections = 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(app.store.pool().acquire().await.unwrap());
    }
    let channel = channel("dashboard:busy-pool");
    let appended = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        app.store.append_event(&channel, json!({ "while": "the pool is taken" })),
    )
    .await
    .expect("the append waited for the shared pool")
    .unwrap();
    assert_eq!(appended.seq, 1);
    drop(held);
    assert_eq!(app.store.events_between(&channel, 0, 1, 10).await.unwrap(), vec![appended]);
}

/// `(one-trip groups, stale heads)` so far; `None` on Postgres (no single writer).
fn trips(app: &crate::helpers::TestApp) -> Option<(u64, u64)> {
    app.store
        .log_writer_counts()
        .map(|c| (c.one_trip_groups.load(Ordering::Relaxed), c.stale_heads.load(Ordering::Relaxed)))
}

#[tokio::test]
async fn an_append_after_another_transaction_moved_its_head_takes_the_next_seq() {
    // The writer appends to channels it knows in one trip, assuming the heads
    // it committed last. A notification moves the same channel's head in a
    // transaction of the shared pool: the assumption is wrong and must be
    // caught, not written over.
    let app = spawn_app().await;
    let recipient = "u-known-heads";
    let inbox = channel(&format!("user:{recipient}"));
    let first = app.store.append_event(&inbox, json!({ "n": 1 })).await.unwrap();
    let before = trips(&app);
    let second = app.store.append_event(&inbox, json!({ "n": 2 })).await.unwrap();
    assert_eq!((first.seq, second.seq), (1, 2));
    if let (Some((one_trip, _)), Some((one_trip_after, _))) = (before, trips(&app)) {
        assert_eq!(one_trip_after, one_trip + 1, "the second append's head was known");
    }

    let notified = app
        .store
        .create_notification(&server::store::notifications::NewNotification {
            recipient,
            category: "test",
            title: "moved the head",
            body: "",
            link: None,
            actor: None,
            idempotency_key: None,
            muted: false,
        })
        .await
        .unwrap();
    assert_eq!(notified.event.unwrap().seq, 3);
    // Retention empties the log (heads stay): no stored event is left for a
    // reused seq to collide with, so only the writer's check can catch it.
    app.store.apply_retention(0, i64::MAX).await.unwrap();

    let before = trips(&app);
    let third = app.store.append_event(&inbox, json!({ "n": 3 })).await.unwrap();
    assert_eq!(third.seq, 4, "after the notification's seq");
    let fourth = app.store.append_event(&inbox, json!({ "n": 4 })).await.unwrap();
    assert_eq!(fourth.seq, 5);
    if let (Some((one_trip, stale)), Some(after)) = (before, trips(&app)) {
        assert_eq!(after, (one_trip + 1, stale + 1), "caught once, then known again");
    }
    let stored = app.store.events_between(&inbox, 0, u64::MAX, 10).await.unwrap();
    assert_eq!(stored, vec![third, fourth], "stored as answered");
}

#[tokio::test]
async fn a_log_deleted_behind_the_writer_starts_again_in_a_new_epoch() {
    // Forgetting a finished session deletes its channel's head and events in
    // the shared pool; the writer still knows the old head. The next append
    // must start the log again (seq 1, a new epoch), as if it were new.
    let app = spawn_app().await;
    let log = channel("dashboard:deleted-behind");
    for n in 1..=2 {
        assert_eq!(app.store.append_event(&log, json!({ "n": n })).await.unwrap().seq, n);
    }
    let epoch = |app: &crate::helpers::TestApp| {
        let pool = app.store.pool().clone();
        let name = log.as_str().to_owned();
        async move {
            sqlx::query_scalar::<_, String>("SELECT epoch FROM channel_heads WHERE channel = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let old_epoch = epoch(&app).await;
    for forget in ["DELETE FROM events WHERE channel = $1", "DELETE FROM channel_heads WHERE channel = $1"] {
        sqlx::query(forget).bind(log.as_str()).execute(app.store.pool()).await.unwrap();
    }

    let again = app.store.append_event(&log, json!({ "n": "again" })).await.unwrap();
    assert_eq!(again.seq, 1, "the log starts again");
    assert_ne!(epoch(&app).await, old_epoch, "in a new epoch");
    assert_eq!(app.store.events_between(&log, 0, u64::MAX, 10).await.unwrap(), vec![again]);
}

#[tokio::test]
async fn appends_to_channels_whose_bounds_subscribers_read_go_in_one_trip() {
    // A subscribe reads its channel's bounds (creating its head at seq 0) into
    // the log heads' cache; the writer assumes those heads, checked, and
    // stores a group of appends as one statement, several to a channel.
    let app = spawn_app().await;
    let watched: Vec<_> = (0..2).map(|k| channel(&format!("user:u-watched-{k}"))).collect();
    for channel in &watched {
        assert_eq!(app.store.log_bounds(channel).await.unwrap().head, 0);
    }
    let counts = |app: &crate::helpers::TestApp| {
        app.store.log_writer_counts().map(|c| {
            let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
            (load(&c.groups), load(&c.one_trip_groups), load(&c.stale_heads))
        })
    };
    let before = counts(&app);
    let store = &app.store;
    let appends = (0..16usize).map(|n| {
        let channel = watched[n % 2].clone();
        async move { store.append_event(&channel, json!({ "n": n })).await.unwrap() }
    });
    let answered = futures_util::future::join_all(appends).await;
    for (k, channel) in watched.iter().enumerate() {
        let mut mine: Vec<_> =
            answered.iter().filter(|e| e.payload["n"].as_u64().unwrap() % 2 == k as u64).cloned().collect();
        mine.sort_by_key(|e| e.seq);
        assert_eq!(mine.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>(), "{channel}");
        assert_eq!(app.store.events_between(channel, 0, u64::MAX, 20).await.unwrap(), mine, "{channel}");
        let pool = app.store.pool().clone();
        let head: i64 = sqlx::query_scalar("SELECT last_seq FROM channel_heads WHERE channel = $1")
            .bind(channel.as_str())
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(head, 8, "{channel}: the head moved with its events");
    }
    if let (Some((groups, one_trip, stale)), Some(after)) = (before, counts(&app)) {
        let groups_now = after.0 - groups;
        assert!((1..16).contains(&groups_now), "queued together: {groups_now} groups");
        assert_eq!((after.1 - one_trip, after.2 - stale), (groups_now, 0), "every group in one trip");
    }
}
