//! The two-node section of the report: Beacon on two nodes (PostgreSQL +
//! Redis) beside the single-node runs of the same scenarios.

use std::fmt::Write as _;

use crate::scenarios::fanout::FanoutRun;
use crate::scenarios::storm::StormRun;

/// The two-node runs, and the single-node pairs (Beacon, Node) to set them beside.
pub struct ClusterInputs<'a> {
    pub fanout: Option<&'a FanoutRun>,
    pub storm: Option<&'a StormRun>,
    pub single_fanout: Option<&'a (FanoutRun, FanoutRun)>,
    pub single_storm: Option<&'a (StormRun, StormRun)>,
}

fn cell(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "n/a".into(),
    }
}

/// One row: the two-node figure, single-node Beacon, single-node Node.
fn line(out: &mut String, name: &str, values: [Option<f64>; 3], decimals: usize) {
    let [two, one, node] = values.map(|v| cell(v, decimals));
    let _ = writeln!(out, "| {name} | {two} | {one} | {node} |");
}

const HEADER: &str = "| metric | Beacon, 2 nodes (PostgreSQL + Redis) | Beacon, 1 node (SQLite) | Node, 1 node |\n|---|---:|---:|---:|\n";

pub(super) fn cluster_section(out: &mut String, inputs: &ClusterInputs<'_>) {
    out.push_str("## 6. Two nodes\n\n");
    out.push_str(
        "Two Beacon processes sharing one PostgreSQL database and one Redis (`BEACON_BUS=redis`), on the same \
         machine as the load generator (so three processes share its cores, and PostgreSQL and Redis too). \
         The Node reference has no multi-node mode (the design it follows says \"use Redis pub/sub\" and stops \
         there); its single-node figures are beside Beacon's for scale.\n\n",
    );
    if let Some(two) = inputs.fanout {
        let (one, node) = match inputs.single_fanout {
            Some((b, n)) => (Some(b), Some(n)),
            None => (None, None),
        };
        out.push_str(
            "**Fan-out across nodes**: every subscriber on node B, every event posted to node A, so each event \
             crosses through Redis (same window and payload as section 3). Server CPU is both nodes together.\n\n",
        );
        out.push_str(HEADER);
        let runs = [Some(two), one, node];
        let get = |f: &dyn Fn(&FanoutRun) -> Option<f64>| runs.map(|r| r.and_then(f));
        line(out, "subscribers", get(&|r| Some(r.subscribers as f64)), 0);
        line(out, "events", get(&|r| Some(r.events as f64)), 0);
        line(out, "**deliveries/s**", get(&|r| Some(r.deliveries_per_sec())), 0);
        line(out, "deliveries missing", get(&|r| Some(r.missing as f64)), 0);
        line(out, "failed POSTs", get(&|r| Some(r.failed_posts as f64)), 0);
        line(out, "server CPU (s)", get(&|r| r.server_cpu_secs), 2);
        line(
            out,
            "server CPU per 1,000 deliveries (ms)",
            get(&|r| r.server_cpu_secs.map(|cpu| cpu * 1e6 / r.deliveries.max(1) as f64)),
            3,
        );
        out.push('\n');
        if let Some(stall) = &two.stall {
            let _ = writeln!(out, "The two-node run stopped early: {stall}.\n");
        }
    }
    if let Some(two) = inputs.storm {
        let (one, node) = match inputs.single_storm {
            Some((b, n)) => (Some(b), Some(n)),
            None => (None, None),
        };
        out.push_str(
            "**A node dies**: every client on node A while events are posted to node B; then node A is killed \
             (SIGKILL) and every client reconnects to node B with `since` (single node: every client drops its \
             socket and reconnects to the same server, section 4).\n\n",
        );
        out.push_str(HEADER);
        let runs = [Some(two), one, node];
        let get = |f: &dyn Fn(&StormRun) -> Option<f64>| runs.map(|r| r.and_then(f));
        line(out, "clients", get(&|r| Some(r.clients as f64)), 0);
        line(out, "clients back", get(&|r| Some(r.back as f64)), 0);
        line(out, "back / caught up p50 (ms)", get(&|r| r.back_ms(50.0)), 1);
        line(out, "back / caught up p99 (ms)", get(&|r| r.back_ms(99.0)), 1);
        line(out, "**all caught up (s)**", get(&|r| r.all_caught_up_secs), 2);
        line(out, "events accepted", get(&|r| Some(r.accepted as f64)), 0);
        line(out, "**events lost**", get(&|r| Some(r.lost as f64)), 0);
        line(out, "events replayed on resume", get(&|r| Some(r.replayed as f64)), 0);
        line(out, "duplicates", get(&|r| Some(r.duplicates as f64)), 0);
        line(out, "POST answered p99 (ms)", get(&|r| r.answer_ms.1), 2);
        line(out, "publisher ticks skipped", get(&|r| Some(r.skipped_ticks as f64)), 0);
        out.push('\n');
    }
}
