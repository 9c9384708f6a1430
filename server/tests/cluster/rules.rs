//! Rules that hold for the cluster as a whole: connections per principal,
//! admin disconnect, and one node running the background jobs at a time.

use protocol::{ClientMessage, CloseCode};

use crate::helpers::{ADMIN_KEY, Closed, TestSocket, Visitor};
use crate::{Cluster, eventually, health};

/// Opens a socket and authenticates; returns it, or the close code when refused.
async fn try_connect(visitor: &Visitor) -> Result<TestSocket, Closed> {
    let mut socket = visitor.open_socket().await;
    let token = visitor.token().await;
    socket.send_request(|id| ClientMessage::Auth { id, token }).await;
    match tokio::time::timeout(std::time::Duration::from_secs(2), socket.recv_or_close()).await {
        Ok(Ok(_ack)) => Ok(socket),
        Ok(Err(closed)) => Err(closed),
        Err(_) => panic!("neither ack nor close"),
    }
}

#[tokio::test]
async fn connections_per_principal_are_counted_across_nodes() {
    let cluster = Cluster::new().await;
    let limit = |config: &mut server::config::Config| config.max_connections_per_principal = 2;
    let a = cluster.node_with("a", limit).await;
    let b = cluster.node_with("b", limit).await;
    let visitor = a.visitor().await;

    let first = try_connect(&visitor).await.expect("first on A");
    let _second = try_connect(&visitor.on(&b)).await.expect("second on B");
    // Each node alone has room for one more; the cluster does not.
    for node in [&a, &b] {
        let refused = try_connect(&visitor.on(node)).await.err();
        assert_eq!(refused, Some(Closed::Code(CloseCode::TooManyConnections.code())));
    }
    drop(first);
    eventually("the closed connection stops counting", || {
        let visitor = visitor.on(&b);
        async move { try_connect(&visitor).await.is_ok() }
    })
    .await;
}

#[tokio::test]
async fn an_admin_disconnect_reaches_every_node() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a").await;
    let b = cluster.node("b").await;
    let visitor = b.visitor().await;
    let mut on_b = visitor.connect().await;

    let response = reqwest::Client::new()
        .post(a.url("/api/admin/disconnect"))
        .bearer_auth(ADMIN_KEY)
        .json(&serde_json::json!({ "principal": visitor.principal }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(on_b.closed().await, Closed::Code(CloseCode::Reconnect.code()));
}

async fn runs_jobs(base: &str) -> bool {
    health(base).await["node"]["background_jobs"] == true
}

#[tokio::test]
async fn exactly_one_node_runs_the_background_jobs_and_another_takes_over_when_it_dies() {
    let cluster = Cluster::new().await;
    let mut a = cluster.process("a", &[]).await;
    eventually("the first node leads", || {
        let base = a.base.clone();
        async move { runs_jobs(&base).await }
    })
    .await;
    let b = cluster.node("b").await;
    let c = cluster.node("c").await;
    // Several election rounds pass: the leader keeps it, nobody else takes it.
    tokio::time::sleep(crate::LEADER_RETRY * 5).await;
    assert!(runs_jobs(&a.base).await);
    assert!(!runs_jobs(&b.url("")).await && !runs_jobs(&c.url("")).await);

    a.kill().await;
    eventually("another node takes over", || {
        let (b, c) = (b.url(""), c.url(""));
        async move { runs_jobs(&b).await || runs_jobs(&c).await }
    })
    .await;
    tokio::time::sleep(crate::LEADER_RETRY * 5).await;
    let leaders = [runs_jobs(&b.url("")).await, runs_jobs(&c.url("")).await];
    assert_eq!(leaders.iter().filter(|l| **l).count(), 1, "exactly one leader: {leaders:?}");
}
