//! BENCHMARKS.md: one table per scenario with both servers and their ratio,
//! the goals with an honest verdict, and how and where the numbers were taken.

use std::fmt::Write as _;

mod browser;
mod chat;
mod cluster;
mod fanout;
mod idle;
mod pages;
mod push;
mod storm;
mod targets;

use crate::scenarios::Plan;
use crate::scenarios::chat::ChatRun;
use crate::scenarios::fanout::FanoutRun;
use crate::scenarios::idle::IdleRun;
use crate::scenarios::push::PushRun;
use crate::scenarios::storm::StormRun;
use crate::sys::{FdLimits, Machine};

/// Which way a metric is better, for the reader of the ratio.
#[derive(Debug, Clone, Copy)]
enum Better {
    Higher,
    Lower,
    Neither,
}

struct Row {
    name: String,
    beacon: Option<f64>,
    node: Option<f64>,
    decimals: usize,
    better: Better,
}

fn row(name: impl Into<String>, b: Option<f64>, n: Option<f64>, decimals: usize, better: Better) -> Row {
    Row { name: name.into(), beacon: b, node: n, decimals, better }
}

fn num(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "n/a".into(),
    }
}

/// `beacon / node`, when both are measured and Node's is not zero.
fn ratio(beacon: Option<f64>, node: Option<f64>) -> Option<f64> {
    match (beacon, node) {
        (Some(b), Some(n)) if n != 0.0 && b.is_finite() && n.is_finite() => Some(b / n),
        _ => None,
    }
}

fn table(out: &mut String, rows: &[Row]) {
    out.push_str("| metric | Beacon | Node | Beacon/Node |\n|---|---:|---:|---:|\n");
    for r in rows {
        let ratio = match ratio(r.beacon, r.node) {
            Some(ratio) => {
                let hint = match r.better {
                    Better::Higher => " (higher is better)",
                    Better::Lower => " (lower is better)",
                    Better::Neither => "",
                };
                format!("{ratio:.2}x{hint}")
            }
            None => "n/a".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.name,
            num(r.beacon, r.decimals),
            num(r.node, r.decimals),
            ratio
        );
    }
    out.push('\n');
}

/// Everything the report is made of.
pub struct Inputs<'a> {
    pub command: String,
    pub date: String,
    pub machine: Machine,
    pub limits: FdLimits,
    pub plan: &'a Plan,
    pub total_secs: f64,
    /// Load averages at the start and at the end, since the machine may be shared.
    pub load: (String, String),
    /// The disk under the servers' folders: how long a durable write takes,
    /// before the scenarios and after them.
    pub disk_sync: (Option<crate::disk::DiskProbe>, Option<crate::disk::DiskProbe>),
    pub versions: Vec<(String, String)>,
    pub idle: Option<(IdleRun, IdleRun)>,
    pub push: Option<(PushRun, PushRun)>,
    pub fanout: Option<(FanoutRun, FanoutRun)>,
    pub storm: Option<(StormRun, StormRun)>,
    /// Two Beacon nodes: fan-out across them, and the storm of a node dying.
    pub cluster: Option<(Option<FanoutRun>, Option<StormRun>)>,
    pub chat: Option<(ChatRun, ChatRun)>,
    /// Beacon's pages: time to first byte, download sizes.
    pub pages: Option<crate::scenarios::pages::PagesRun>,
    /// Publish to DOM in headless Chromium, live and long-polling.
    pub browser: Option<crate::scenarios::browser::BrowserRun>,
    pub failures: Vec<String>,
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Met,
    /// Not met; the reason when it is not the figure itself.
    NotMet(String),
    OutOfReach(String),
    NotMeasured(String),
}

impl Verdict {
    fn text(&self) -> String {
        match self {
            Self::Met => "**met**".into(),
            Self::NotMet(why) if why.is_empty() => "**not met**".into(),
            Self::NotMet(why) => format!("**not met**: {why}"),
            Self::OutOfReach(why) => format!("**out of reach here**: {why}"),
            Self::NotMeasured(why) => format!("**not measured**: {why}"),
        }
    }
}

