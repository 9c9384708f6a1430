//! Scenario 3: fan-out. Every socket on one channel (Beacon `dashboard:bench`,
//! Node one session), events of `payload_bytes` posted back to back with a
//! fixed window in flight: event k is posted once event k - window has reached
//! every socket. That keeps the servers saturated without letting queues grow
//! without bound, so the figure is deliveries per second at saturation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{DRAIN_TIMEOUT, Fleet, Identity, Plan, Tally, cpu_between, post_one, progress};
use crate::client::{Handler, Mark};
use crate::server::{ClusterSpec, Kind, Programs, Server};
use crate::sys;

/// Most events one fan-out run may post.
const MAX_EVENTS: usize = 500_000;
/// Longest one event may take to reach every socket before the run stops.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct FanoutRun {
    pub kind: Kind,
    pub subscribers: usize,
    pub events: u64,
    pub deliveries: u64,
    /// Deliveries that should have happened but did not (sockets lost, stall).
    pub missing: u64,
    pub secs: f64,
    /// `None` when a CPU reading failed.
    pub server_cpu_secs: Option<f64>,
    /// CPU the load generator itself used meanwhile (it shares the machine).
    pub client_cpu_secs: Option<f64>,
    pub frame_bytes: f64,
    pub closed_by_server: usize,
    pub failed_posts: u64,
    /// Why the run stopped early: an event that did not reach every socket in time.
    pub stall: Option<String>,
}

impl FanoutRun {
    pub fn deliveries_per_sec(&self) -> f64 {
        self.deliveries as f64 / self.secs.max(1e-9)
    }

    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }
}

struct Count {
    per_event: Vec<AtomicU32>,
    /// Deliveries that complete an event (reach `target`) wake the publisher.
    target: AtomicUsize,
    done: Notify,
    deliveries: AtomicU64,
    bytes: AtomicU64,
    last_ns: AtomicU64,
}

impl Handler for Count {
    fn on_event(&self, _: usize, mark: Mark, bytes: usize, _: bool) {
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.last_ns.fetch_max(sys::now_ns(), Ordering::Relaxed);
        if let Some(slot) = self.per_event.get(mark.n as usize) {
            let seen = slot.fetch_add(1, Ordering::AcqRel) + 1;
            if seen as usize >= self.target.load(Ordering::Relaxed) {
                self.done.notify_one();
            }
        }
    }
}

impl Count {
    /// Waits until event `n` reached every socket still connected, or its
    /// POST failed (then it never will).
    async fn complete(&self, n: usize, ready: &AtomicUsize, tally: &Tally, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let want = ready.load(Ordering::Relaxed).max(1);
            self.target.store(want, Ordering::Relaxed);
            if self.per_event[n].load(Ordering::Acquire) as usize >= want
                || tally.rejected[n].load(Ordering::Relaxed)
            {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // Re-check now and then: a socket closing lowers the target.
            let nap = (deadline - now).min(Duration::from_millis(100));
            let _ = tokio::time::timeout(nap, self.done.notified()).await;
        }
    }
}

pub async fn run(kind: Kind, programs: &Programs, plan: &Plan) -> Result<FanoutRun> {
    let server = Server::start(kind, programs, "fanout").await?;
    run_on(vec![server], plan, &format!("fanout/{}", kind.name())).await
}

/// Two Beacon nodes: every subscriber on node B, every event posted to node A,
/// so each delivery crosses from one node to the other through Redis.
pub async fn run_cluster(programs: &Programs, plan: &Plan, cluster: &ClusterSpec) -> Result<FanoutRun> {
    let nodes = super::start_pair(programs, "fanout", cluster).await?;
    run_on(nodes, plan, "fanout/2 nodes").await
}

