//! The API tests' harness: a Beacon on port 0 with a database of its own
//! ([`spawn_app`]), its visitors with their cookies, and their sockets.

use std::time::Duration;

use protocol::{ChannelName, ClientMessage, ConnectToken, ServerMessage};
use server::config::{Config, Secret};
use server::startup::Application;
use tokio::sync::oneshot;

// By path: the cluster tests include this file from their own folder.
#[path = "helpers/socket.rs"]
mod socket;
#[path = "helpers/wallet.rs"]
mod wallet;

pub use socket::{Closed, TestSocket};

pub const PUBLISH_KEY: &str = "test-publish-key-0123456789abcdefghij";
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdefghijkl";
/// The visitor-cookie secret every test node shares (nodes of one cluster must).
pub const TEST_SECRET: &str = "a-test-secret-that-is-long-enough-000";
/// Longest a test waits for any one frame.
pub const FRAME_WAIT: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    /// The server-to-server listener, when the test asked for one.
    pub api_addr: Option<std::net::SocketAddr>,
    pub database_url: String,
    /// The server's own pool, for tests that break or inspect the database.
    pub store: server::store::Store,
    /// What the platform's webhooks must present to this app.
    pub webhook_secret: String,
    pub org_id: String,
    /// The dev agent's control token (`x-dev-agent-token`).
    pub dev_agent_token: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// A fresh database URL: a SQLite file in `dir`, or a new Postgres database.
