//! Retention (`store/retention.rs`): each channel keeps its newest events up
//! to the count, nothing older than the age is kept, and the heads stay, so a
//! seq is never handed out twice. On SQLite and on Postgres alike, in batches
//! of two here, so that a pass takes several.

use serde_json::json;

use crate::helpers::{channel, spawn_app};

fn seqs(events: &[protocol::EventEnvelope]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn each_channel_keeps_its_own_newest_events() {
    let app = spawn_app().await;
    let long = channel("dashboard:retention-long");
    let short = channel("dashboard:retention-short");
    let other = channel("dashboard:retention-other");
    for n in 1..=9 {
        app.store.append_event(&long, json!({ "n": n })).await.unwrap();
    }
    for n in 1..=2 {
        app.store.append_event(&short, json!({ "n": n })).await.unwrap();
    }
    for n in 1..=4 {
        app.store.append_event(&other, json!({ "n": n })).await.unwrap();
    }

    let removed = app.store.apply_retention_in_batches(3, i64::MAX / 2, 2).await.unwrap();

    assert_eq!(removed, 6 + 1, "six of the long channel's, one of the other's");
    let kept = |channel| app.store.events_between(channel, 0, u64::MAX, 100);
    assert_eq!(seqs(&kept(&long).await.unwrap()), [7, 8, 9]);
    assert_eq!(seqs(&kept(&short).await.unwrap()), [1, 2], "under the count: untouched");
    assert_eq!(seqs(&kept(&other).await.unwrap()), [2, 3, 4]);
    // The heads stay: the next event follows the last one, not the kept count.
    assert_eq!(app.store.append_event(&long, json!({ "n": 10 })).await.unwrap().seq, 10);
    assert_eq!(
        app.store.apply_retention_in_batches(3, i64::MAX / 2, 2).await.unwrap(),
        1,
        "only the one pushed out"
    );
}

#[tokio::test]
async fn events_older_than_the_age_go_whatever_their_channel() {
    let app = spawn_app().await;
    let feed = channel("dashboard:retention-age");
    let quiet = channel("dashboard:retention-quiet");
    for n in 1..=3 {
        app.store.append_event(&feed, json!({ "n": n })).await.unwrap();
    }
    app.store.append_event(&quiet, json!({ "n": 1 })).await.unwrap();
    for n in 4..=5 {
        app.store.append_event(&feed, json!({ "n": n })).await.unwrap();
    }
    // Age the four stored first, three of `feed` and the one of `quiet`, by
    // two hours, as if the last two came two hours after them.
    sqlx::query(
        "UPDATE events SET ts = ts - 7200000 \
         WHERE (channel = $1 AND seq <= 3) OR channel = $2",
    )
    .bind(feed.as_str())
    .bind(quiet.as_str())
    .execute(app.store.pool())
    .await
    .unwrap();

    let removed = app.store.apply_retention_in_batches(1000, 3_600_000, 2).await.unwrap();

    assert_eq!(removed, 4);
    assert_eq!(seqs(&app.store.events_between(&feed, 0, u64::MAX, 100).await.unwrap()), [4, 5]);
    assert!(app.store.events_between(&quiet, 0, u64::MAX, 100).await.unwrap().is_empty());
    assert_eq!(app.store.append_event(&quiet, json!({ "n": 2 })).await.unwrap().seq, 2, "its head stays");
}
