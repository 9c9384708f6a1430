//! Scenario 4: reconnect storm. N clients, each its own principal (Beacon
//! `user:<principal>`) or session (Node), while events are posted at a fixed
//! rate, each to the next client in turn. Then every client drops its socket
//! at once (no close handshake, like a network blip) and reconnects at once:
//! Beacon clients resubscribe with `since` = the last seq they saw and get the
//! gap replayed before the ack; Node clients just reconnect (no resume exists).
//!
//! Caught up: Beacon, the subscribe's ack (sent after the replay); Node, the
//! `connected` greeting. Lost: events the server accepted (HTTP 200) that never
//! reached their client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    Fleet, Identity, Plan, Tally, cpu_between, cpu_sum, drain, percentile, progress, spawn_publisher,
};
use crate::client::{Handler, Mark};
use crate::server::{ClusterSpec, Kind, Programs, Server};
use crate::sys;

#[derive(Debug, Clone)]
pub struct StormRun {
    pub kind: Kind,
    pub clients: usize,
    pub back: usize,
    pub failed: usize,
    /// From the drop until the last client was caught up (None: not all came back).
    pub all_caught_up_secs: Option<f64>,
    /// Sorted per-client times from the drop to caught up, in nanoseconds.
    pub back_ns: Vec<u64>,
    pub accepted: u64,
    pub lost: u64,
    /// Lost events that were posted between the drop and the last reconnect.
    pub lost_during_storm: u64,
    pub posted_during_storm: u64,
    pub duplicates: u64,
    pub replayed: u64,
    pub resets: usize,
    /// Reconnect attempts that failed and were retried.
    pub retries: usize,
    /// Node: webhooks answered `delivered: 0` (nobody was listening).
    pub sent_to_nobody: u64,
    pub failed_posts: u64,
    /// Publisher ticks skipped because 256 POSTs were already waiting.
    pub skipped_ticks: u64,
    /// POST answer time p50, p99 and max over the run, in milliseconds.
    pub answer_ms: (Option<f64>, Option<f64>, Option<f64>),
    /// CPU of the server(s) still up, from the drop until the last client was
    /// back (the publishing meanwhile included); `None` when a reading failed.
    pub server_cpu_secs: Option<f64>,
    /// CPU the load generator itself used in the same window.
    pub client_cpu_secs: Option<f64>,
}

impl StormRun {
    pub fn back_ms(&self, p: f64) -> Option<f64> {
        percentile(&self.back_ns, p).map(|ns| ns as f64 / 1e6)
    }

    /// Server CPU per client that came back, in microseconds.
    pub fn server_cpu_per_reconnect_us(&self) -> Option<f64> {
        (self.back > 0).then(|| self.server_cpu_secs.map(|s| s * 1e6 / self.back as f64)).flatten()
    }
}

struct Track {
    received: Vec<AtomicU8>,
    /// Per event: when it was posted (ns), to tell storm-time events apart.
    storm_start_ns: AtomicU64,
    back_at_ns: Vec<AtomicU64>,
    back: AtomicUsize,
    replayed: AtomicU64,
    count: AtomicU64,
}

