//! The scenarios, and what they share: a fleet of sockets against one
//! server, the publishers, and the event payload.
//!
//! Every loop here is bounded by a count and by a deadline.

pub mod browser;
pub mod chat;
pub mod fanout;
pub mod idle;
pub mod pages;
pub mod push;
pub mod storm;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use futures_util::StreamExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Counters, Env, Handler, Spec};
use crate::server::{Api, ClusterSpec, Kind, Programs, Server};
use crate::sys;

/// Sizes and durations of one invocation.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    /// Loopback source addresses the sockets are spread over (127.0.0.1 ..= .N).
    pub sources: usize,
    /// Most sockets one server run may hold (from the fd limit).
    pub socket_cap: usize,
    pub idle_sockets: usize,
    pub idle_hold: Duration,
    pub watchers: usize,
    pub rate: u32,
    pub push_duration: Duration,
    pub fanout_subscribers: usize,
    pub fanout_duration: Duration,
    /// Events in flight at once in the fan-out (published, not yet everywhere).
    pub fanout_window: usize,
    pub payload_bytes: usize,
    pub storm_clients: usize,
    pub storm_rate: u32,
    /// Publishing before the drop and after everyone is back.
    pub storm_before: Duration,
    pub storm_after: Duration,
    /// Longest a socket keeps trying to come back.
    pub storm_deadline: Duration,
    /// Handshakes in flight at once while a fleet connects (not in the storm).
    pub setup_concurrency: usize,
    pub chat_conversations: usize,
    pub chat_members: usize,
    pub chat_duration: Duration,
}

/// Longest a fleet may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(180);
/// Longest the sockets may take to finish after being told to stop.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the last events may take to arrive after publishing stopped.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent publish requests at most (beyond that a tick is skipped and counted).
const MAX_IN_FLIGHT: usize = 256;

/// Prints a progress line with the time since the start.
pub fn progress(label: &str, message: impl AsRef<str>) {
    let secs = sys::now_ns() as f64 / 1e9;
    println!("[{secs:7.1}s] {label:<14} {}", message.as_ref());
}

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

/// The JSON object every event carries: its number, when it was posted, and
/// padding up to `bytes` in total.
pub fn payload(n: u64, t: u64, bytes: usize) -> String {
    let bare = format!(r#"{{"n":{n},"t":{t},"p":""}}"#);
    let pad = bytes.saturating_sub(bare.len());
    format!(r#"{{"n":{n},"t":{t},"p":"{}"}}"#, "x".repeat(pad))
}

/// What a publisher did.
#[derive(Debug)]
pub struct Tally {
    /// Per event number: the server accepted it (HTTP 200).
    pub accepted: Vec<AtomicBool>,
    /// Node: per event number, the webhook's `delivered` was 0 (nobody listening).
    pub to_nobody: Vec<AtomicBool>,
    /// Per event number: its POST failed (error or timeout).
    pub rejected: Vec<AtomicBool>,
    pub attempted: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    /// Ticks skipped because too many requests were in flight.
    pub skipped: AtomicU64,
    /// How long each accepted POST took until its answer, in nanoseconds.
    pub answer_ns: std::sync::Mutex<Vec<u64>>,
    /// The first failed POST's error, for the progress output.
    pub first_error: std::sync::Mutex<Option<String>>,
}

impl Tally {
    pub fn new(capacity: usize) -> Self {
        Self {
            accepted: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
            to_nobody: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
            rejected: (0..capacity).map(|_| AtomicBool::new(false)).collect(),
            attempted: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            answer_ns: std::sync::Mutex::new(Vec::with_capacity(capacity)),
            first_error: std::sync::Mutex::new(None),
        }
    }

    /// Percentile `p` of the POSTs' answer times, in milliseconds.
    pub fn answer_ms(&self, p: f64) -> Option<f64> {
        let mut times = self.answer_ns.lock().expect("answer lock").clone();
        times.sort_unstable();
        percentile(&times, p).map(|ns| ns as f64 / 1e6)
    }

    pub fn capacity(&self) -> usize {
        self.accepted.len()
    }

    /// Prints the first failed POST, if any.
    pub fn report_error(&self, label: &str) {
        if let Some(error) = self.first_error.lock().expect("error lock").as_ref() {
            let failed = self.failed.load(Ordering::Relaxed);
            progress(label, format!("{failed} POSTs failed; the first: {error}"));
        }
    }
}

/// Posts one event, numbered `n`, and records the outcome.
pub async fn post_one(api: &Api, tally: &Tally, target: &str, n: u64, bytes: usize) {
    tally.attempted.fetch_add(1, Ordering::Relaxed);
    let sent_ns = sys::now_ns();
    let body = payload(n, sent_ns, bytes);
    match api.post_event(target, &body).await {
        Ok(posted) => {
            let took = sys::now_ns().saturating_sub(sent_ns);
            tally.answer_ns.lock().expect("answer lock").push(took);
            tally.ok.fetch_add(1, Ordering::Relaxed);
            tally.accepted[n as usize].store(true, Ordering::Relaxed);
            if posted.delivered == Some(0) {
                tally.to_nobody[n as usize].store(true, Ordering::Relaxed);
            }
        }
        Err(err) => {
            tally.failed.fetch_add(1, Ordering::Relaxed);
            tally.rejected[n as usize].store(true, Ordering::Relaxed);
            let took = Duration::from_nanos(sys::now_ns().saturating_sub(sent_ns));
            let mut first = tally.first_error.lock().expect("error lock");
            if first.is_none() {
                *first = Some(format!("event {n} after {took:.1?}: {err:#}"));
            }
        }
    }
}

/// Runs [`publish_at_rate`] on a thread and runtime of its own, with its own
/// HTTP connections: in a deployment the publisher is another service, not a
/// task queued behind the load generator's thousands of sockets (which would
/// add the generator's own delays to every POST's answer time).
pub fn spawn_publisher(
    api: &Api,
    targets: Arc<Vec<Arc<str>>>,
    rate: u32,
    payload_bytes: usize,
    tally: Arc<Tally>,
    stop: CancellationToken,
    max_duration: Duration,
) -> Result<tokio::task::JoinHandle<u64>> {
    let api = api.with_own_connections()?;
    let (done, posted) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("publisher".into()).spawn(move || {
        let n =
            runtime.block_on(publish_at_rate(api, targets, rate, payload_bytes, tally, stop, max_duration));
        let _ = done.send(n);
    })?;
    Ok(tokio::spawn(async move { posted.await.unwrap_or_default() }))
}

/// Posts events at a fixed rate, event `n` to `targets[n % len]`, until
/// `stop` fires, `max_duration` passes or the tally is full. Returns the
/// number of events started.
pub async fn publish_at_rate(
    api: Api,
    targets: Arc<Vec<Arc<str>>>,
    rate: u32,
    payload_bytes: usize,
    tally: Arc<Tally>,
    stop: CancellationToken,
    max_duration: Duration,
) -> u64 {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let end = Instant::now() + max_duration;
    let mut requests = JoinSet::new();
    let mut n = 0u64;
    while (n as usize) < tally.capacity() && Instant::now() < end {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            tally.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let target = targets[n as usize % targets.len()].clone();
        let (api, tally) = (api.clone(), tally.clone());
        requests.spawn(async move {
            post_one(&api, &tally, &target, n, payload_bytes).await;
            drop(permit);
        });
        n += 1;
        // Reap finished requests so the set stays small.
        while requests.try_join_next().is_some() {}
    }
    let all = async { while requests.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, all).await.is_err() {
        requests.abort_all();
    }
    n
}

/// `p` (0..=100) percentile of sorted values (nearest rank).
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    // The epsilon keeps 99.9 % of 1000 at rank 999 despite binary fractions.
    let rank = ((p / 100.0) * sorted.len() as f64 - 1e-9).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Waits until `done()` holds, or `received` has not moved for `quiet`, or
/// `timeout` passed: events that were lost never come, so waiting out the
/// whole timeout for them would only slow the run down.
pub async fn drain(received: &AtomicU64, quiet: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut seen = received.load(Ordering::Relaxed);
    let mut moved_at = Instant::now();
    while !done() && Instant::now() < deadline && moved_at.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = received.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            moved_at = Instant::now();
        }
    }
}