fn goals(inputs: &Inputs<'_>) -> Vec<(String, String, Verdict)> {
    let mut out = Vec::new();
    let fd_note = format!(
        "the hard open-file limit is {} per process and each socket holds one descriptor in the server and one in the load generator",
        inputs.limits.hard
    );
    match &inputs.idle {
        Some((b, _)) => out.extend(idle::idle_goals(b, inputs.plan.socket_cap, &fd_note)),
        None => out.push((
            "idle-socket goals".into(),
            "-".into(),
            Verdict::NotMeasured("the idle scenario did not run".into()),
        )),
    }
    match &inputs.push {
        Some((b, _)) => {
            let p99 = b.latency_ms(99.0);
            let measured = format!("p99 {} ms at {} watchers", num(p99, 3), b.watchers);
            let verdict = match p99 {
                None => Verdict::NotMeasured("no event arrived".into()),
                Some(_) if b.watchers < 10_000 => Verdict::NotMeasured(format!(
                    "this run had {} watchers, not 10,000 (at that size the p99 was {} 2 ms)",
                    b.watchers,
                    if p99.is_some_and(|p| p <= 2.0) { "within" } else { "over" }
                )),
                Some(p) if p <= 2.0 => Verdict::Met,
                Some(_) => Verdict::NotMet(String::new()),
            };
            out.push(("push p99 ≤ 2 ms at 10,000 watchers".into(), measured, verdict));
        }
        None => out.push((
            "push p99 ≤ 2 ms at 10,000 watchers".into(),
            "-".into(),
            Verdict::NotMeasured("the push scenario did not run".into()),
        )),
    }
    match &inputs.fanout {
        Some((b, n)) => {
            let ratio = b.deliveries_per_sec() / n.deliveries_per_sec().max(1e-9);
            out.push((
                "fan-out ≥ 3x Node".into(),
                format!(
                    "{ratio:.2}x ({:.0} vs {:.0} deliveries/s at {} subscribers)",
                    b.deliveries_per_sec(),
                    n.deliveries_per_sec(),
                    b.subscribers
                ),
                if ratio >= 3.0 { Verdict::Met } else { Verdict::NotMet(String::new()) },
            ));
        }
        None => out.push((
            "fan-out ≥ 3x Node".into(),
            "-".into(),
            Verdict::NotMeasured("the fan-out scenario did not run".into()),
        )),
    }
    match &inputs.storm {
        Some((b, _)) => {
            let measured = format!(
                "{} to catch up, {} lost, at {} clients",
                b.all_caught_up_secs.map_or("not all came back".to_owned(), |s| format!("{s:.2} s")),
                b.lost,
                b.clients
            );
            let verdict = match b.all_caught_up_secs {
                Some(s) if s <= 2.0 && b.lost == 0 => Verdict::Met,
                _ => Verdict::NotMet(String::new()),
            };
            out.push(("reconnect storm: caught up within 2 s, 0 lost".into(), measured, verdict));
        }
        None => out.push((
            "reconnect storm: caught up within 2 s, 0 lost".into(),
            "-".into(),
            Verdict::NotMeasured("the storm scenario did not run".into()),
        )),
    }
    out
}

