use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{ChannelName, ClientMessage, ConnectToken, ServerMessage};
use server::agent::dev::CONTROL_TOKEN_HEADER;
use server::config::{Config, Secret};
use server::startup::Application;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

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

pub struct TestSocket {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

/// How a socket ended, as seen by the client.
#[derive(Debug, PartialEq)]
pub enum Closed {
    Code(u16),
    WithoutFrame,
}

impl TestSocket {
    pub async fn send_json(&mut self, value: &serde_json::Value) {
        self.stream.send(Message::text(value.to_string())).await.unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.unwrap();
    }

    /// Sends a request with a fresh correlation id and returns the id.
    pub async fn send_request(&mut self, build: impl FnOnce(String) -> ClientMessage) -> String {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        let message = build(id.clone());
        self.stream.send(Message::text(serde_json::to_string(&message).unwrap())).await.unwrap();
        id
    }

    /// The next protocol message, skipping heartbeat pings.
    pub async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = tokio::time::timeout(FRAME_WAIT, self.stream.next())
                .await
                .expect("a frame within the wait")
                .expect("socket open")
                .expect("frame readable");
            match frame {
                Message::Text(text) => match serde_json::from_str(&text).expect("server JSON parses") {
                    ServerMessage::Ping { .. } => continue,
                    message => return message,
                },
                Message::Close(frame) => panic!("socket closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next protocol message, or how the socket closed instead.
    #[allow(dead_code)] // the cluster tests share this file
    pub async fn recv_or_close(&mut self) -> Result<ServerMessage, Closed> {
        loop {
            match self.stream.next().await {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str(&text).expect("server JSON parses") {
                        ServerMessage::Ping { .. } => continue,
                        message => return Ok(message),
                    }
                }
                Some(Ok(Message::Close(Some(frame)))) => return Err(Closed::Code(frame.code.into())),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return Err(Closed::WithoutFrame),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads until the server closes; returns the close code.
    pub async fn closed(&mut self) -> Closed {
        loop {
            match tokio::time::timeout(FRAME_WAIT, self.stream.next()).await.expect("close within the wait") {
                Some(Ok(Message::Close(Some(frame)))) => return Closed::Code(frame.code.into()),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    return Closed::WithoutFrame;
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn expect_ack(&mut self, id: &str) -> Option<u64> {
        match self.recv().await {
            ServerMessage::Ack(ack) if ack.id == id => ack.head_seq,
            other => panic!("expected ack {id}, got {other:?}"),
        }
    }

    pub async fn expect_nack(&mut self, id: Option<&str>) -> protocol::ErrorCode {
        match self.recv().await {
            ServerMessage::Nack(nack) if nack.id.as_deref() == id => nack.code,
            other => panic!("expected nack {id:?}, got {other:?}"),
        }
    }

    /// Subscribes and returns the events replayed before the ack, and the ack's head.
    pub async fn subscribe(
        &mut self,
        channel: &str,
        since: Option<u64>,
    ) -> (Vec<protocol::EventEnvelope>, u64) {
        let id = self
            .send_request(|id| ClientMessage::Subscribe {
                id,
                channel: channel.to_owned(),
                since,
                epoch: None,
            })
            .await;
        let mut replayed = Vec::new();
        loop {
            match self.recv().await {
                ServerMessage::Event(event) => replayed.push(event),
                ServerMessage::Ack(ack) if ack.id == id => {
                    return (replayed, ack.head_seq.unwrap_or(0));
                }
                other => panic!("unexpected while subscribing: {other:?}"),
            }
        }
    }

    /// The next `n` events.
    pub async fn events(&mut self, n: usize) -> Vec<protocol::EventEnvelope> {
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            match self.recv().await {
                ServerMessage::Event(event) => events.push(event),
                other => panic!("expected an event, got {other:?}"),
            }
        }
        events
    }
}

pub fn channel(s: &str) -> ChannelName {
    ChannelName::parse(s).unwrap()
}

impl TestApp {
    /// Drives the dev agent's wallet: `connect`, `reject`, `share`, `share-invalid`, `decline`.
    pub async fn wallet(&self, code: &str, action: &str, body: serde_json::Value) -> reqwest::StatusCode {
        reqwest::Client::new()
            .post(self.url(&format!("/dev-agent/control/{code}/{action}")))
            .header(CONTROL_TOKEN_HEADER, &self.dev_agent_token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn set_faults(&self, code: &str, faults: serde_json::Value) {
        let status = reqwest::Client::new()
            .put(self.url(&format!("/dev-agent/control/{code}/faults")))
            .header(CONTROL_TOKEN_HEADER, &self.dev_agent_token)
            .json(&faults)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 204, "faults accepted");
    }

    pub async fn wallet_view(&self, code: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(self.url(&format!("/dev-agent/control/{code}")))
            .header(CONTROL_TOKEN_HEADER, &self.dev_agent_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Posts a webhook the way ConfirmD does, with this app's credentials.
    pub async fn post_webhook(&self, body: &serde_json::Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url("/api/webhooks/confirmd"))
            .header("x-api-key", &self.webhook_secret)
            .header("x-org-id", &self.org_id)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

impl Visitor {
    /// Registers with a verified session; returns the HTTP status.
    pub async fn register(&self, session: &str, display_name: &str, email: &str) -> reqwest::StatusCode {
        let body = serde_json::json!({ "session_id": session, "display_name": display_name, "email": email });
        self.http.post(format!("{}/api/register", self.base)).json(&body).send().await.unwrap().status()
    }

    /// Starts a connect session; returns its view and the dev agent's invitation code.
    pub async fn start_connect(&self) -> (protocol::connect::ConnectView, String) {
        let response = self.http.post(format!("{}/api/connections/session", self.base)).send().await.unwrap();
        assert_eq!(response.status(), 201);
        let view: protocol::connect::ConnectView = response.json().await.unwrap();
        let code = view.invitation_url.rsplit('/').next().unwrap().to_owned();
        (view, code)
    }
}

impl TestSocket {
    /// Reads session updates until `until` (or a terminal status); returns every status seen.
    pub async fn statuses_until(
        &mut self,
        until: protocol::connect::SessionStatus,
    ) -> Vec<protocol::connect::SessionStatus> {
        let mut seen = Vec::new();
        loop {
            let event = self.events(1).await.remove(0);
            let update: protocol::connect::SessionUpdate = serde_json::from_value(event.payload).unwrap();
            seen.push(update.status);
            if update.status == until || update.status.is_terminal() {
                return seen;
            }
        }
    }
}
