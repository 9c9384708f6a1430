//! Section 3: fan-out.

use std::fmt::Write;

use super::{Better, row, table};
use crate::scenarios::Plan;
use crate::scenarios::fanout::FanoutRun;

pub(super) fn fanout_section(out: &mut String, (b, n): &(FanoutRun, FanoutRun), plan: &Plan) {
    out.push_str("## 3. Fan-out\n\n");
    let _ = writeln!(
        out,
        "All sockets on one channel (Beacon: `dashboard:bench`, granted to the one principal all sockets share; \
         Node: one `sessionId`). {}-byte payloads posted back to back with {} events in flight: event k is posted \
         once event k-{} has reached every socket, for {:.0} s. Deliveries per second = frames received by all \
         sockets / time from the first POST to the last frame.\n",
        plan.payload_bytes,
        plan.fanout_window,
        plan.fanout_window,
        plan.fanout_duration.as_secs_f64()
    );
    let f = |v: u64| Some(v as f64);
    table(
        out,
        &[
            row("subscribers", f(b.subscribers as u64), f(n.subscribers as u64), 0, Better::Neither),
            row("events", f(b.events), f(n.events), 0, Better::Higher),
            row("events/s", Some(b.events_per_sec()), Some(n.events_per_sec()), 1, Better::Higher),
            row(
                "**deliveries/s**",
                Some(b.deliveries_per_sec()),
                Some(n.deliveries_per_sec()),
                0,
                Better::Higher,
            ),
            row("deliveries missing", f(b.missing), f(n.missing), 0, Better::Lower),
            row("failed POSTs", f(b.failed_posts), f(n.failed_posts), 0, Better::Lower),
            row(
                "sockets closed by the server",
                f(b.closed_by_server as u64),
                f(n.closed_by_server as u64),
                0,
                Better::Lower,
            ),
            row("frame size (bytes)", Some(b.frame_bytes), Some(n.frame_bytes), 0, Better::Neither),
            row("server CPU (s)", b.server_cpu_secs, n.server_cpu_secs, 2, Better::Neither),
            row("load generator CPU meanwhile (s)", b.client_cpu_secs, n.client_cpu_secs, 2, Better::Neither),
            row(
                "server CPU per 1,000 deliveries (ms)",
                super::targets::fanout_cpu_per_thousand_ms(b),
                super::targets::fanout_cpu_per_thousand_ms(n),
                3,
                Better::Lower,
            ),
        ],
    );
    let share = |r: &FanoutRun| {
        let percent = |cpu: Option<f64>| {
            cpu.map_or("no measurement".to_owned(), |cpu| format!("{:.0}%", 100.0 * cpu / r.secs.max(1e-9)))
        };
        format!(
            "server {} + load generator {} of one core",
            percent(r.server_cpu_secs),
            percent(r.client_cpu_secs)
        )
    };
    let _ = writeln!(
        out,
        "CPU during the runs: Beacon {}; Node {}. When these add up to the machine's cores, the \
         figure is bounded by the shared machine, not by the server alone; the CPU per delivery is the \
         steadier comparison.\n",
        share(b),
        share(n)
    );
    for r in [b, n] {
        if let Some(stall) = &r.stall {
            let _ = writeln!(out, "The {} run stopped early: {stall}.\n", r.kind.name());
        }
    }
}
