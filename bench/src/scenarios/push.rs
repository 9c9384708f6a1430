//! Scenario 2: push latency. N watchers, each its own principal (Beacon
//! `user:<principal>`) or session (Node); events posted at a fixed rate, each
//! to the next watcher in turn, through Beacon's publish API or the Node
//! server's webhook. Latency: from the start of the POST to the frame's
//! arrival on the watching socket.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use super::{Fleet, Identity, Plan, Tally, cpu, cpu_between, drain, percentile, progress, spawn_publisher};
use crate::client::{Handler, Mark};
use crate::server::{Kind, Programs, Server};
use crate::sys;

#[derive(Debug, Clone)]
pub struct PushRun {
    pub kind: Kind,
    pub watchers: usize,
    pub rate: u32,
    pub publish_secs: f64,
    pub attempted: u64,
    pub accepted: u64,
    pub failed_posts: u64,
    pub skipped_ticks: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Sorted latencies in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// `None` when a CPU reading failed.
    pub server_cpu_secs: Option<f64>,
    /// POST answer time p50 and p99, in milliseconds.
    pub answer_ms: (Option<f64>, Option<f64>),
    pub frame_bytes: f64,
}

impl PushRun {
    pub fn latency_ms(&self, p: f64) -> Option<f64> {
        percentile(&self.latencies_ns, p).map(|ns| ns as f64 / 1e6)
    }

    pub fn achieved_rate(&self) -> f64 {
        self.accepted as f64 / self.publish_secs.max(1e-9)
    }

    /// The server's CPU while publishing, shared out over the events it took.
    pub fn cpu_per_event_us(&self) -> Option<f64> {
        let secs = self.server_cpu_secs?;
        (self.accepted > 0).then(|| secs * 1e6 / self.accepted as f64)
    }
}

struct Watch {
    received: Vec<AtomicU8>,
    latencies: Mutex<Vec<u64>>,
    count: AtomicU64,
    bytes: AtomicU64,
}

impl Handler for Watch {
    fn on_event(&self, _: usize, mark: Mark, bytes: usize, _: bool) {
        let latency = sys::now_ns().saturating_sub(mark.t);
        if let Some(slot) = self.received.get(mark.n as usize) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.latencies.lock().expect("latency lock").push(latency);
    }
}

pub async fn run(kind: Kind, programs: &Programs, plan: &Plan) -> Result<PushRun> {
    let label = format!("push/{}", kind.name());
    let server = Server::start(kind, programs, "push").await?;
    let capacity = (f64::from(plan.rate) * plan.push_duration.as_secs_f64() * 1.1) as usize + 16;
    let watch = Arc::new(Watch {
        received: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
        latencies: Mutex::new(Vec::with_capacity(capacity)),
        count: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    });
    progress(&label, format!("connecting {} watchers", plan.watchers));
    let fleet =
        match Fleet::launch(&server, plan, plan.watchers, Identity::PerClient, watch.clone(), None, &label)
            .await
        {
            Ok(fleet) => fleet,
            Err(err) => {
                server.stop().await?;
                return Err(err);
            }
        };
    // Only sockets that connected are sent to.
    let targets = fleet.connected_targets();
    tokio::time::sleep(Duration::from_millis(500)).await;
    progress(
        &label,
        format!("publishing {}/s for {:?} to {} watchers", plan.rate, plan.push_duration, fleet.connected),
    );
    let tally = Arc::new(Tally::new(capacity));
    let cpu_before = cpu(&server);
    let started = std::time::Instant::now();
    let publisher = spawn_publisher(
        &server.api,
        targets,
        plan.rate,
        plan.payload_bytes,
        tally.clone(),
        CancellationToken::new(),
        plan.push_duration,
    )?;
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    ticker.tick().await;
    while !publisher.is_finished() {
        tokio::select! {
            _ = ticker.tick() => progress(&label, format!(
                "posted {} received {}",
                tally.ok.load(Ordering::Relaxed),
                watch.count.load(Ordering::Relaxed)
            )),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    let _ = publisher.await;
    let publish_secs = started.elapsed().as_secs_f64();
    let accepted = tally.ok.load(Ordering::Relaxed);
    drain(&watch.count, Duration::from_secs(2), || watch.count.load(Ordering::Relaxed) >= accepted).await;
    let server_cpu_secs = cpu_between(cpu_before, cpu(&server));
    let mut lost = 0;
    let mut duplicates = 0;
    for (n, accepted) in tally.accepted.iter().enumerate() {
        if accepted.load(Ordering::Relaxed) {
            match watch.received[n].load(Ordering::Relaxed) {
                0 => lost += 1,
                1 => {}
                _ => duplicates += 1,
            }
        }
    }
    let mut latencies_ns = std::mem::take(&mut *watch.latencies.lock().expect("latency lock"));
    latencies_ns.sort_unstable();
    let received = watch.count.load(Ordering::Relaxed);
    let result = PushRun {
        kind,
        watchers: fleet.connected,
        rate: plan.rate,
        publish_secs,
        attempted: tally.attempted.load(Ordering::Relaxed),
        accepted,
        failed_posts: tally.failed.load(Ordering::Relaxed),
        skipped_ticks: tally.skipped.load(Ordering::Relaxed),
        received,
        lost,
        duplicates,
        latencies_ns,
        server_cpu_secs,
        answer_ms: (tally.answer_ms(50.0), tally.answer_ms(99.0)),
        frame_bytes: watch.bytes.load(Ordering::Relaxed) as f64 / received.max(1) as f64,
    };
    progress(
        &label,
        format!(
            "{} events, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, lost {}",
            result.accepted,
            result.latency_ms(50.0).unwrap_or(f64::NAN),
            result.latency_ms(99.0).unwrap_or(f64::NAN),
            result.latency_ms(99.9).unwrap_or(f64::NAN),
            result.lost
        ),
    );
    tally.report_error(&label);
    if tally.failed.load(Ordering::Relaxed) > 0 {
        progress(&label, format!("server log, last lines:\n{}", server.log_tail(5)));
    }
    fleet.shutdown().await;
    server.stop().await?;
    Ok(result)
}
