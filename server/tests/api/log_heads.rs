//! The channels' log bounds kept in memory on SQLite (`store/heads.rs`): a
//! resubscribe with nothing to replay reads no bounds from the database, and
//! what memory answers is what the database holds, whichever way the events
//! were written.

use serde_json::json;

use crate::helpers::{channel, spawn_app};
use crate::scrape::metric;

#[tokio::test]
async fn a_resubscribe_with_nothing_to_replay_reads_bounds_from_memory() {
    let app = spawn_app().await;
    let sqlite = app.store.backend() == server::store::Backend::Sqlite;
    let visitor = app.visitor().await;
    let inbox = visitor.inbox();
    let mut socket = visitor.connect().await;
    socket.subscribe(&inbox, None).await;
    // Written by the publish API (the appender) and by a notification (a
    // transaction of the inbox's own).
    app.publish_ok(&inbox, json!({ "n": 1 })).await;
    app.publish_ok(&inbox, json!({ "n": 2 })).await;
    app.notify_ok(&visitor.principal, "three").await;
    assert_eq!(socket.events(3).await.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    drop(socket);

    let (memory, database) = (
        metric(&app, "beacon_log_bounds_from_memory_total").await,
        metric(&app, "beacon_log_bounds_from_database_total").await,
    );
    for round in 0..5 {
        let mut socket = visitor.connect().await;
        let (replayed, head) = socket.subscribe(&inbox, Some(3)).await;
        assert_eq!((replayed.len(), head), (0, 3), "round {round}");
    }
    let mut socket = visitor.connect().await;
    let (replayed, head) = socket.subscribe(&inbox, Some(1)).await;
    assert_eq!((replayed.iter().map(|e| e.seq).collect::<Vec<_>>(), head), (vec![2, 3], 3));

    let from_memory = metric(&app, "beacon_log_bounds_from_memory_total").await - memory;
    let from_database = metric(&app, "beacon_log_bounds_from_database_total").await - database;
    if sqlite {
        assert_eq!((from_memory, from_database), (6, 0), "every bound after the writes from memory");
    } else {
        // Other nodes write a Postgres log too: always read.
        assert_eq!((from_memory, from_database), (0, 6));
    }
}

#[tokio::test]
async fn an_event_committed_but_not_yet_broadcast_is_not_hidden_by_memory() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let inbox = channel(&visitor.inbox());
    assert_eq!(app.store.log_bounds(&inbox).await.unwrap().head, 0);
    assert_eq!(app.store.log_bounds(&inbox).await.unwrap().head, 0, "now known");
    // Straight to the store: committed, and nobody has told the hub yet (as
    // when a publisher is cancelled between its commit and its broadcast).
    let event = app.store.append_event(&inbox, json!({ "n": 1 })).await.unwrap();
    assert_eq!(event.seq, 1);
    assert_eq!(app.store.log_bounds(&inbox).await.unwrap().head, 1);
    let mut socket = visitor.connect().await;
    let (replayed, head) = socket.subscribe(inbox.as_str(), Some(0)).await;
    assert_eq!((replayed.len(), head), (1, 1));
}

#[tokio::test]
async fn many_writers_at_once_leave_exact_heads() {
    let app = spawn_app().await;
    let visitors = futures_util::future::join_all((0..4).map(|_| app.visitor())).await;
    // Known before the writes start, so every write below must keep memory exact.
    for visitor in &visitors {
        app.store.log_bounds(&channel(&visitor.inbox())).await.unwrap();
    }
    let app = &app;
    let mut writes = Vec::new();
    for visitor in &visitors {
        for n in 0..10 {
            let (inbox, principal) = (visitor.inbox(), visitor.principal.clone());
            writes.push(async move {
                if n % 3 == 0 {
                    app.notify_ok(&principal, "note").await;
                } else {
                    app.publish_ok(&inbox, json!({ "n": n })).await;
                }
            });
        }
    }
    futures_util::future::join_all(writes).await;
    for visitor in &visitors {
        let mut socket = visitor.connect().await;
        let (replayed, head) = socket.subscribe(&visitor.inbox(), Some(0)).await;
        assert_eq!(head, 10);
        assert_eq!(replayed.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
    }
}
