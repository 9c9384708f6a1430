//! Several Beacon nodes sharing one PostgreSQL database and Redis: nodes in
//! this process (`Application`s on port 0) and, where a node must die
//! abruptly, `beacon` child processes killed with SIGKILL.
//!
//! PostgreSQL comes from `BEACON_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and Redis from
//! `BEACON_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); when either is
//! unreachable the tests fail (scripts/services.sh starts both). Each test gets
//! its own database and Redis key prefix; the Redis-restart test runs a
//! redis-server of its own.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod delivery;
mod failures;
mod rules;

use std::time::Duration;

use helpers::{ADMIN_KEY, PUBLISH_KEY, TestApp, spawn_app_with};
use server::config::cluster::{BusKind, ClusterSettings};
use tokio::process::{Child, Command};

/// Short leases and intervals so failures show within a test's patience.
const LEASE: Duration = Duration::from_millis(1000);
const GAP_FILL: Duration = Duration::from_millis(200);
const LEADER_RETRY: Duration = Duration::from_millis(200);
/// Longest a test waits for the cluster to notice something.
const CONVERGE: Duration = Duration::from_secs(15);

fn postgres_admin_url() -> String {
    std::env::var("BEACON_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("BEACON_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// One cluster's shared parts: a fresh database and a key prefix of its own.
pub struct Cluster {
    pub database_url: String,
    pub redis_url: String,
    pub prefix: String,
}

impl Cluster {
    pub async fn new() -> Self {
        Self::with_redis(redis_url()).await
    }

    pub async fn with_redis(redis_url: String) -> Self {
        use sqlx::Connection;
        let admin = postgres_admin_url();
        let name = format!("beacon_test_{}", uuid::Uuid::new_v4().simple());
        let mut connection = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL must be reachable for the cluster tests");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
        Self {
            database_url: format!("{base}/{name}"),
            redis_url,
            prefix: format!("beacon-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        }
    }

    fn settings(&self, node: &str) -> ClusterSettings {
        ClusterSettings {
            bus: BusKind::Redis { url: self.redis_url.clone() },
            redis_prefix: self.prefix.clone(),
            node_id: node.to_owned(),
            node_lease: LEASE,
            gap_fill_every: GAP_FILL,
            leader_retry: LEADER_RETRY,
        }
    }

    /// A node in this process.
    pub async fn node(&self, id: &str) -> TestApp {
        self.node_with(id, |_| {}).await
    }

    pub async fn node_with(&self, id: &str, tweak: impl FnOnce(&mut server::config::Config)) -> TestApp {
        let database_url = self.database_url.clone();
        let settings = self.settings(id);
        spawn_app_with(move |config| {
            config.database_url = database_url;
            config.cluster = settings;
            tweak(config);
        })
        .await
    }

    /// A node as a child process, for tests that kill it.
    pub async fn process(&self, id: &str, extra: &[(&str, &str)]) -> NodeProcess {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_beacon"));
        command
            .current_dir(dir.path())
            .env("BEACON_BIND", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &self.database_url)
            .env("BEACON_BUS", "redis")
            .env("REDIS_URL", &self.redis_url)
            .env("BEACON_REDIS_PREFIX", &self.prefix)
            .env("BEACON_NODE_ID", id)
            .env("BEACON_NODE_LEASE_MS", LEASE.as_millis().to_string())
            .env("BEACON_GAP_FILL_MS", GAP_FILL.as_millis().to_string())
            .env("BEACON_LEADER_RETRY_MS", LEADER_RETRY.as_millis().to_string())
            .env("BEACON_SECRET", helpers::TEST_SECRET)
            .env("BEACON_PUBLISH_KEY", PUBLISH_KEY)
            .env("BEACON_ADMIN_KEY", ADMIN_KEY)
            .env("BEACON_CONNECT_SESSIONS_PER_IP_PER_MIN", "1000")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.spawn().expect("the beacon binary starts");
        let node = NodeProcess { child, base: format!("http://127.0.0.1:{port}"), _dir: dir };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = reqwest::get(format!("{}/health", node.base)).await
                && response.status() == 200
            {
                return node;
            }
            assert!(tokio::time::Instant::now() < deadline, "node {id} did not become healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A port nobody listens on right now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct NodeProcess {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl NodeProcess {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no close frames, no lease release, no unlock; the OS closes its sockets.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }
}

/// `/health` of the node at `base`.
pub async fn health(base: &str) -> serde_json::Value {
    reqwest::get(format!("{base}/health")).await.unwrap().json().await.unwrap()
}

/// Waits until `check` holds, or fails after [`CONVERGE`] saying `what`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + CONVERGE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publishes through the node at `base`; returns the seq.
pub async fn publish_at(base: &str, channel: &str, payload: serde_json::Value) -> u64 {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/realtime/publish"))
        .bearer_auth(PUBLISH_KEY)
        .json(&serde_json::json!({ "channel": channel, "payload": payload }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "publish on {base}");
    response.json::<protocol::PublishResponse>().await.unwrap().seq
}
