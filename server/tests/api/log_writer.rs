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