async fn fresh_database(dir: &tempfile::TempDir) -> String {
    match std::env::var("BEACON_TEST_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            use sqlx::Connection;
            let name = format!("beacon_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("BEACON_TEST_POSTGRES_URL is set but Postgres is unreachable");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
            let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap();
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}/beacon.db", dir.path().display()),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the application with test defaults, adjusted by `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    server::telemetry::init_for_tests();
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(&dir).await;
    let mut config = Config::from_lookup(|_| None).unwrap();
    config.database_url = database_url.clone();
    config.secret = Secret::new(TEST_SECRET);
    config.publish_key = Some(Secret::new(PUBLISH_KEY));
    config.admin_key = Some(Secret::new(ADMIN_KEY));
    config.site_root = dir.path().join("site");
    // The dev agent answers quickly and lost webhooks are recovered soon, so
    // flow tests take seconds, not minutes.
    if let server::config::AgentMode::Dev(dev) = &mut config.agent {
        dev.delay_ms = (5, 25);
    }
    // Every test client is 127.0.0.1: per-address allowances sized for a test,
    // not a household; the tests of those limits set their own.
    config.abuse.connect_sessions_per_ip_per_min = 1000;
    config.stall_after = Duration::from_millis(400);
    config.stall_poll_every = Duration::from_millis(100);
    // Sockets park after 20 ms without work (the default is a second), so
    // every test runs with its sockets parking and resuming between steps.
    config.socket_park_after = Duration::from_millis(20);
    tweak(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // A test asks for the API listener by setting any address; it gets port 0.
    let wants_api_listener = config.api_bind.is_some();
    let mut app = Application::build(config, listener).await.expect("application builds");
    if wants_api_listener {
        app = app.with_api_listener(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addr = app.local_addr();
    let api_addr = app.api_addr();
    let store = app.state().store.clone();
    let webhook_secret = app.state().webhooks.secret.expose().to_owned();
    let org_id = app.state().webhooks.org_id.clone();
    let dev_agent_token = app
        .state()
        .dev_agent
        .as_ref()
        .map(|agent| agent.control_token().expose().to_owned())
        .unwrap_or_default();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        api_addr,
        database_url,
        store,
        webhook_secret,
        org_id,
        dev_agent_token,
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
    }
}

impl TestApp {
    /// The folder the app serves its site's files from (empty at start).
    pub fn site_root(&self) -> std::path::PathBuf {
        self._dir.path().join("site")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A new browser-like visitor with its own cookie jar.
    pub async fn visitor(&self) -> Visitor {
        let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
        let token: ConnectToken =
            http.get(self.url("/api/realtime/token")).send().await.unwrap().json().await.unwrap();
        Visitor { http, principal: token.principal, base: self.url("") }
    }

    pub async fn publish(&self, channel: &str, payload: serde_json::Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url("/api/realtime/publish"))
            .bearer_auth(PUBLISH_KEY)
            .json(&serde_json::json!({ "channel": channel, "payload": payload }))
            .send()
            .await
            .unwrap()
    }

    /// Publishes and returns the seq.
    pub async fn publish_ok(&self, channel: &str, payload: serde_json::Value) -> u64 {
        let response = self.publish(channel, payload).await;
        assert_eq!(response.status(), 200, "publish failed: {:?}", response.text().await);
        let body: protocol::PublishResponse = response.json().await.unwrap();
        body.seq
    }

    /// `GET /api/admin/realtime-stats`: the hub's connections and counters.
    pub async fn realtime_stats(&self) -> serde_json::Value {
        let response = reqwest::Client::new()
            .get(self.url("/api/admin/realtime-stats"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    pub async fn grant(&self, channel: &str, principal: &str) {
        let response = reqwest::Client::new()
            .post(self.url("/api/realtime/grants"))
            .bearer_auth(PUBLISH_KEY)
            .json(&serde_json::json!({ "channel": channel, "principal": principal }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// Triggers graceful shutdown and waits for it to finish.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(30), server)
                .await
                .expect("shutdown finishes")
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub struct Visitor {
    pub http: reqwest::Client,
    pub principal: String,
    base: String,
}

impl Visitor {
    /// `http://host:port` of the app.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` with this visitor's cookie, expecting 200 and JSON.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// The same visitor (same cookies) talking to another node.
    #[allow(dead_code)] // the cluster tests share this file
    pub fn on(&self, app: &TestApp) -> Visitor {
        Visitor { http: self.http.clone(), principal: self.principal.clone(), base: app.url("") }
    }

    /// The same visitor talking to the node at `base` (`http://host:port`).
    #[allow(dead_code)] // the cluster tests share this file
    pub fn at(&self, base: &str) -> Visitor {
        Visitor { http: self.http.clone(), principal: self.principal.clone(), base: base.to_owned() }
    }

    pub fn inbox(&self) -> String {
        format!("user:{}", self.principal)
    }

    pub async fn token(&self) -> String {
        let token: ConnectToken = self
            .http
            .get(format!("{}/api/realtime/token", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token.token
    }

    /// A socket just upgraded: its `welcome` not read yet.
    pub async fn upgrade_socket(&self) -> TestSocket {
        let url = format!("{}/ws", self.base.replacen("http://", "ws://", 1));
        let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("upgrade");
        TestSocket { stream, next_id: 0 }
    }

    /// A socket that has received `welcome` but not authenticated.
    pub async fn open_socket(&self) -> TestSocket {
        let mut socket = self.upgrade_socket().await;
        match socket.recv().await {
            ServerMessage::Welcome(_) => socket,
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// A socket authenticated as this visitor.
    pub async fn connect(&self) -> TestSocket {
        let mut socket = self.open_socket().await;
        let token = self.token().await;
        let id = socket.send_request(|id| ClientMessage::Auth { id, token }).await;
        socket.expect_ack(&id).await;
        socket
    }

    pub async fn poll(&self, channel: &str, since: u64) -> reqwest::Response {
        self.http
            .get(format!("{}/api/realtime/poll", self.base))
            .query(&[("channel", channel), ("since", &since.to_string())])
            .send()
            .await
            .unwrap()
    }

    pub async fn create_session(&self) -> String {
        let body: serde_json::Value = self
            .http
            .post(format!("{}/api/connections/session", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["session_id"].as_str().unwrap().to_owned()
    }
}

pub fn channel(s: &str) -> ChannelName {
    ChannelName::parse(s).unwrap()
}
