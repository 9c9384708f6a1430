//! Section 4: the reconnect storm.

use std::fmt::Write;

use super::{Better, row, table};
use crate::scenarios::Plan;
use crate::scenarios::storm::StormRun;

pub(super) fn storm_section(out: &mut String, (b, n): &(StormRun, StormRun), plan: &Plan) {
    out.push_str("## 4. Reconnect storm\n\n");
    let _ = writeln!(
        out,
        "{} clients (one principal / session each) while events are posted at {}/s, each to the next client. \
         After {:.0} s every client drops its socket at once (no close handshake) and reconnects immediately \
         (retries with full-jitter backoff, up to {:.0} s). Beacon clients resubscribe with `since` = their last \
         seq and are caught up at the subscribe's ack (sent after the replay); Node clients are back at the \
         `connected` greeting (the design has no resume). Publishing goes on for {:.0} s after the last client is \
         back; lost = events the server accepted (HTTP 200) that never reached their client.\n",
        b.clients,
        plan.storm_rate,
        plan.storm_before.as_secs_f64(),
        plan.storm_deadline.as_secs_f64(),
        plan.storm_after.as_secs_f64()
    );
    let f = |v: u64| Some(v as f64);
    let all = |r: &StormRun| r.all_caught_up_secs;
    table(
        out,
        &[
            row("clients", f(b.clients as u64), f(n.clients as u64), 0, Better::Neither),
            row("clients back", f(b.back as u64), f(n.back as u64), 0, Better::Higher),
            row("clients that gave up", f(b.failed as u64), f(n.failed as u64), 0, Better::Lower),
            row("reconnect attempts retried", f(b.retries as u64), f(n.retries as u64), 0, Better::Lower),
            row("back / caught up p50 (ms)", b.back_ms(50.0), n.back_ms(50.0), 1, Better::Lower),
            row("back / caught up p99 (ms)", b.back_ms(99.0), n.back_ms(99.0), 1, Better::Lower),
            row("**all caught up (s)**", all(b), all(n), 2, Better::Lower),
            row("events accepted", f(b.accepted), f(n.accepted), 0, Better::Neither),
            row(
                "events posted during the storm",
                f(b.posted_during_storm),
                f(n.posted_during_storm),
                0,
                Better::Neither,
            ),
            row("**events lost**", f(b.lost), f(n.lost), 0, Better::Lower),
            row(
                "of which posted during the storm",
                f(b.lost_during_storm),
                f(n.lost_during_storm),
                0,
                Better::Lower,
            ),
            row("Node webhooks answered `delivered: 0`", None, f(n.sent_to_nobody), 0, Better::Lower),
            row("events replayed on resume", f(b.replayed), f(n.replayed), 0, Better::Neither),
            row("duplicates", f(b.duplicates), f(n.duplicates), 0, Better::Lower),
            row("resets (beyond retention)", f(b.resets as u64), None, 0, Better::Lower),
            row("failed POSTs", f(b.failed_posts), f(n.failed_posts), 0, Better::Lower),
            row(
                "publisher ticks skipped (256 POSTs waiting)",
                f(b.skipped_ticks),
                f(n.skipped_ticks),
                0,
                Better::Lower,
            ),
            row("POST answered p50 (ms)", b.answer_ms.0, n.answer_ms.0, 2, Better::Lower),
            row("POST answered p99 (ms)", b.answer_ms.1, n.answer_ms.1, 2, Better::Lower),
            row("POST answered max (ms)", b.answer_ms.2, n.answer_ms.2, 2, Better::Lower),
            row(
                "server CPU from the drop until all were back (s)",
                b.server_cpu_secs,
                n.server_cpu_secs,
                2,
                Better::Lower,
            ),
            row(
                "**server CPU per client back (µs)**",
                b.server_cpu_per_reconnect_us(),
                n.server_cpu_per_reconnect_us(),
                0,
                Better::Lower,
            ),
            row("load generator CPU meanwhile (s)", b.client_cpu_secs, n.client_cpu_secs, 2, Better::Neither),
        ],
    );
}
