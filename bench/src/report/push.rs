//! Section 2: push latency.

use std::fmt::Write;

use super::{Better, row, table};
use crate::disk::DiskProbe;
use crate::scenarios::push::PushRun;

/// `disk` is the probe before the scenarios: what one sync costs on this machine.
pub(super) fn push_section(out: &mut String, (b, n): &(PushRun, PushRun), disk: Option<&DiskProbe>) {
    out.push_str("## 2. Push latency\n\n");
    let _ = writeln!(
        out,
        "{} watchers (Beacon: one principal and `user:` channel each; Node: one session each). \
         Events at {}/s for {:.0} s, event k to watcher k mod N: Beacon through `POST /api/realtime/publish` \
         (stored in SQLite, then fanned out), Node through `POST /api/webhooks/confirmd`. Latency is from the start \
         of the POST to the frame's arrival on the watching socket, same clock.\n",
        b.watchers, b.rate, b.publish_secs
    );
    let f = |v: u64| Some(v as f64);
    table(
        out,
        &[
            row("watchers", f(b.watchers as u64), f(n.watchers as u64), 0, Better::Neither),
            row("POSTs started", f(b.attempted), f(n.attempted), 0, Better::Neither),
            row("events accepted", f(b.accepted), f(n.accepted), 0, Better::Neither),
            row("events received", f(b.received), f(n.received), 0, Better::Neither),
            row(
                "achieved rate (events/s)",
                Some(b.achieved_rate()),
                Some(n.achieved_rate()),
                0,
                Better::Higher,
            ),
            row("failed POSTs", f(b.failed_posts), f(n.failed_posts), 0, Better::Lower),
            row("ticks skipped (publisher behind)", f(b.skipped_ticks), f(n.skipped_ticks), 0, Better::Lower),
            row("events lost", f(b.lost), f(n.lost), 0, Better::Lower),
            row("duplicates", f(b.duplicates), f(n.duplicates), 0, Better::Lower),
            row("**p50 (ms)**", b.latency_ms(50.0), n.latency_ms(50.0), 3, Better::Lower),
            row("**p99 (ms)**", b.latency_ms(99.0), n.latency_ms(99.0), 3, Better::Lower),
            row("**p99.9 (ms)**", b.latency_ms(99.9), n.latency_ms(99.9), 3, Better::Lower),
            row("max (ms)", b.latency_ms(100.0), n.latency_ms(100.0), 3, Better::Lower),
            row("POST answered p50 (ms)", b.answer_ms.0, n.answer_ms.0, 3, Better::Lower),
            row("POST answered p99 (ms)", b.answer_ms.1, n.answer_ms.1, 3, Better::Lower),
            row("frame size (bytes)", Some(b.frame_bytes), Some(n.frame_bytes), 0, Better::Neither),
            row("server CPU while publishing (s)", b.server_cpu_secs, n.server_cpu_secs, 2, Better::Lower),
            row(
                "server CPU per accepted event (µs)",
                b.cpu_per_event_us(),
                n.cpu_per_event_us(),
                0,
                Better::Lower,
            ),
        ],
    );
    if let Some(sync) = disk.map(|probe| &probe.event) {
        let _ = writeln!(
            out,
            "Beacon commits each lone event with one `fdatasync` of its WAL write. On this machine a sync of {} bytes \
             took p50 {:.0} µs of the syncing thread's CPU, the kernel's work for it (the disk probe before the \
             scenarios): part of Beacon's CPU per event that Node, which stores nothing, does not have.\n",
            sync.write_bytes,
            sync.cpu_us(50.0).unwrap_or(f64::NAN)
        );
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::disk::SyncProbe;
    use crate::server::Kind;

    /// A run of `accepted` events every one of which arrived in 0.5 ms.
    pub(in crate::report) fn run(kind: Kind, accepted: u64, cpu_secs: Option<f64>) -> PushRun {
        PushRun {
            kind,
            watchers: 10_000,
            rate: 500,
            publish_secs: 30.0,
            attempted: accepted,
            accepted,
            failed_posts: 0,
            skipped_ticks: 0,
            received: accepted,
            lost: 0,
            duplicates: 0,
            latencies_ns: vec![500_000; 10],
            server_cpu_secs: cpu_secs,
            answer_ms: (Some(0.3), Some(1.0)),
            frame_bytes: 200.0,
        }
    }

    fn sync(cpu_ns: Vec<u64>) -> SyncProbe {
        SyncProbe { write_bytes: 18_128, latencies_ns: vec![300_000; cpu_ns.len()], cpu_ns }
    }

    #[test]
    fn cpu_is_shared_over_the_accepted_events_only() {
        assert_eq!(run(Kind::Beacon, 15_000, Some(6.0)).cpu_per_event_us(), Some(400.0));
        assert_eq!(run(Kind::Beacon, 0, Some(6.0)).cpu_per_event_us(), None, "no event, no share");
        assert_eq!(run(Kind::Beacon, 15_000, None).cpu_per_event_us(), None, "no reading");
    }

    #[test]
    fn the_section_gives_cpu_per_event_and_the_sync_it_holds() {
        let runs = (run(Kind::Beacon, 15_000, Some(6.0)), run(Kind::Node, 15_000, Some(2.25)));
        let disk = DiskProbe { page: sync(vec![40_000; 3]), event: sync(vec![90_000, 100_000, 110_000]) };
        let mut out = String::new();
        push_section(&mut out, &runs, Some(&disk));
        let per_event = out.lines().find(|line| line.contains("CPU per accepted event")).expect("the row");
        assert!(per_event.contains("| 400 | 150 |"), "{per_event}");
        assert!(out.contains("a sync of 18128 bytes took p50 100 µs"), "{out}");

        let mut without = String::new();
        push_section(&mut without, &runs, None);
        assert!(!without.contains("fdatasync"), "no probe, no sentence");
    }
}