impl Handler for Track {
    fn on_event(&self, _: usize, mark: Mark, _: usize, replayed: bool) {
        if let Some(slot) = self.received.get(mark.n as usize) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        if replayed {
            self.replayed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_back(&self, client: usize) {
        if let Some(slot) = self.back_at_ns.get(client) {
            slot.store(sys::now_ns(), Ordering::Relaxed);
        }
        self.back.fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn run(kind: Kind, programs: &Programs, plan: &Plan) -> Result<StormRun> {
    let server = Server::start(kind, programs, "storm").await?;
    run_on(vec![server], plan, &format!("storm/{}", kind.name())).await
}

/// Two Beacon nodes: every client on node A, events posted to node B; the
/// storm is node A killed (SIGKILL), and every client comes back on node B
/// with `since`.
pub async fn run_cluster(programs: &Programs, plan: &Plan, cluster: &ClusterSpec) -> Result<StormRun> {
    let nodes = super::start_pair(programs, "storm", cluster).await?;
    run_on(nodes, plan, "storm/2 nodes").await
}

/// With one server it is everything; with two, the clients start on the
/// first, the publisher and the reconnects use the second, and the storm
/// kills the first.
async fn run_on(mut servers: Vec<Server>, plan: &Plan, label: &str) -> Result<StormRun> {
    let label = label.to_owned();
    let kind = servers[0].kind;
    let two_nodes = servers.len() > 1;
    let max_publish = plan.storm_before + plan.storm_deadline + plan.storm_after;
    let capacity = (f64::from(plan.storm_rate) * max_publish.as_secs_f64() * 1.1) as usize + 16;
    let track = Arc::new(Track {
        received: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
        storm_start_ns: AtomicU64::new(u64::MAX),
        back_at_ns: (0..plan.storm_clients).map(|_| AtomicU64::new(0)).collect(),
        back: AtomicUsize::new(0),
        replayed: AtomicU64::new(0),
        count: AtomicU64::new(0),
    });
    let (storm_tx, storm_rx) = watch::channel(0u64);
    progress(&label, format!("connecting {} clients", plan.storm_clients));
    let (server, survivor) = (&servers[0], &servers[servers.len() - 1]);
    let fleet = match Fleet::launch_with_fallback(
        server,
        two_nodes.then_some(survivor),
        plan,
        plan.storm_clients,
        Identity::PerClient,
        track.clone(),
        Some(storm_rx),
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
    let clients = fleet.connected;
    let targets = fleet.connected_targets();
    let tally = Arc::new(Tally::new(capacity));
    let stop_publishing = CancellationToken::new();
    progress(
        &label,
        format!(
            "publishing {}/s; dropping all {} sockets in {:?}",
            plan.storm_rate, clients, plan.storm_before
        ),
    );
    let publisher = spawn_publisher(
        &survivor.api,
        targets,
        plan.storm_rate,
        plan.payload_bytes,
        tally.clone(),
        stop_publishing.clone(),
        max_publish,
    )?;
    tokio::time::sleep(plan.storm_before).await;

    let posted_before_storm = tally.attempted.load(Ordering::Relaxed);
    let survivors = &servers[servers.len() - 1..];
    let server_cpu_before = cpu_sum(survivors);
    let client_cpu_before = sys::cpu_secs(std::process::id()).ok();
    let storm_ns = sys::now_ns();
    track.storm_start_ns.store(storm_ns, Ordering::Relaxed);
    // The signal first: a client whose socket died before it heard it would
    // count as closed by the server instead of reconnecting.
    let _ = storm_tx.send(1);
    if two_nodes {
        servers[0].kill().await?;
    }
    progress(
        &label,
        if two_nodes {
            "storm: node A killed, every client reconnecting to node B"
        } else {
            "storm: every socket dropped, reconnecting"
        },
    );
    let storm_started = Instant::now();
    let mut last_print = Instant::now();
    let deadline = storm_started + plan.storm_deadline + Duration::from_secs(1);
    loop {
        let back = track.back.load(Ordering::Relaxed);
        let failed = fleet.counters.failed.load(Ordering::Relaxed);
        if back + failed >= clients || Instant::now() >= deadline {
            break;
        }
        if last_print.elapsed() >= Duration::from_millis(500) {
            progress(&label, format!("{back}/{clients} back ({failed} gave up)"));
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let posted_by_last_back = tally.attempted.load(Ordering::Relaxed);
    let server_cpu_secs = cpu_between(server_cpu_before, cpu_sum(&servers[servers.len() - 1..]));
    let client_cpu_secs = cpu_between(client_cpu_before, sys::cpu_secs(std::process::id()).ok());
    let back = track.back.load(Ordering::Relaxed);
    progress(
        &label,
        format!(
            "{back}/{clients} back after {:.2} s; publishing {:?} more",
            storm_started.elapsed().as_secs_f64(),
            plan.storm_after
        ),
    );
    tokio::time::sleep(plan.storm_after).await;
    stop_publishing.cancel();
    let _ = publisher.await;
    let accepted = tally.ok.load(Ordering::Relaxed);
    // Let the last events arrive (every accepted one, or the drain time).
    let expected_received = || {
        tally
            .accepted
            .iter()
            .zip(&track.received)
            .filter(|(a, r)| a.load(Ordering::Relaxed) && r.load(Ordering::Relaxed) == 0)
            .count()
            == 0
    };
    drain(&track.count, Duration::from_secs(2), expected_received).await;

    let mut lost = 0;
    let mut lost_during_storm = 0;
    let mut duplicates = 0;
    let mut sent_to_nobody = 0;
    for n in 0..tally.capacity() {
        if !tally.accepted[n].load(Ordering::Relaxed) {
            continue;
        }
        if tally.to_nobody[n].load(Ordering::Relaxed) {
            sent_to_nobody += 1;
        }
        match track.received[n].load(Ordering::Relaxed) {
            0 => {
                lost += 1;
                if (posted_before_storm..posted_by_last_back).contains(&(n as u64)) {
                    lost_during_storm += 1;
                }
            }
            1 => {}
            _ => duplicates += 1,
        }
    }
    let mut back_ns: Vec<u64> = track
        .back_at_ns
        .iter()
        .map(|t| t.load(Ordering::Relaxed))
        .filter(|&t| t > 0)
        .map(|t| t.saturating_sub(storm_ns))
        .collect();
    back_ns.sort_unstable();
    let failed = fleet.counters.failed.load(Ordering::Relaxed);
    let all_caught_up_secs = (back >= clients).then(|| back_ns.last().map(|&ns| ns as f64 / 1e9)).flatten();
    let result = StormRun {
        kind,
        clients,
        back,
        failed,
        all_caught_up_secs,
        back_ns,
        accepted,
        lost,
        lost_during_storm,
        posted_during_storm: posted_by_last_back.saturating_sub(posted_before_storm),
        duplicates,
        replayed: track.replayed.load(Ordering::Relaxed),
        resets: fleet.counters.resets.load(Ordering::Relaxed),
        retries: fleet.counters.retries.load(Ordering::Relaxed),
        sent_to_nobody,
        failed_posts: tally.failed.load(Ordering::Relaxed),
        skipped_ticks: tally.skipped.load(Ordering::Relaxed),
        answer_ms: (tally.answer_ms(50.0), tally.answer_ms(99.0), tally.answer_ms(100.0)),
        server_cpu_secs,
        client_cpu_secs,
    };
    progress(
        &label,
        format!(
            "all caught up after {}, {} of {} events lost, {} replayed, {} duplicates",
            result.all_caught_up_secs.map_or("(not all came back)".to_owned(), |s| format!("{s:.2} s")),
            result.lost,
            result.accepted,
            result.replayed,
            result.duplicates
        ),
    );
    if let Some(error) = fleet.counters.first_error() {
        progress(&label, format!("first socket error: {error}"));
    }
    tally.report_error(&label);
    if tally.failed.load(Ordering::Relaxed) > 0 {
        progress(&label, format!("server log, last lines:\n{}", servers[servers.len() - 1].log_tail(5)));
    }
    fleet.shutdown().await;
    super::stop_all(servers).await?;
    Ok(result)
}
