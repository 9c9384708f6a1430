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

mod fleet;
mod publish;

pub use fleet::{Fleet, Identity};
pub use publish::{Tally, post_one, spawn_publisher};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use crate::server::{ClusterSpec, Programs, Server};
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

/// Longest the last events may take to arrive after publishing stopped.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Prints a progress line with the time since the start.
pub fn progress(label: &str, message: impl AsRef<str>) {
    let secs = sys::now_ns() as f64 / 1e9;
    println!("[{secs:7.1}s] {label:<14} {}", message.as_ref());
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
