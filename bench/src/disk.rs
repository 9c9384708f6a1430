//! How long, and how much CPU, the disk under Beacon's SQLite file takes to
//! make a write durable. Beacon syncs every commit (`synchronous = FULL`) and
//! delivers an event only after its commit, so a slow sync on a shared virtual
//! disk shows up in its latency tail, and the sync's own kernel work in its CPU
//! per event; the Node reference writes nothing. Measured before and after the
//! scenarios, in the folder the servers run in, so a reader can tell the
//! disk's share from the server's.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustix::time::{ClockId, clock_gettime};

use crate::scenarios::percentile;

/// Syncs at most this many times per pass, for at most [`PROBE_TIME`].
const PROBE_SYNCS: usize = 2_000;
const PROBE_TIME: Duration = Duration::from_secs(5);
/// One page: the figure earlier runs quoted, kept comparable.
const PAGE_BYTES: usize = 4096;
/// What a lone append writes to the WAL: 4.4 frames of a 4,096-byte page and
/// its 24-byte header (docs/PERFORMANCE.md, step 32). A sync's kernel work
/// grows with the pages it sends to the disk.
const EVENT_BYTES: usize = 18_128;
/// Between syncs, as events come apart at 500/s.
const PAUSE: Duration = Duration::from_millis(2);

/// Both passes of one probe.
#[derive(Debug, Clone)]
pub struct DiskProbe {
    pub page: SyncProbe,
    pub event: SyncProbe,
}

/// One pass: writes of one size, each followed by `fdatasync`.
#[derive(Debug, Clone)]
pub struct SyncProbe {
    pub write_bytes: usize,
    /// Each sync's wall time, sorted, nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// The syncing thread's CPU time during each sync (the kernel's work for
    /// it), sorted, nanoseconds.
    pub cpu_ns: Vec<u64>,
}

impl SyncProbe {
    /// The sync's CPU at percentile `p`, in microseconds.
    pub fn cpu_us(&self, p: f64) -> Option<f64> {
        percentile(&self.cpu_ns, p).map(|ns| ns as f64 / 1e3)
    }

    fn describe(&self) -> String {
        let ms = |p: f64| percentile(&self.latencies_ns, p).map_or(f64::NAN, |ns| ns as f64 / 1e6);
        format!(
            "{} writes of {} bytes, each followed by `fdatasync`, {} ms apart: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; the syncing thread's CPU per sync p50 {:.0} µs, p99 {:.0} µs",
            self.latencies_ns.len(),
            self.write_bytes,
            PAUSE.as_millis(),
            ms(50.0),
            ms(99.0),
            ms(99.9),
            ms(100.0),
            self.cpu_us(50.0).unwrap_or(f64::NAN),
            self.cpu_us(99.0).unwrap_or(f64::NAN),
        )
    }
}

impl DiskProbe {
    /// One line for the report's machine section.
    pub fn describe(&self) -> String {
        format!("{}; {}", self.page.describe(), self.event.describe())
    }
}

/// Probes `dir` with page-sized writes, then with a lone event's.
pub fn probe(dir: &Path) -> Result<DiskProbe> {
    Ok(DiskProbe {
        page: probe_pass(dir, PAGE_BYTES, PROBE_SYNCS)?,
        event: probe_pass(dir, EVENT_BYTES, PROBE_SYNCS)?,
    })
}

/// Appends `write_bytes` at a time to a scratch file in `dir` and syncs after
/// each append, at most `syncs` times.
fn probe_pass(dir: &Path, write_bytes: usize, syncs: usize) -> Result<SyncProbe> {
    let path = dir.join(format!("beacon-bench-sync-probe-{}", std::process::id()));
    let mut file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let block = vec![0x5a_u8; write_bytes];
    let started = Instant::now();
    let mut latencies_ns = Vec::with_capacity(syncs);
    let mut cpu_ns = Vec::with_capacity(syncs);
    let result = (|| {
        while latencies_ns.len() < syncs && started.elapsed() < PROBE_TIME {
            file.write_all(&block)?;
            let cpu_before = thread_cpu_ns();
            let sync = Instant::now();
            file.sync_data()?;
            latencies_ns.push(sync.elapsed().as_nanos() as u64);
            cpu_ns.push(thread_cpu_ns().saturating_sub(cpu_before));
            std::thread::sleep(PAUSE);
        }
        Ok::<_, std::io::Error>(())
    })();
    let _ = std::fs::remove_file(&path);
    result.with_context(|| format!("syncing {}", path.display()))?;
    latencies_ns.sort_unstable();
    cpu_ns.sort_unstable();
    Ok(SyncProbe { write_bytes, latencies_ns, cpu_ns })
}

/// This thread's CPU time so far (user and kernel), nanoseconds.
fn thread_cpu_ns() -> u64 {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sync_has_its_time_and_cpu_and_the_scratch_file_goes() {
        let dir = std::env::temp_dir().join(format!("beacon-bench-probe-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pass = probe_pass(&dir, EVENT_BYTES, 5).unwrap();
        let left = std::fs::read_dir(&dir).unwrap().count();
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!((pass.latencies_ns.len(), pass.cpu_ns.len()), (5, 5));
        assert!(pass.latencies_ns.windows(2).all(|w| w[0] <= w[1]), "sorted");
        assert!(pass.cpu_ns.iter().sum::<u64>() > 0, "a sync takes some CPU: {:?}", pass.cpu_ns);
        assert_eq!(pass.write_bytes, EVENT_BYTES);
        assert_eq!(left, 0, "the scratch file is removed");
    }
}
