//! Starting, talking to and stopping the two servers under test. Each run of a
//! scenario gets a fresh process on its own loopback port (and, for Beacon, a
//! fresh SQLite file in a temporary folder), so memory readings start clean.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use tokio::process::{Child, Command};

use crate::sys;

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Beacon,
    Node,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Beacon => "Beacon",
            Self::Node => "Node",
        }
    }
}

/// Where the servers' programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    pub beacon_bin: PathBuf,
    /// The site `cargo leptos build --release` wrote beside the binary
    /// (`<target>/site`): the WASM, JS and CSS the pages load.
    pub site_root: PathBuf,
    pub node: String,
    pub node_script: PathBuf,
}

/// Two Beacon nodes sharing PostgreSQL and Redis: what both are started with.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub database_url: String,
    pub redis_url: String,
    pub prefix: String,
    /// Shared, so a token from one node is good on the other.
    pub secret: String,
    pub publish_key: String,
}

/// Longest a server may take to answer its health check after starting.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a publish or webhook request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server.
pub struct Server {
    pub kind: Kind,
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    dir: PathBuf,
    pub api: Api,
}

/// The server's HTTP API, cloneable into publisher tasks.
#[derive(Clone)]
pub struct Api {
    kind: Kind,
    base: String,
    /// Where events are posted: Beacon's server-to-server listener
    /// (`BEACON_API_BIND`), as a deployment would point its publishers; Node
    /// has one port.
    publish_base: String,
    http: reqwest::Client,
    publish_key: String,
}

/// What a publish (Beacon) or webhook (Node) answered.
#[derive(Debug, Clone, Copy)]
pub struct Posted {
    /// Node: how many sockets the webhook sent the update to.
    pub delivered: Option<u64>,
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
    principal: String,
}

#[derive(Deserialize)]
struct WebhookBody {
    delivered: u64,
}

/// Every event is posted asking for this, as publishers' HTTP clients do by default.
const ACCEPT_ENCODING: &str = "gzip, deflate";

fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(512)
        .tcp_nodelay(true)
        .build()?)
}

fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl Server {
    /// Starts a fresh server and waits until its health check answers.
    pub async fn start(kind: Kind, programs: &Programs, label: &str) -> Result<Self> {
        Self::start_as(kind, programs, label, None).await
    }

    /// Starts Beacon node `node` of `cluster`.
    pub async fn start_node(
        programs: &Programs,
        label: &str,
        cluster: &ClusterSpec,
        node: &str,
    ) -> Result<Self> {
        Self::start_as(Kind::Beacon, programs, label, Some((cluster, node))).await
    }

    async fn start_as(
        kind: Kind,
        programs: &Programs,
        label: &str,
        cluster: Option<(&ClusterSpec, &str)>,
    ) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "beacon-bench-{}-{}-{label}",
            std::process::id(),
            sys::now_ns()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let spawned = Self::spawn_in(kind, programs, dir.clone(), cluster).await;
        let mut server = match spawned {
            Ok(server) => server,
            Err(err) => {
                remove_dir(&dir);
                return Err(err);
            }
        };
        if let Err(err) = server.wait_healthy().await {
            server.stop().await?;
            return Err(err);
        }
        Ok(server)
    }

    async fn spawn_in(
        kind: Kind,
        programs: &Programs,
        dir: PathBuf,
        cluster: Option<(&ClusterSpec, &str)>,
    ) -> Result<Self> {
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let api_port = std::iter::repeat_with(free_port)
            .find(|p| !matches!(p, Ok(p) if *p == port))
            .expect("endless")?;
        let api_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, api_port));
        let log = std::fs::File::create(dir.join("server.log"))?;
        let (database_url, secret, publish_key) = match cluster {
            Some((cluster, _)) => {
                (cluster.database_url.clone(), cluster.secret.clone(), cluster.publish_key.clone())
            }
            None => (
                format!("sqlite://{}/beacon.db", dir.display()),
                format!("{}{}", random_hex(), random_hex()),
                format!("bench-{}", random_hex()),
            ),
        };
        let mut command = match kind {
            Kind::Beacon => {
                let mut c = Command::new(&programs.beacon_bin);
                if let Some((cluster, node)) = cluster {
                    c.env("BEACON_BUS", "redis")
                        .env("REDIS_URL", &cluster.redis_url)
                        .env("BEACON_REDIS_PREFIX", &cluster.prefix)
                        .env("BEACON_NODE_ID", node)
                        // Per node, as a deployment would size each node's pool.
                        .env("BEACON_DB_MAX_CONNECTIONS", "20");
                }
                c.env("BEACON_BIND", addr.to_string())
                    .env("BEACON_API_BIND", api_addr.to_string())
                    .env("DATABASE_URL", database_url)
                    .env("BEACON_SECRET", secret)
                    .env("BEACON_PUBLISH_KEY", &publish_key)
                    // One principal holds all the fan-out sockets.
                    .env("BEACON_MAX_CONNECTIONS_PER_PRINCIPAL", "1000000")
                    // Tokens fetched during set-up stay valid for the reconnect storm.
                    .env("BEACON_TOKEN_TTL_SECS", "7200")
                    // Resume must never hit retention during a run.
                    .env("BEACON_RETENTION_EVENTS", "100000000")
                    // Every load-generator socket comes from 127.0.0.0/8: the
                    // per-address and whole-server limits are for the internet,
                    // not for a benchmark of thousands of sockets on loopback.
                    .env("BEACON_MAX_SOCKETS_PER_IP", "1000000")
                    .env("BEACON_MAX_SOCKETS", "1000000")
                    .env("BEACON_MAX_LONG_POLLS_PER_IP", "1000000")
                    .env("BEACON_MAX_LONG_POLLS_PER_PRINCIPAL", "1024")
                    .env("BEACON_TOKEN_REQUESTS_PER_IP_PER_MIN", "16000000")
                    .env("BEACON_CONNECT_SESSIONS_PER_IP_PER_MIN", "1000000")
                    .env("LEPTOS_SITE_ROOT", &programs.site_root)
                    .env("RUST_LOG", "warn");
                c
            }
            Kind::Node => {
                let mut c = Command::new(&programs.node);
                c.arg(&programs.node_script)
                    .env("PORT", port.to_string())
                    .env("HOST", "127.0.0.1")
                    .env("NODE_ENV", "production");
                c
            }
        };
        command
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| match kind {
            Kind::Beacon => format!("starting {}", programs.beacon_bin.display()),
            Kind::Node => format!("starting {} {}", programs.node, programs.node_script.display()),
        })?;
        let pid = child.id().context("the server exited at once")?;
        let http = http_client()?;
        let publish_base = match kind {
            Kind::Beacon => format!("http://{api_addr}"),
            Kind::Node => format!("http://{addr}"),
        };
        let api = Api { kind, base: format!("http://{addr}"), publish_base, http, publish_key };
        Ok(Self { kind, child, pid, addr, dir, api })
    }

    async fn wait_healthy(&mut self) -> Result<()> {
        let started = Instant::now();
        let url = self.api.url("/health");
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited during start-up ({status}):\n{}", self.kind.name(), self.log_tail(20));
            }
            if let Ok(response) = self.api.http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{} did not answer {url} within {START_TIMEOUT:?}:\n{}", self.kind.name(), self.log_tail(20))
    }

    /// The WebSocket URL for one socket; `session` is Node's `sessionId`.
    pub fn ws_url(&self, session: &str) -> String {
        match self.kind {
            Kind::Beacon => format!("ws://{}/ws", self.addr),
            Kind::Node => format!("ws://{}/ws/connections?sessionId={session}", self.addr),
        }
    }

    pub fn rss_kib(&self) -> Result<u64> {
        sys::rss_kib(self.pid)
    }

    pub fn cpu_secs(&self) -> Result<f64> {
        sys::cpu_secs(self.pid)
    }

    /// SIGKILL: the node dies the way a crash or power loss kills it.
    pub async fn kill(&mut self) -> Result<()> {
        self.child.kill().await.context("killing the server")
    }

    /// Whether the process is still running (it may have crashed mid-run).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines of the server's output, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Asks the server to stop (SIGTERM), then kills it if it has not exited
    /// within a few seconds, and removes its temporary folder.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        if tokio::time::timeout(Duration::from_secs(8), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
        remove_dir(&self.dir);
        Ok(())
    }
}