/// Publishes to the first of `servers`, subscribes on the last; the CPU
/// figure is theirs together.
async fn run_on(servers: Vec<Server>, plan: &Plan, label: &str) -> Result<FanoutRun> {
    let label = label.to_owned();
    let kind = servers[0].kind;
    let (server, subscribe_on) = (&servers[0], &servers[servers.len() - 1]);
    let count = Arc::new(Count {
        per_event: (0..MAX_EVENTS).map(|_| AtomicU32::new(0)).collect(),
        target: AtomicUsize::new(usize::MAX),
        done: Notify::new(),
        deliveries: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        last_ns: AtomicU64::new(0),
    });
    progress(&label, format!("connecting {} subscribers to one channel", plan.fanout_subscribers));
    let fleet = match Fleet::launch(
        subscribe_on,
        plan,
        plan.fanout_subscribers,
        Identity::Shared,
        count.clone(),
        None,
        &label,
    )
    .await
    {
        Ok(fleet) => fleet,
        Err(err) => {
            super::stop_all(servers).await?;
            return Err(err);
        }
    };
    let target = fleet.targets[0].clone();
    tokio::time::sleep(Duration::from_millis(500)).await;
    progress(
        &label,
        format!(
            "posting {}-byte events with {} in flight for {:?}",
            plan.payload_bytes, plan.fanout_window, plan.fanout_duration
        ),
    );
    let tally = Arc::new(Tally::new(MAX_EVENTS));
    let cpu_before = super::cpu_sum(&servers);
    let own_cpu_before = sys::cpu_secs(std::process::id()).ok();
    let start_ns = sys::now_ns();
    let started = Instant::now();
    let end = started + plan.fanout_duration;
    let mut posts = JoinSet::new();
    let mut posted = 0usize;
    let mut stall: Option<String> = None;
    let describe = |n: usize, waited: Duration| {
        format!(
            "event {n} reached {} of {} sockets in {waited:?} (its POST {})",
            count.per_event[n].load(Ordering::Relaxed),
            fleet.counters.ready.load(Ordering::Relaxed),
            if tally.accepted[n].load(Ordering::Relaxed) { "was accepted" } else { "had not been accepted" }
        )
    };
    let mut last_print = Instant::now();
    while posted < MAX_EVENTS && Instant::now() < end {
        if posted >= plan.fanout_window {
            let oldest = posted - plan.fanout_window;
            if !count.complete(oldest, &fleet.counters.ready, &tally, EVENT_TIMEOUT).await {
                stall = Some(describe(oldest, EVENT_TIMEOUT));
                break;
            }
        }
        let (api, tally, target) = (server.api.clone(), tally.clone(), target.clone());
        let n = posted as u64;
        let bytes = plan.payload_bytes;
        posts.spawn(async move { post_one(&api, &tally, &target, n, bytes).await });
        posted += 1;
        while posts.try_join_next().is_some() {}
        if last_print.elapsed() >= Duration::from_secs(2) {
            let secs = started.elapsed().as_secs_f64();
            progress(
                &label,
                format!(
                    "{posted} events, {:.0} deliveries/s",
                    count.deliveries.load(Ordering::Relaxed) as f64 / secs
                ),
            );
            last_print = Instant::now();
        }
    }
    // The window's last events.
    for n in posted.saturating_sub(plan.fanout_window)..posted {
        if stall.is_some() {
            break;
        }
        if !count.complete(n, &fleet.counters.ready, &tally, DRAIN_TIMEOUT).await {
            stall = Some(describe(n, DRAIN_TIMEOUT));
        }
    }
    let drain = async { while posts.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        posts.abort_all();
    }
    let server_cpu_secs = cpu_between(cpu_before, super::cpu_sum(&servers));
    let client_cpu_secs = cpu_between(own_cpu_before, sys::cpu_secs(std::process::id()).ok());
    let last_ns = count.last_ns.load(Ordering::Relaxed).max(start_ns + 1);
    let secs = (last_ns - start_ns) as f64 / 1e9;
    let deliveries = count.deliveries.load(Ordering::Relaxed);
    let events = tally.ok.load(Ordering::Relaxed);
    let subscribers = fleet.connected;
    let result = FanoutRun {
        kind,
        subscribers,
        events,
        deliveries,
        missing: (events * subscribers as u64).saturating_sub(deliveries),
        secs,
        server_cpu_secs,
        client_cpu_secs,
        frame_bytes: count.bytes.load(Ordering::Relaxed) as f64 / deliveries.max(1) as f64,
        closed_by_server: fleet.counters.closed_by_server.load(Ordering::Relaxed),
        failed_posts: tally.failed.load(Ordering::Relaxed),
        stall,
    };
    progress(
        &label,
        format!(
            "{} events to {} sockets in {:.1} s: {:.0} deliveries/s ({} missing, {} sockets closed by the server{})",
            result.events,
            result.subscribers,
            result.secs,
            result.deliveries_per_sec(),
            result.missing,
            result.closed_by_server,
            result.stall.as_deref().map(|s| format!("; stopped early: {s}")).unwrap_or_default()
        ),
    );
    tally.report_error(&label);
    if tally.failed.load(Ordering::Relaxed) > 0 {
        progress(&label, format!("server log, last lines:\n{}", server.log_tail(5)));
    }
    fleet.shutdown().await;
    super::stop_all(servers).await?;
    Ok(result)
}
