//! A node dies, Redis restarts: clients lose nothing, presence stays true.

use std::time::Duration;

use protocol::chat::SignalBody;
use protocol::{ClientMessage, ServerMessage};
use serde_json::json;
use tokio::process::Command;

use crate::helpers::{TestSocket, Visitor};
use crate::{Cluster, eventually, free_port, publish_at};

/// Reads until every seq in `1..=last` arrived exactly once (in order per socket).
async fn read_up_to(socket: &mut TestSocket, seen: &mut Vec<u64>, last: u64) {
    while seen.last().copied().unwrap_or(0) < last {
        let event = socket.events(1).await.remove(0);
        assert_eq!(event.seq, seen.last().copied().unwrap_or(0) + 1, "events arrive in order, none skipped");
        seen.push(event.seq);
    }
}

#[tokio::test]
async fn when_a_node_is_killed_its_clients_resume_on_another_and_lose_nothing() {
    let cluster = Cluster::new().await;
    let mut a = cluster.process("a", &[]).await;
    let b = cluster.node("b").await;
    let visitor = b.visitor().await;
    let channel = visitor.inbox();

    let mut socket = visitor.at(&a.base).connect().await;
    socket.subscribe(&channel, None).await;
    let mut seen = Vec::new();
    // Publishing goes on through B the whole time.
    let publisher = {
        let base = b.url("");
        let channel = channel.clone();
        tokio::spawn(async move {
            for n in 1..=120u64 {
                publish_at(&base, &channel, json!({ "n": n })).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    read_up_to(&mut socket, &mut seen, 20).await;
    a.kill().await;
    // The client notices its socket is gone and reconnects to a live node.
    let mut socket = visitor.connect().await;
    socket.subscribe(&channel, seen.last().copied()).await.0.into_iter().for_each(|e| {
        assert_eq!(e.seq, seen.last().unwrap() + 1, "replay continues right after the last seq");
        seen.push(e.seq);
    });
    publisher.await.unwrap();
    read_up_to(&mut socket, &mut seen, 120).await;
    assert_eq!(seen, (1..=120).collect::<Vec<_>>());
}

/// A redis-server of this test's own, to kill and restart.
struct PrivateRedis {
    port: u16,
    child: tokio::process::Child,
}

impl PrivateRedis {
    async fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (scripts/services.sh installs it)");
        let redis = Self { port, child };
        let client = redis::Client::open(redis.url()).unwrap();
        eventually("the private redis-server answers", || {
            let client = client.clone();
            async move { client.get_multiplexed_async_connection().await.is_ok() }
        })
        .await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

#[tokio::test]
async fn events_keep_arriving_while_redis_restarts() {
    let mut redis = PrivateRedis::start(free_port()).await;
    let cluster = Cluster::with_redis(redis.url()).await;
    let a = cluster.node("a").await;
    let b = cluster.node("b").await;
    let visitor = b.visitor().await;
    let channel = visitor.inbox();
    let mut socket = visitor.connect().await;
    socket.subscribe(&channel, None).await;
    let mut seen = Vec::new();

    for n in 1..=10 {
        publish_at(&a.url(""), &channel, json!({ "n": n })).await;
    }
    read_up_to(&mut socket, &mut seen, 10).await;

    // Redis dies: publishing on A still works, and B still delivers (from the log).
    redis.child.kill().await.unwrap();
    for n in 11..=20 {
        publish_at(&a.url(""), &channel, json!({ "n": n })).await;
    }
    read_up_to(&mut socket, &mut seen, 20).await;
    let health: serde_json::Value = crate::health(&b.url("")).await;
    assert_eq!(health["status"], "ok", "a node without Redis keeps serving: {health}");

    // Redis comes back empty; both nodes reconnect and resubscribe.
    let port = redis.port;
    let _redis = PrivateRedis::start(port).await;
    eventually("B's bus reconnected", || {
        let base = b.url("");
        async move { crate::health(&base).await["node"]["bus"]["connected"] == true }
    })
    .await;
    for n in 21..=30 {
        publish_at(&a.url(""), &channel, json!({ "n": n })).await;
    }
    read_up_to(&mut socket, &mut seen, 30).await;
    assert_eq!(seen, (1..=30).collect::<Vec<_>>());
}

/// Subscribes to the conversation and returns the presence snapshot's member ids.
async fn join_room(visitor: &Visitor, conversation: &str) -> (TestSocket, Vec<String>) {
    let mut socket = visitor.connect().await;
    let channel = format!("conversation:{conversation}");
    let id =
        socket.send_request(|id| ClientMessage::Subscribe { id, channel, since: None, epoch: None }).await;
    loop {
        match socket.recv().await {
            ServerMessage::Signal(signal) => {
                if let SignalBody::PresenceSnapshot { members } = signal.body {
                    return (socket, members.into_iter().map(|m| m.member_id).collect());
                }
            }
            ServerMessage::Ack(ack) if ack.id == id => {}
            ServerMessage::Event(_) => {}
            other => panic!("while joining: {other:?}"),
        }
    }
}

async fn create_room(owner: &Visitor) -> (String, String) {
    let view: serde_json::Value = owner
        .http
        .post(format!("{}/api/conversations", owner.base()))
        .json(&json!({ "title": "ops", "display_name": "Ada" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (view["id"].as_str().unwrap().to_owned(), view["me"]["member_id"].as_str().unwrap().to_owned())
}

async fn invite(owner: &Visitor, guest: &Visitor, conversation: &str) -> String {
    let invite: serde_json::Value = owner
        .http
        .post(format!("{}/api/conversations/{conversation}/invites", owner.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let view: serde_json::Value = guest
        .http
        .post(format!("{}/api/invites/{}/accept", guest.base(), invite["token"].as_str().unwrap()))
        .json(&json!({ "display_name": "Alan" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    view["me"]["member_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn presence_of_a_killed_node_leaves_within_its_lease() {
    let cluster = Cluster::new().await;
    let mut a = cluster.process("a", &[]).await;
    let b = cluster.node("b").await;
    let ada = b.visitor().await;
    let alan = b.visitor().await;
    let (room, _ada_id) = create_room(&ada).await;
    let alan_id = invite(&ada, &alan, &room).await;

    // Alan is on node A, Ada on node B: each sees the other.
    let (_alan_socket, _) = join_room(&alan.at(&a.base), &room).await;
    let (mut ada_socket, present) = join_room(&ada, &room).await;
    assert!(present.contains(&alan_id), "Ada sees Alan, connected to the other node: {present:?}");

    a.kill().await;
    let killed_at = tokio::time::Instant::now();
    loop {
        match ada_socket.recv().await {
            ServerMessage::Signal(signal) => match signal.body {
                SignalBody::PresenceLeave { member_id } if member_id == alan_id => break,
                _ => continue,
            },
            _ => continue,
        }
    }
    // One lease, plus a sweep period and the signal's way.
    assert!(killed_at.elapsed() < crate::LEASE * 4, "left after {:?}", killed_at.elapsed());
    let now: Vec<serde_json::Value> = ada.get_json(&format!("/api/conversations/{room}/presence")).await;
    assert!(now.iter().all(|m| m["member_id"] != alan_id.as_str()), "no zombie: {now:?}");
}

#[tokio::test]
async fn a_node_restarted_under_the_same_id_leaves_no_zombie_presence() {
    let cluster = Cluster::new().await;
    // A long lease: B will not sweep A within the test, only A's restart can.
    let long_lease = [("BEACON_NODE_LEASE_MS", "30000")];
    let mut a = cluster.process("a", &long_lease).await;
    let b = cluster.node("b").await;
    let ada = b.visitor().await;
    let alan = b.visitor().await;
    let (room, _) = create_room(&ada).await;
    let alan_id = invite(&ada, &alan, &room).await;
    let (_alan_socket, _) = join_room(&alan.at(&a.base), &room).await;
    let (mut ada_socket, present) = join_room(&ada, &room).await;
    assert!(present.contains(&alan_id));

    // Killed and back at once, under the same node id: its lease never lapsed,
    // so only the new process can say that the old one's entries are gone.
    a.kill().await;
    let _a_again = cluster.process("a", &long_lease).await;
    loop {
        if let ServerMessage::Signal(signal) = ada_socket.recv().await
            && matches!(&signal.body, SignalBody::PresenceLeave { member_id } if *member_id == alan_id)
        {
            break;
        }
    }
    let now: Vec<serde_json::Value> = ada.get_json(&format!("/api/conversations/{room}/presence")).await;
    assert!(now.iter().all(|m| m["member_id"] != alan_id.as_str()), "no zombie: {now:?}");
}
