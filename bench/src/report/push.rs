//! Section 2: push latency.

use std::fmt::Write;

use super::{Better, row, table};
use crate::scenarios::push::PushRun;

pub(super) fn push_section(out: &mut String, (b, n): &(PushRun, PushRun)) {
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
        ],
    );
}
