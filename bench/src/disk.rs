//! How long the disk under Beacon's SQLite file takes to make a write
//! durable. Beacon syncs every commit (`synchronous = FULL`) and delivers an
//! event only after its commit, so a slow sync on a shared virtual disk shows
//! up in its latency tail; the Node reference writes nothing. Measured before
//! the scenarios, in the folder the servers run in, so a reader can tell the
//! disk's share from the server's.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::scenarios::percentile;

/// Syncs at most this many times, for at most [`PROBE_TIME`].
const PROBE_SYNCS: usize = 2_000;
const PROBE_TIME: Duration = Duration::from_secs(5);
/// About a lone event's share of a WAL write.
const WRITE_BYTES: usize = 4096;
/// Between syncs, as events come apart at 500/s.
const PAUSE: Duration = Duration::from_millis(2);

#[derive(Debug, Clone)]
pub struct SyncProbe {
    /// Sorted, nanoseconds.
    pub latencies_ns: Vec<u64>,
}

impl SyncProbe {
    /// One line for the report's machine section.
    pub fn describe(&self) -> String {
        let ms = |p: f64| percentile(&self.latencies_ns, p).map_or(f64::NAN, |ns| ns as f64 / 1e6);
        format!(
            "{} writes of {} bytes, each followed by `fdatasync`, {} ms apart: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            self.latencies_ns.len(),
            WRITE_BYTES,
            PAUSE.as_millis(),
            ms(50.0),
            ms(99.0),
            ms(99.9),
            ms(100.0)
        )
    }
}

/// Appends to a scratch file in `dir` and syncs after each append.
pub fn probe(dir: &Path) -> Result<SyncProbe> {
    let path = dir.join(format!("beacon-bench-sync-probe-{}", std::process::id()));
    let mut file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let block = vec![0x5a_u8; WRITE_BYTES];
    let started = Instant::now();
    let mut latencies_ns = Vec::with_capacity(PROBE_SYNCS);
    let result = (|| {
        while latencies_ns.len() < PROBE_SYNCS && started.elapsed() < PROBE_TIME {
            file.write_all(&block)?;
            let sync = Instant::now();
            file.sync_data()?;
            latencies_ns.push(sync.elapsed().as_nanos() as u64);
            std::thread::sleep(PAUSE);
        }
        Ok::<_, std::io::Error>(())
    })();
    let _ = std::fs::remove_file(&path);
    result.with_context(|| format!("syncing {}", path.display()))?;
    latencies_ns.sort_unstable();
    Ok(SyncProbe { latencies_ns })
}
