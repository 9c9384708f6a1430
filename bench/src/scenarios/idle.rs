//! Scenario 1: idle sockets. Connect as many sockets as fit (each its own
//! principal subscribed to its own `user:` channel on Beacon, its own session
//! on Node), hold them idle, and read the server's resident memory before and
//! after.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;

use super::{Fleet, Identity, Plan, progress, rss};
use crate::client::{Handler, Mark};
use crate::server::{Kind, Programs, Server};

/// One server's idle run.
#[derive(Debug, Clone)]
pub struct IdleRun {
    pub kind: Kind,
    pub requested: usize,
    pub connected: usize,
    /// Still connected at the end of the hold.
    pub held: usize,
    pub failed: usize,
    pub connect_secs: f64,
    /// Memory readings; `None` when the reading failed.
    pub rss_before_kib: Option<u64>,
    pub rss_connected_kib: Option<u64>,
    pub rss_after_hold_kib: Option<u64>,
    pub hold_secs: f64,
    /// Whether the server was still running at the end of the hold.
    pub server_alive: bool,
}

impl IdleRun {
    /// Resident memory per held socket at the end of the hold, in KiB.
    /// `None` unless sockets were held and both readings succeeded.
    pub fn kib_per_socket(&self) -> Option<f64> {
        let (before, after) = (self.rss_before_kib?, self.rss_after_hold_kib?);
        (self.held > 0 && after >= before).then(|| (after - before) as f64 / self.held as f64)
    }

    pub fn connects_per_sec(&self) -> f64 {
        self.connected as f64 / self.connect_secs.max(1e-9)
    }
}

struct Quiet;

impl Handler for Quiet {
    fn on_event(&self, _: usize, _: Mark, _: usize, _: bool) {}
}

pub async fn run(kind: Kind, programs: &Programs, plan: &Plan) -> Result<IdleRun> {
    let label = format!("idle/{}", kind.name());
    let server = Server::start(kind, programs, "idle").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kib = rss(&server);
    progress(
        &label,
        format!(
            "server up (pid {}, {:?} KiB RSS); connecting {} sockets",
            server.pid, rss_before_kib, plan.idle_sockets
        ),
    );
    let fleet =
        Fleet::launch(&server, plan, plan.idle_sockets, Identity::PerClient, Arc::new(Quiet), None, &label)
            .await;
    let fleet = match fleet {
        Ok(fleet) => fleet,
        Err(err) => {
            server.stop().await?;
            return Err(err);
        }
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected_kib = rss(&server);
    progress(
        &label,
        format!(
            "{:?} KiB RSS with {} sockets; holding them idle for {:?}",
            rss_connected_kib, fleet.connected, plan.idle_hold
        ),
    );
    let hold_started = std::time::Instant::now();
    let hold_end = tokio::time::Instant::now() + plan.idle_hold;
    while tokio::time::Instant::now() < hold_end {
        tokio::time::sleep_until(hold_end.min(tokio::time::Instant::now() + Duration::from_secs(10))).await;
        if tokio::time::Instant::now() < hold_end {
            progress(
                &label,
                format!(
                    "holding: {} sockets, {:?} KiB RSS",
                    fleet.counters.ready.load(Ordering::Relaxed),
                    rss(&server)
                ),
            );
        }
    }
    let hold_secs = hold_started.elapsed().as_secs_f64();
    let rss_after_hold_kib = rss(&server);
    let held = fleet.counters.ready.load(Ordering::Relaxed);
    let mut server = server;
    let server_alive = server.running();
    let result = IdleRun {
        kind,
        requested: plan.idle_sockets,
        connected: fleet.connected,
        held,
        failed: fleet.counters.failed.load(Ordering::Relaxed),
        connect_secs: fleet.connect_secs,
        rss_before_kib,
        rss_connected_kib,
        rss_after_hold_kib,
        hold_secs,
        server_alive,
    };
    progress(
        &label,
        format!(
            "{:?} KiB RSS after the hold, {} sockets held: {:.2} KiB per socket",
            rss_after_hold_kib,
            held,
            result.kib_per_socket().unwrap_or(f64::NAN)
        ),
    );
    fleet.shutdown().await;
    server.stop().await?;
    Ok(result)
}
