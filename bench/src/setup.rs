//! What a run needs around the scenarios: the workspace, the Node server's
//! dependencies, the versions for the report, and the two-node runs'
//! databases.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::args::Args;
use crate::scenarios::progress;
use crate::server::{self, Programs};
use crate::sys;

pub fn workspace_root() -> PathBuf {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench.parent().unwrap_or(bench).to_path_buf()
}

pub fn command_output(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// Installs the Node server's dependencies from its lock file when missing.
pub fn ensure_node_modules(node_dir: &Path) -> Result<()> {
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

pub fn versions(root: &Path, programs: &Programs) -> Vec<(String, String)> {
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

/// A fresh PostgreSQL database and Redis prefix for one two-node run.
pub fn cluster_spec(args: &Args, label: &str) -> Result<server::ClusterSpec> {
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

pub fn drop_database(admin_url: &str, database_url: &str) {
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
