//! `cargo run --release -p bench -- [--quick]`: Beacon against the Node
//! reference server (`bench/node/server.js`), side by side, in five scenarios:
//! idle sockets, push latency, fan-out, a reconnect storm and chat; Beacon
//! on two nodes (PostgreSQL + Redis: fan-out across them, a node killed);
//! Beacon's pages (time to first byte, download sizes); and an event published
//! until a page in headless Chromium shows it.
//! Starts the servers itself (fresh for each run), targets loopback only, and
//! writes `BENCHMARKS.md` at the workspace root.

mod client;
mod disk;
mod report;
mod scenarios;
mod server;
mod sys;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

use scenarios::{Plan, progress};
use server::{Kind, Programs};

/// File descriptors kept free for everything that is not a benchmark socket.
const FD_RESERVE: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Idle,
    Push,
    Fanout,
    Storm,
    Chat,
    /// Two Beacon nodes on PostgreSQL and Redis: fan-out across them, and a node killed.
    Cluster,
    /// Beacon's pages: time to first byte, and the sizes a visit downloads.
    Pages,
    /// An event published until a page in headless Chromium shows it, live and long-polling.
    Browser,
}

/// Benchmark Beacon against the Node reference server and write BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// Small sizes and short runs: the whole benchmark in under two minutes.
    #[arg(long)]
    quick: bool,
    /// Which scenarios to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    scenarios: Vec<Scenario>,
    /// Idle sockets per server (default: as many as the fd limit allows; quick 2000).
    #[arg(long)]
    idle_sockets: Option<usize>,
    /// Watchers in the push-latency scenario (default 10000; quick 2000).
    #[arg(long)]
    watchers: Option<usize>,
    /// Events per second in the push-latency scenario.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Subscribers of the fan-out channel (default: as many as fit; quick 2000).
    #[arg(long)]
    fanout_subscribers: Option<usize>,
    /// Clients in the reconnect storm (default: half of what fits, at most 10000; quick 2000).
    #[arg(long)]
    storm_clients: Option<usize>,
    /// Events per second during the reconnect storm.
    #[arg(long, default_value_t = 500)]
    storm_rate: u32,
    /// Conversations in the chat scenario, of 10 members each (default 1000; quick 100).
    #[arg(long)]
    chat_conversations: Option<usize>,
    /// Spread client sockets over 127.0.0.1 ..= 127.0.0.N.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=254))]
    sources: u8,
    /// The Beacon release binary (default: $CARGO_TARGET_DIR or <workspace>/target, then release/beacon).
    #[arg(long)]
    beacon_bin: Option<PathBuf>,
    /// The Node.js executable.
    #[arg(long, default_value = "node")]
    node: String,
    /// PostgreSQL for the two-node scenario: a database is created there for each run.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Redis for the two-node scenario.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Where to write the report (default: <workspace>/BENCHMARKS.md).
    #[arg(long)]
    output: Option<PathBuf>,
}

fn workspace_root() -> PathBuf {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench.parent().unwrap_or(bench).to_path_buf()
}

fn make_plan(args: &Args, cap: usize) -> Plan {
    let capped = |asked: usize| asked.min(cap).max(1);
    let quick = args.quick;
    Plan {
        quick,
        sources: usize::from(args.sources),
        socket_cap: cap,
        idle_sockets: capped(args.idle_sockets.unwrap_or(if quick { 2_000 } else { cap })),
        idle_hold: Duration::from_secs(if quick { 3 } else { 30 }),
        watchers: capped(args.watchers.unwrap_or(if quick { 2_000 } else { 10_000 })),
        rate: args.rate.max(1),
        push_duration: Duration::from_secs(if quick { 6 } else { 30 }),
        fanout_subscribers: capped(args.fanout_subscribers.unwrap_or(if quick { 2_000 } else { cap })),
        fanout_duration: Duration::from_secs(if quick { 5 } else { 20 }),
        fanout_window: 16,
        payload_bytes: 100,
        // During a storm a server may briefly hold the old and the new socket of
        // a client, so only half of what fits is safe.
        storm_clients: capped(args.storm_clients.unwrap_or(if quick {
            2_000
        } else {
            (cap / 2).min(10_000)
        })),
        storm_rate: args.storm_rate.max(1),
        storm_before: Duration::from_secs(if quick { 2 } else { 5 }),
        storm_after: Duration::from_secs(if quick { 2 } else { 5 }),
        storm_deadline: Duration::from_secs(if quick { 15 } else { 30 }),
        setup_concurrency: 128,
        chat_members: 10,
        chat_conversations: (args.chat_conversations.unwrap_or(if quick { 100 } else { 1_000 }))
            .min(cap / 10)
            .max(1),
        chat_duration: Duration::from_secs(if quick { 8 } else { 20 }),
    }
}

