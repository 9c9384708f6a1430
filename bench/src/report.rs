//! BENCHMARKS.md: one table per scenario with both servers and their ratio,
//! the goals with an honest verdict, and how and where the numbers were taken.

use std::fmt::Write as _;

mod browser;
mod chat;
mod cluster;
mod pages;
mod storm;

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

fn table(out: &mut String, rows: &[Row]) {
    out.push_str("| metric | Beacon | Node | Beacon/Node |\n|---|---:|---:|---:|\n");
    for r in rows {
        let ratio = match (r.beacon, r.node) {
            (Some(b), Some(n)) if n != 0.0 && b.is_finite() && n.is_finite() => {
                let hint = match r.better {
                    Better::Higher => " (higher is better)",
                    Better::Lower => " (lower is better)",
                    Better::Neither => "",
                };
                format!("{:.2}x{hint}", b / n)
            }
            _ => "n/a".into(),
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
    pub disk_sync: (Option<crate::disk::SyncProbe>, Option<crate::disk::SyncProbe>),
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
        Some((b, _)) => out.extend(idle_goals(b, inputs.plan.socket_cap, &fd_note)),
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

/// The idle-socket goals. A verdict comes only from a measurement that
/// succeeded: a shortfall is "out of reach" only when the server was alive
/// and held every socket the file limit let the run ask for; a failed memory
/// reading is no measurement, never 0 KiB.
fn idle_goals(b: &IdleRun, socket_cap: usize, fd_note: &str) -> Vec<(String, String, Verdict)> {
    let held = format!("{} held (of {} asked)", b.held, b.requested);
    let count = if b.held >= 100_000 {
        Verdict::Met
    } else if !b.server_alive {
        Verdict::NotMet(format!("the server exited during the run after holding {}", b.held))
    } else if b.held < b.requested {
        Verdict::NotMet(format!(
            "{} of the {} sockets asked failed or were dropped, below the file limit",
            b.requested - b.held,
            b.requested
        ))
    } else {
        Verdict::OutOfReach(format!("{fd_note}, so one run holds at most {socket_cap} sockets"))
    };
    let per = b.kib_per_socket();
    let memory = match per {
        _ if !b.server_alive => Verdict::NotMeasured("the server exited during the run".into()),
        Some(kib) if kib <= 8.0 => Verdict::Met,
        Some(_) => Verdict::NotMet(String::new()),
        None if b.held == 0 => Verdict::NotMeasured("no socket held".into()),
        None => Verdict::NotMeasured("the server's memory could not be read".into()),
    };
    vec![
        ("≥ 100,000 idle sockets".into(), held, count),
        (
            "≤ 8 KiB server memory per idle socket".into(),
            format!("{} KiB per socket at {} sockets", num(per, 2), b.held),
            memory,
        ),
    ]
}

fn idle_section(out: &mut String, (b, n): &(IdleRun, IdleRun)) {
    out.push_str("## 1. Idle sockets\n\n");
    let _ = writeln!(
        out,
        "Each socket connects, authenticates and subscribes (Beacon: its own principal and `user:` channel; \
         Node: its own `sessionId`), then stays idle for {:.0} s (Beacon's 25 s heartbeat pings are answered). \
         Memory is the server's `VmRSS` from `/proc/<pid>/status` before the first socket and at the end of the hold.\n",
        b.hold_secs
    );
    let f = |v: u64| Some(v as f64);
    table(
        out,
        &[
            row("sockets asked", f(b.requested as u64), f(n.requested as u64), 0, Better::Neither),
            row("sockets connected", f(b.connected as u64), f(n.connected as u64), 0, Better::Higher),
            row("sockets that failed to connect", f(b.failed as u64), f(n.failed as u64), 0, Better::Lower),
            row(
                "sockets still connected after the hold",
                f(b.held as u64),
                f(n.held as u64),
                0,
                Better::Higher,
            ),
            row(
                "connect rate (sockets/s, incl. token fetch on Beacon)",
                Some(b.connects_per_sec()),
                Some(n.connects_per_sec()),
                0,
                Better::Higher,
            ),
            row(
                "server RSS before (MiB)",
                b.rss_before_kib.map(|k| k as f64 / 1024.0),
                n.rss_before_kib.map(|k| k as f64 / 1024.0),
                1,
                Better::Lower,
            ),
            row(
                "server RSS connected (MiB)",
                b.rss_connected_kib.map(|k| k as f64 / 1024.0),
                n.rss_connected_kib.map(|k| k as f64 / 1024.0),
                1,
                Better::Lower,
            ),
            row(
                "server RSS after the hold (MiB)",
                b.rss_after_hold_kib.map(|k| k as f64 / 1024.0),
                n.rss_after_hold_kib.map(|k| k as f64 / 1024.0),
                1,
                Better::Lower,
            ),
            row("**RSS per idle socket (KiB)**", b.kib_per_socket(), n.kib_per_socket(), 2, Better::Lower),
        ],
    );
}

fn push_section(out: &mut String, (b, n): &(PushRun, PushRun)) {
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

fn fanout_section(out: &mut String, (b, n): &(FanoutRun, FanoutRun), plan: &Plan) {
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
                b.server_cpu_secs.map(|cpu| cpu * 1e6 / b.deliveries.max(1) as f64),
                n.server_cpu_secs.map(|cpu| cpu * 1e6 / n.deliveries.max(1) as f64),
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
         the same. Every loop is bounded in count and in time.\n\n",
    );

    if let Some(idle) = &inputs.idle {
        idle_section(&mut out, idle);
    }
    if let Some(push) = &inputs.push {
        push_section(&mut out, push);
    }
    if let Some(fanout) = &inputs.fanout {
        fanout_section(&mut out, fanout, plan);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Kind;

    fn idle(held: usize, rss: (Option<u64>, Option<u64>), alive: bool) -> IdleRun {
        IdleRun {
            kind: Kind::Beacon,
            requested: 9_000,
            connected: held,
            held,
            failed: 9_000 - held,
            connect_secs: 1.0,
            rss_before_kib: rss.0,
            rss_connected_kib: rss.1,
            rss_after_hold_kib: rss.1,
            hold_secs: 1.0,
            server_alive: alive,
        }
    }

    #[test]
    fn an_unreadable_memory_figure_is_no_measurement_never_met() {
        let goals = idle_goals(&idle(9_000, (Some(10_000), None), true), 9_000, "fd");
        assert!(matches!(goals[1].2, Verdict::NotMeasured(_)), "{:?}", goals[1].2);
        let goals = idle_goals(&idle(9_000, (None, Some(50_000)), true), 9_000, "fd");
        assert!(matches!(goals[1].2, Verdict::NotMeasured(_)));
        let goals = idle_goals(&idle(9_000, (Some(10_000), Some(46_000)), true), 9_000, "fd");
        assert_eq!(goals[1].2, Verdict::Met, "4 KiB per socket, measured");
    }

    #[test]
    fn a_dead_server_or_lost_sockets_are_not_blamed_on_the_file_limit() {
        let died = idle_goals(&idle(3_000, (Some(10_000), Some(20_000)), false), 9_000, "fd");
        assert!(matches!(&died[0].2, Verdict::NotMet(why) if why.contains("exited")), "{:?}", died[0].2);
        assert!(matches!(died[1].2, Verdict::NotMeasured(_)));
        let dropped = idle_goals(&idle(8_000, (Some(10_000), Some(20_000)), true), 9_000, "fd");
        assert!(
            matches!(&dropped[0].2, Verdict::NotMet(why) if why.contains("1000 of the 9000")),
            "{:?}",
            dropped[0].2
        );
        let capped = idle_goals(&idle(9_000, (Some(10_000), Some(20_000)), true), 9_000, "fd");
        assert!(matches!(capped[0].2, Verdict::OutOfReach(_)));
    }
}
