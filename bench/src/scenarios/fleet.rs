//! A fleet: the sockets of one run against one server, connected with a
//! bounded number of handshakes in flight and stopped within a deadline.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Result, bail};
use futures_util::StreamExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Plan, progress};
use crate::client::{self, Counters, Env, Handler, Spec};
use crate::server::{Kind, Server};

/// Longest a fleet may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(180);
/// Longest the sockets may take to finish after being told to stop.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How the sockets of a fleet identify themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Each socket its own principal (Beacon: `user:<principal>`) or session (Node).
    PerClient,
    /// All sockets on one channel: Beacon `dashboard:bench` granted to one
    /// principal; Node one `sessionId`.
    Shared,
}

/// The sockets of one run against one server.
pub struct Fleet {
    pub counters: Arc<Counters>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
    /// Per socket: where to publish to reach it (Beacon channel, Node session).
    pub targets: Arc<Vec<Arc<str>>>,
    pub connected: usize,
    pub connect_secs: f64,
}

impl Fleet {
    /// Connects `n` sockets and waits until each is subscribed or has failed.
    pub async fn launch(
        server: &Server,
        plan: &Plan,
        n: usize,
        identity: Identity,
        handler: Arc<dyn Handler>,
        storm: Option<watch::Receiver<u64>>,
        label: &str,
    ) -> Result<Self> {
        Self::launch_with_fallback(server, None, plan, n, identity, handler, storm, label).await
    }

    /// Like [`Fleet::launch`]; after a storm the sockets reconnect to
    /// `fallback` (the other node of a cluster) instead of `server`.
    #[allow(clippy::too_many_arguments)]
    pub async fn launch_with_fallback(
        server: &Server,
        fallback: Option<&Server>,
        plan: &Plan,
        n: usize,
        identity: Identity,
        handler: Arc<dyn Handler>,
        storm: Option<watch::Receiver<u64>>,
        label: &str,
    ) -> Result<Self> {
        let started = Instant::now();
        let tag = format!("{:08x}", rand::random::<u32>());
        // Per socket: (target, Beacon token).
        let identities: Vec<(Arc<str>, Option<Arc<str>>)> = match (server.kind, identity) {
            (Kind::Node, Identity::PerClient) => {
                (0..n).map(|i| (Arc::from(format!("s{tag}-{i}")), None)).collect()
            }
            (Kind::Node, Identity::Shared) => {
                let session: Arc<str> = Arc::from(format!("s{tag}-bench"));
                vec![(session, None); n]
            }
            (Kind::Beacon, Identity::Shared) => {
                let (token, principal) = server.api.beacon_token().await?;
                let channel = "dashboard:bench";
                server.api.grant(channel, &principal).await?;
                vec![(Arc::from(channel), Some(Arc::from(token))); n]
            }
            (Kind::Beacon, Identity::PerClient) => {
                progress(label, format!("fetching {n} connect tokens"));
                let api = server.api.clone();
                let fetched: Vec<Result<(String, String)>> = futures_util::stream::iter(0..n)
                    .map(|_| {
                        let api = api.clone();
                        async move { api.beacon_token().await }
                    })
                    .buffer_unordered(32)
                    .collect()
                    .await;
                let mut out = Vec::with_capacity(n);
                for item in fetched {
                    let (token, principal) = item?;
                    out.push((Arc::from(format!("user:{principal}")), Some(Arc::from(token))));
                }
                out
            }
        };
        let counters = Arc::new(Counters::new(n));
        let stop = CancellationToken::new();
        let env = Env {
            handler,
            counters: counters.clone(),
            stop: stop.clone(),
            setup_gate: Arc::new(Semaphore::new(plan.setup_concurrency)),
            storm,
            storm_deadline: plan.storm_deadline,
        };
        let mut tasks = JoinSet::new();
        let mut targets = Vec::with_capacity(n);
        for (index, (target, token)) in identities.into_iter().enumerate() {
            let spec = Spec {
                index,
                server: server.addr,
                source: client::source_addr(index, plan.sources),
                url: Arc::from(server.ws_url(&target)),
                beacon: token.map(|t| (t, target.clone())),
                fallback: fallback.map(|f| (f.addr, Arc::from(f.ws_url(&target)))),
            };
            targets.push(target);
            tasks.spawn(client::run(spec, env.clone()));
        }
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut last_print = Instant::now();
        loop {
            let ready = counters.ready.load(Ordering::Relaxed);
            let failed = counters.failed.load(Ordering::Relaxed);
            if ready + failed >= n {
                break;
            }
            if Instant::now() >= deadline {
                progress(label, format!("connect timed out: {ready}/{n} ready"));
                break;
            }
            if last_print.elapsed() >= Duration::from_secs(2) {
                progress(label, format!("connected {ready}/{n} ({failed} failed)"));
                last_print = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let connect_secs = started.elapsed().as_secs_f64();
        let connected = counters.ready.load(Ordering::Relaxed);
        let failed = counters.failed.load(Ordering::Relaxed);
        progress(label, format!("{connected}/{n} sockets ready in {connect_secs:.1} s ({failed} failed)"));
        if let Some(error) = counters.first_error() {
            progress(label, format!("first socket error: {error}"));
        }
        if connected == 0 {
            stop.cancel();
            bail!("no socket connected to {}", server.kind.name());
        }
        Ok(Self { counters, stop, tasks, targets: Arc::new(targets), connected, connect_secs })
    }

    /// The targets of the sockets that connected.
    pub fn connected_targets(&self) -> Arc<Vec<Arc<str>>> {
        let up = self
            .targets
            .iter()
            .zip(&self.counters.came_up)
            .filter(|(_, up)| up.load(Ordering::Relaxed))
            .map(|(t, _)| t.clone())
            .collect();
        Arc::new(up)
    }

    /// Tells every socket to close and waits (bounded) for their tasks.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, all).await.is_err() {
            self.tasks.abort_all();
        }
    }
}