/// One server's resident memory, in KiB; `None` when it cannot be read (the
/// process is gone, /proc is not there): never a made-up 0.
pub fn rss(server: &Server) -> Option<u64> {
    server.rss_kib().ok()
}

/// One server's CPU seconds so far; `None` when it cannot be read.
pub fn cpu(server: &Server) -> Option<f64> {
    server.cpu_secs().ok()
}

/// The CPU seconds of all `servers` together, when every reading succeeded.
pub fn cpu_sum(servers: &[Server]) -> Option<f64> {
    servers.iter().map(cpu).sum()
}

/// Stops every server (the first error is returned after all were stopped).
pub async fn stop_all(servers: Vec<Server>) -> Result<()> {
    let mut first = Ok(());
    for server in servers {
        let stopped = server.stop().await;
        if first.is_ok() {
            first = stopped;
        }
    }
    first
}

/// Starts nodes A and B of `cluster`.
pub async fn start_pair(programs: &Programs, label: &str, cluster: &ClusterSpec) -> Result<Vec<Server>> {
    let a = Server::start_node(programs, &format!("{label}-a"), cluster, "a").await?;
    match Server::start_node(programs, &format!("{label}-b"), cluster, "b").await {
        Ok(b) => Ok(vec![a, b]),
        Err(err) => {
            a.stop().await?;
            Err(err)
        }
    }
}

/// CPU seconds spent between two readings, when both succeeded.
pub fn cpu_between(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    Some(after? - before?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_requested_size() {
        for (n, t) in [(0, 0), (7, 123_456_789), (99_999, u64::MAX / 3)] {
            let body = payload(n, t, 100);
            assert_eq!(body.len(), 100, "{body}");
            let mark: crate::client::Mark = serde_json::from_str(&body).unwrap();
            assert_eq!((mark.n, mark.t), (n, t));
        }
        // Too small a size still yields a valid mark.
        assert!(payload(1, 2, 5).contains("\"p\":\"\""));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&values, 50.0), Some(500));
        assert_eq!(percentile(&values, 99.0), Some(990));
        assert_eq!(percentile(&values, 99.9), Some(999));
        assert_eq!(percentile(&values, 100.0), Some(1000));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[5], 0.0), Some(5));
    }
}
