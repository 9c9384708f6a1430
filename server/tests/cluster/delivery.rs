//! Events cross nodes: live, by long-poll, and on resume at another node.

use std::time::Duration;

use serde_json::json;

use crate::helpers::TestSocket;
use crate::{Cluster, publish_at};

/// Reads events until `want` distinct seqs have arrived; fails on a duplicate.
async fn collect(socket: &mut TestSocket, mut seen: Vec<u64>, want: usize) -> Vec<u64> {
    while seen.len() < want {
        for event in socket.events(1).await {
            assert!(!seen.contains(&event.seq), "seq {} delivered twice", event.seq);
            seen.push(event.seq);
        }
    }
    seen
}

#[tokio::test]
async fn an_event_published_on_one_node_reaches_subscribers_on_the_other() {
    let cluster = Cluster::new().await;
    // No gap fill within the test: only the Redis bus can carry the events.
    let no_gap_fill =
        |config: &mut server::config::Config| config.cluster.gap_fill_every = Duration::from_secs(600);
    let a = cluster.node_with("a", no_gap_fill).await;
    let b = cluster.node_with("b", no_gap_fill).await;
    let visitor = b.visitor().await;
    let channel = visitor.inbox();
    let mut socket = visitor.connect().await;
    socket.subscribe(&channel, None).await;

    let seq = publish_at(&a.url(""), &channel, json!({ "n": 1 })).await;
    let got = socket.events(1).await;
    assert_eq!((got[0].seq, got[0].payload.clone()), (seq, json!({ "n": 1 })));

    // A long-poll waiting on B wakes for a publish on A too.
    let poller = visitor.on(&b);
    let waiting = tokio::spawn(async move { poller.poll(&poller.inbox(), seq).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let next = publish_at(&a.url(""), &channel, json!({ "n": 2 })).await;
    let answer: protocol::PollResponse = waiting.await.unwrap().json().await.unwrap();
    assert_eq!(answer.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![next]);
}

#[tokio::test]
async fn a_client_resumes_on_the_other_node_and_gets_every_event_once() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a").await;
    let b = cluster.node("b").await;
    let visitor = a.visitor().await;
    let channel = visitor.inbox();

    let mut on_a = visitor.connect().await;
    on_a.subscribe(&channel, None).await;
    for n in 1..=5 {
        publish_at(&a.url(""), &channel, json!({ "n": n })).await;
    }
    let seen = collect(&mut on_a, Vec::new(), 5).await;
    drop(on_a);

    // Published while the client is away, on both nodes.
    for n in 6..=10 {
        let node = if n % 2 == 0 { &a } else { &b };
        publish_at(&node.url(""), &channel, json!({ "n": n })).await;
    }
    let mut on_b = visitor.on(&b).connect().await;
    let (replayed, head) = on_b.subscribe(&channel, Some(*seen.last().unwrap())).await;
    assert_eq!(replayed.iter().map(|e| e.seq).collect::<Vec<_>>(), (6..=10).collect::<Vec<_>>());
    assert_eq!(head, 10);
    // And live again, from a publish on the node it left.
    publish_at(&a.url(""), &channel, json!({ "n": 11 })).await;
    assert_eq!(on_b.events(1).await[0].seq, 11);
}