pub fn render(inputs: &Inputs<'_>) -> String {
    let plan = inputs.plan;
    let mut out = String::new();
    out.push_str("# Benchmarks: Beacon against the Node reference server\n\n");
    out.push_str(
        "Written by `bench` (the load generator in `bench/`); do not edit by hand, run it again.\n\n",
    );
    let _ = writeln!(out, "- Date: {} (UTC)", inputs.date);
    let _ = writeln!(out, "- Command: `{}`", inputs.command);
    let _ = writeln!(
        out,
        "- Mode: {}; whole run took {:.0} s",
        if plan.quick { "quick (`--quick`: small sizes, short runs)" } else { "full" },
        inputs.total_secs
    );
    let _ = writeln!(
        out,
        "- Machine: {} cores (`nproc`), {}, memory {}, {}",
        inputs.machine.cores, inputs.machine.cpu_model, inputs.machine.mem_total, inputs.machine.kernel
    );
    let _ = writeln!(
        out,
        "- Open files: soft limit raised from {} to the hard limit {}; one run holds at most {} sockets",
        inputs.limits.soft_before, inputs.limits.hard, plan.socket_cap
    );
    let _ = writeln!(
        out,
        "- Network: loopback only; client sockets spread over 127.0.0.1 ..= 127.0.0.{} (`net.core.somaxconn` {}, `net.ipv4.ip_local_port_range` {})",
        plan.sources.clamp(1, 254),
        crate::sys::sysctl("net/core/somaxconn"),
        crate::sys::sysctl("net/ipv4/ip_local_port_range")
    );
    let _ = writeln!(
        out,
        "- Load average (1/5/15 min) at the start: {}; at the end: {} (other work on the machine shows here)",
        inputs.load.0, inputs.load.1
    );
    for (when, probe) in [("before the scenarios", &inputs.disk_sync.0), ("after them", &inputs.disk_sync.1)]
    {
        if let Some(probe) = probe {
            let _ = writeln!(
                out,
                "- Disk under the servers' temporary folders (Beacon's SQLite file, synced at every commit), {when}: {}",
                probe.describe()
            );
        }
    }
    for (what, version) in &inputs.versions {
        let _ = writeln!(out, "- {what}: {version}");
    }
    out.push('\n');

    out.push_str("## Goals\n\n");
    if plan.quick {
        out.push_str(
            "Quick mode measures at small sizes (see each table); a verdict here holds for those sizes \
             only. `cargo run --release -p bench` (without `--quick`) measures at the full sizes.\n\n",
        );
    }
    out.push_str("| goal | measured (Beacon) | verdict |\n|---|---|---|\n");
    for (goal, measured, verdict) in goals(inputs) {
        let _ = writeln!(out, "| {goal} | {measured} | {} |", verdict.text());
    }
    out.push('\n');

    out.push_str("## Performance targets\n\n");
    out.push_str(
        "Each against the Node reference in this same run where Node has the figure (Beacon/Node, then both \
         figures), or against a bound where it has none. docs/PERFORMANCE.md says what each remaining cost is \
         made of.\n\n",
    );
    out.push_str("| target | measured (Beacon) | verdict |\n|---|---|---|\n");
    for (target, measured, verdict) in targets::targets(inputs) {
        let _ = writeln!(out, "| {target} | {measured} | {} |", verdict.text());
    }
    out.push('\n');

    out.push_str("## How it runs\n\n");
    out.push_str(
        "- Each scenario runs against both servers in the same invocation, one server at a time, alternating \
         which goes first (idle, fan-out and chat: Beacon first; push and storm: Node first). Every run starts a fresh \
         server process on its own loopback port: Beacon is the release binary built by `cargo leptos build \
         --release --split`, with a new SQLite file in a temporary folder; Node is `node bench/node/server.js`.\n",
    );
    out.push_str(
        "- The Node server is the seed's design written anew: the `ws` package, a `Map` of `sessionId` to a \
         `Set` of sockets at `/ws/connections?sessionId=...`, and the ConfirmD webhook route as a plain HTTP \
         handler that links the session to the connection and broadcasts a `status_update`; for chat it relays \
         seed 003's `message:send` and `typing:start` to the sockets of a conversation. No Next.js, no \
         database: it stores nothing, so unlike Beacon it does no durable write per event and has no resume.\n",
    );
    out.push_str(
        "- Beacon runs with its defaults except: `BEACON_MAX_CONNECTIONS_PER_PRINCIPAL=1000000` (the fan-out \
         shares one principal), `BEACON_TOKEN_TTL_SECS=7200`, `BEACON_RETENTION_EVENTS=100000000` (so a resume \
         never meets retention), `RUST_LOG=warn`, and the per-address socket and request limits raised (every \
         client is on loopback). Events are posted to Beacon's server-to-server listener (`BEACON_API_BIND`, \
         a second port, as a deployment points its publishers at it); the Node design has one port for both.\n",
    );
    out.push_str(
        "- The load generator (Rust, tokio-tungstenite) runs on the same machine and shares its cores with the \
         server under test, so the servers' figures are lower than on a machine of their own; both servers pay \
         the same. Every loop is bounded in count and in time. Events are posted asking for gzip \
         (`accept-encoding: gzip, deflate`), as publishers' HTTP clients do by default.\n\n",
    );

    if let Some(idle) = &inputs.idle {
        idle::idle_section(&mut out, idle);
    }
    if let Some(push) = &inputs.push {
        push::push_section(&mut out, push, inputs.disk_sync.0.as_ref());
    }
    if let Some(fanout) = &inputs.fanout {
        fanout::fanout_section(&mut out, fanout, plan);
    }
    if let Some(storm) = &inputs.storm {
        storm::storm_section(&mut out, storm, plan);
    }
    if let Some(chat) = &inputs.chat {
        chat::chat_section(&mut out, chat);
    }
    if let Some((fanout, storm)) = &inputs.cluster {
        let cluster_inputs = cluster::ClusterInputs {
            fanout: fanout.as_ref(),
            storm: storm.as_ref(),
            single_fanout: inputs.fanout.as_ref(),
            single_storm: inputs.storm.as_ref(),
        };
        cluster::cluster_section(&mut out, &cluster_inputs);
    }
    if let Some(run) = &inputs.pages {
        pages::pages_section(&mut out, run);
    }
    if let Some(run) = &inputs.browser {
        browser::browser_section(&mut out, run);
    }
    if !inputs.failures.is_empty() {
        out.push_str("## Runs that failed\n\n");
        for failure in &inputs.failures {
            let _ = writeln!(out, "- {failure}");
        }
        out.push('\n');
    }
    out
}