fn command_output(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// Installs the Node server's dependencies from its lock file when missing.
fn ensure_node_modules(node_dir: &Path) -> Result<()> {
    if node_dir.join("node_modules/ws/package.json").exists() {
        return Ok(());
    }
    progress("setup", "installing the Node server's dependencies (npm ci)");
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(node_dir)
        .status()
        .context("running npm ci (is npm installed?)")?;
    if !status.success() {
        bail!("npm ci in {} failed ({status})", node_dir.display());
    }
    Ok(())
}

fn versions(root: &Path, programs: &Programs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let commit = command_output("git", &["log", "-1", "--format=%h (committed %ci)"], root)
        .unwrap_or_else(|| "unknown".into());
    let built = std::fs::metadata(&programs.beacon_bin)
        .and_then(|m| m.modified())
        .map(|t| format!("{} UTC", sys::utc(t)))
        .unwrap_or_else(|_| "?".into());
    let dirty = command_output("git", &["status", "--porcelain"], root).is_some_and(|s| !s.is_empty());
    let beacon = command_output(&programs.beacon_bin.to_string_lossy(), &["--version"], root)
        .unwrap_or_else(|| "beacon".into());
    out.push((
        "Beacon".into(),
        format!(
            "{beacon}; work tree at commit {commit}{}; binary `{}` built {built}",
            if dirty { ", with uncommitted changes" } else { "" },
            programs.beacon_bin.display()
        ),
    ));
    let node = command_output(&programs.node, &["--version"], root).unwrap_or_else(|| "?".into());
    let ws = std::fs::read_to_string(root.join("bench/node/node_modules/ws/package.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    out.push(("Node".into(), format!("{node}, ws {ws}")));
    out
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    sys::now_ns(); // start the shared clock
    let started = std::time::Instant::now();
    let load_at_start = sys::load_average();
    let root = workspace_root();
    let limits = sys::raise_fd_limit()?;
    let cap = usize::try_from(limits.soft).unwrap_or(usize::MAX).saturating_sub(FD_RESERVE).max(1);
    let plan = make_plan(&args, cap);
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let programs = Programs {
        beacon_bin: args.beacon_bin.clone().unwrap_or_else(|| target_dir.join("release/beacon")),
        // cargo-leptos writes the site under the workspace (`site-root`), not
        // under CARGO_TARGET_DIR.
        site_root: root.join("target/site"),
        node: args.node.clone(),
        node_script: root.join("bench/node/server.js"),
    };
    if !programs.beacon_bin.exists() {
        bail!(
            "{} is missing: build it first with `cargo leptos build --release --split` (or pass --beacon-bin)",
            programs.beacon_bin.display()
        );
    }
    // The servers run in temporary folders: relative paths would not resolve there.
    let programs = Programs {
        beacon_bin: std::path::absolute(&programs.beacon_bin)?,
        node_script: std::path::absolute(&programs.node_script)?,
        site_root: std::path::absolute(&programs.site_root)?,
        ..programs
    };
    ensure_node_modules(&root.join("bench/node"))?;
    let machine = sys::machine();
    progress(
        "setup",
        format!(
            "{} mode; fd limit {} -> {} (hard {}); at most {} sockets per run; {} cores",
            if plan.quick { "quick" } else { "full" },
            limits.soft_before,
            limits.soft,
            limits.hard,
            cap,
            machine.cores
        ),
    );
    progress(
        "setup",
        format!(
            "idle {} sockets, push {} watchers at {}/s, fan-out {} subscribers, storm {} clients at {}/s",
            plan.idle_sockets,
            plan.watchers,
            plan.rate,
            plan.fanout_subscribers,
            plan.storm_clients,
            plan.storm_rate
        ),
    );
    let wanted = |s: Scenario| args.scenarios.is_empty() || args.scenarios.contains(&s);
    let mut failures = Vec::new();
    let disk_at_start = probe_disk("setup", &mut failures).await;

    // Alternate which server goes first, so neither always runs on a warmer machine.
    let beacon_first = [Kind::Beacon, Kind::Node];
    let node_first = [Kind::Node, Kind::Beacon];

    let mut idle = None;
    if wanted(Scenario::Idle) {
        let mut runs = Vec::new();
        for kind in beacon_first {
            match scenarios::idle::run(kind, &programs, &plan).await {
                Ok(run) => runs.push(run),
                Err(err) => failures.push(format!("idle/{}: {err:#}", kind.name())),
            }
            settle().await;
        }
        idle = pair(runs, |r| r.kind);
    }
    let mut push = None;
    if wanted(Scenario::Push) {
        let mut runs = Vec::new();
        for kind in node_first {
            match scenarios::push::run(kind, &programs, &plan).await {
                Ok(run) => runs.push(run),
                Err(err) => failures.push(format!("push/{}: {err:#}", kind.name())),
            }
            settle().await;
        }
        push = pair(runs, |r| r.kind);
    }
    let mut fanout = None;
    if wanted(Scenario::Fanout) {
        let mut runs = Vec::new();
        for kind in beacon_first {
            match scenarios::fanout::run(kind, &programs, &plan).await {
                Ok(run) => runs.push(run),
                Err(err) => failures.push(format!("fanout/{}: {err:#}", kind.name())),
            }
            settle().await;
        }
        fanout = pair(runs, |r| r.kind);
    }
    let mut storm = None;
    if wanted(Scenario::Storm) {
        let mut runs = Vec::new();
        for kind in node_first {
            match scenarios::storm::run(kind, &programs, &plan).await {
                Ok(run) => runs.push(run),
                Err(err) => failures.push(format!("storm/{}: {err:#}", kind.name())),
            }
            settle().await;
        }
        storm = pair(runs, |r| r.kind);
    }
    let mut chat = None;
    if wanted(Scenario::Chat) {
        let mut runs = Vec::new();
        for kind in beacon_first {
            match scenarios::chat::run(kind, &programs, &plan).await {
                Ok(run) => runs.push(run),
                Err(err) => failures.push(format!("chat/{}: {err:#}", kind.name())),
            }
            settle().await;
        }
        chat = pair(runs, |r| r.kind);
    }
    let mut cluster = None;
    if wanted(Scenario::Cluster) {
        let mut fanout_run = None;
        let mut storm_run = None;
        for which in ["fanout", "storm"] {
            let spec = match cluster_spec(&args, which) {
                Ok(spec) => spec,
                Err(err) => {
                    failures.push(format!("{which}/2 nodes: {err:#}"));
                    continue;
                }
            };
            let outcome = if which == "fanout" {
                scenarios::fanout::run_cluster(&programs, &plan, &spec).await.map(|r| fanout_run = Some(r))
            } else {
                scenarios::storm::run_cluster(&programs, &plan, &spec).await.map(|r| storm_run = Some(r))
            };
            if let Err(err) = outcome {
                failures.push(format!("{which}/2 nodes: {err:#}"));
            }
            drop_database(&args.postgres_url, &spec.database_url);
            settle().await;
        }
        cluster = Some((fanout_run, storm_run));
    }
    let mut pages = None;
    if wanted(Scenario::Pages) {
        match scenarios::pages::run(&programs, &plan).await {
            Ok(run) => pages = Some(run),
            Err(err) => failures.push(format!("pages: {err:#}")),
        }
    }
    let mut browser = None;
    if wanted(Scenario::Browser) {
        match scenarios::browser::run(&root, &programs, &plan).await {
            Ok(run) => browser = Some(run),
            Err(err) => failures.push(format!("browser: {err:#}")),
        }
    }
    for failure in &failures {
        progress("error", failure);
    }

    let mut command = String::from("cargo run --release -p bench --");
    for arg in std::env::args().skip(1) {
        command.push(' ');
        command.push_str(&arg);
    }
    if command.ends_with("--") {
        command.truncate(command.len() - 3);
    }
    let disk_at_end = probe_disk("done", &mut failures).await;
    let inputs = report::Inputs {
        command,
        date: sys::today_utc(),
        machine,
        limits,
        plan: &plan,
        total_secs: started.elapsed().as_secs_f64(),
        load: (load_at_start, sys::load_average()),
        disk_sync: (disk_at_start, disk_at_end),
        versions: versions(&root, &programs),
        idle,
        push,
        fanout,
        storm,
        chat,
        cluster,
        pages,
        browser,
        failures,
    };
    let output = args.output.unwrap_or_else(|| root.join("BENCHMARKS.md"));
    std::fs::write(&output, report::render(&inputs))
        .with_context(|| format!("writing {}", output.display()))?;
    progress("done", format!("wrote {} after {:.0} s", output.display(), started.elapsed().as_secs_f64()));
    Ok(())
}

/// A fresh PostgreSQL database and Redis prefix for one two-node run.
fn cluster_spec(args: &Args, label: &str) -> Result<server::ClusterSpec> {
    let tag = format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let name = format!("beacon_bench_{label}_{tag}");
    psql(&args.postgres_url, &format!("CREATE DATABASE {name}"))?;
    let base = args.postgres_url.rsplit_once('/').map_or(args.postgres_url.as_str(), |(b, _)| b);
    let hex = || format!("{:032x}", rand::random::<u128>());
    Ok(server::ClusterSpec {
        database_url: format!("{base}/{name}"),
        redis_url: args.redis_url.clone(),
        prefix: format!("beacon-bench-{tag}"),
        secret: format!("{}{}", hex(), hex()),
        publish_key: format!("bench-{}", hex()),
    })
}

fn drop_database(admin_url: &str, database_url: &str) {
    if let Some((_, name)) = database_url.rsplit_once('/')
        && let Err(err) = psql(admin_url, &format!("DROP DATABASE IF EXISTS {name}"))
    {
        progress("cleanup", format!("could not drop {name}: {err:#}"));
    }
}

/// Runs one statement with `psql` (installed with PostgreSQL's client).
fn psql(url: &str, statement: &str) -> Result<()> {
    let status = std::process::Command::new("psql")
        .args([url, "-qAtc", statement])
        .stdout(std::process::Stdio::null())
        .status()
        .context("running psql (the two-node scenario needs PostgreSQL's client)")?;
    if !status.success() {
        bail!("psql failed on `{statement}` at {url}");
    }
    Ok(())
}

/// A moment between runs for closed sockets and the CPU to settle.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The (Beacon, Node) pair from a scenario's runs, if both succeeded.
fn pair<T>(runs: Vec<T>, kind: impl Fn(&T) -> Kind) -> Option<(T, T)> {
    let mut beacon = None;
    let mut node = None;
    for run in runs {
        match kind(&run) {
            Kind::Beacon => beacon = Some(run),
            Kind::Node => node = Some(run),
        }
    }
    beacon.zip(node)
}

/// Probes the disk where the servers' folders (and Beacon's SQLite file) go.
async fn probe_disk(stage: &str, failures: &mut Vec<String>) -> Option<disk::SyncProbe> {
    // Blocking syncs and sleeps: off the runtime's workers.
    let probed = tokio::task::spawn_blocking(|| disk::probe(&std::env::temp_dir()))
        .await
        .unwrap_or_else(|err| Err(anyhow::anyhow!("the probe's thread failed: {err}")));
    match probed {
        Ok(probe) => {
            progress(stage, format!("disk: {}", probe.describe()));
            Some(probe)
        }
        Err(err) => {
            failures.push(format!("disk sync probe ({stage}): {err:#}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_mode_is_small_and_caps_hold() {
        let args = Args::parse_from(["bench", "--quick"]);
        let plan = make_plan(&args, 19_000);
        assert!(plan.quick);
        assert_eq!(plan.watchers, 2_000);
        let args = Args::parse_from(["bench", "--watchers", "50000"]);
        let plan = make_plan(&args, 19_000);
        assert_eq!(plan.watchers, 19_000);
        assert_eq!(plan.idle_sockets, 19_000);
        assert_eq!(plan.storm_clients, 9_500);
    }

    #[test]
    fn scenarios_parse_as_a_list() {
        let args = Args::parse_from(["bench", "--scenarios", "idle,storm"]);
        assert_eq!(args.scenarios, vec![Scenario::Idle, Scenario::Storm]);
    }
}
