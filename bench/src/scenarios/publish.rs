//! The publishers: events posted at a rate or one at a time, with what
//! each POST came to, and the payload every event carries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{DRAIN_TIMEOUT, percentile, progress};
use crate::server::Api;
use crate::sys;

/// Concurrent publish requests at most (beyond that a tick is skipped and counted).
const MAX_IN_FLIGHT: usize = 256;

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
}
