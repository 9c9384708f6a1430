//! `cargo run --release -p bench -- [--quick]`: Beacon against the Node
//! reference server (`bench/node/server.js`), side by side, in five scenarios:
//! idle sockets, push latency, fan-out, a reconnect storm and chat; Beacon
//! on two nodes (PostgreSQL + Redis: fan-out across them, a node killed);
//! Beacon's pages (time to first byte, download sizes); and an event published
//! until a page in headless Chromium shows it.
//! Starts the servers itself (fresh for each run), targets loopback only, and
//! writes `BENCHMARKS.md` at the workspace root.

mod args;
mod client;
mod disk;
mod report;
mod scenarios;
mod server;
mod setup;
mod sys;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use args::{Args, Scenario, make_plan};
use scenarios::progress;
use server::{Kind, Programs};
use setup::{cluster_spec, drop_database, ensure_node_modules, versions, workspace_root};

/// File descriptors kept free for everything that is not a benchmark socket.
const FD_RESERVE: usize = 1_000;

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
async fn probe_disk(stage: &str, failures: &mut Vec<String>) -> Option<disk::DiskProbe> {
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