fn remove_dir(dir: &Path) {
    if let Err(err) = std::fs::remove_dir_all(dir) {
        eprintln!("  (could not remove {}: {err})", dir.display());
    }
}

impl Api {
    /// The same API with a connection pool of its own, for use on another runtime
    /// (a pool's connections are driven by the runtime that opened them).
    pub fn with_own_connections(&self) -> Result<Self> {
        Ok(Self { http: http_client()?, ..self.clone() })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `http://addr`, for programs that call the server themselves.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The key publish requests carry (Beacon).
    pub fn publish_key(&self) -> &str {
        &self.publish_key
    }

    /// Beacon: a connect token for a new principal (no cookie is sent, so the
    /// server makes one up), as `(token, principal)`.
    pub async fn beacon_token(&self) -> Result<(String, String)> {
        let body: TokenBody =
            self.http.get(self.url("/api/realtime/token")).send().await?.error_for_status()?.json().await?;
        Ok((body.token, body.principal))
    }

    /// Beacon: lets `principal` subscribe to `channel`.
    pub async fn grant(&self, channel: &str, principal: &str) -> Result<()> {
        self.http
            .post(format!("{}/api/realtime/grants", self.publish_base))
            .bearer_auth(&self.publish_key)
            .json(&serde_json::json!({ "channel": channel, "principal": principal }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Sends one event the way each server is fed: Beacon's publish API to
    /// `target` (a channel), or the Node server's webhook for `target` (a
    /// session). `payload` is the JSON object the sockets should receive.
    pub async fn post_event(&self, target: &str, payload: &str) -> Result<Posted> {
        match self.kind {
            Kind::Beacon => {
                let body = format!(r#"{{"channel":"{target}","payload":{payload}}}"#);
                self.http
                    .post(format!("{}/api/realtime/publish", self.publish_base))
                    .bearer_auth(&self.publish_key)
                    .header("content-type", "application/json")
                    .header("accept-encoding", ACCEPT_ENCODING)
                    .body(body)
                    .send()
                    .await?
                    .error_for_status()?;
                Ok(Posted { delivered: None })
            }
            Kind::Node => {
                // The shape of a ConfirmD connection webhook, plus the session it
                // belongs to (the original looked that up in its database).
                let body = format!(
                    r#"{{"id":"evt","type":"Connection","state":"completed","connectionId":"conn-{target}","sessionId":"{target}","theirLabel":"bench","meta":{payload}}}"#
                );
                let response = self
                    .http
                    .post(self.url("/api/webhooks/confirmd"))
                    .header("content-type", "application/json")
                    .header("accept-encoding", ACCEPT_ENCODING)
                    .body(body)
                    .send()
                    .await?
                    .error_for_status()?;
                let body: WebhookBody = response.json().await?;
                Ok(Posted { delivered: Some(body.delivered) })
            }
        }
    }
}
