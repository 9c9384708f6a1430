//! Scenario 8: an event published to Beacon until a real page shows it, in
//! headless Chromium, live (WebSocket) and with the socket refused so the page
//! long-polls. The browser is driven by `bench/browser/publish-to-dom.js`
//! (Playwright, from the end-to-end tests' packages); this side starts the
//! server, runs the driver with a deadline and reads its JSON. Beacon only:
//! the reference Node server serves no page.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use tokio::process::Command;

use super::{Plan, percentile, progress};
use crate::server::{Kind, Programs, Server};

/// Longest the whole driver may run (both modes, browser start included).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(240);

/// What the driver printed for one mode.
#[derive(Debug, Clone, Deserialize)]
struct DriverMode {
    mode: String,
    posted: usize,
    failed: usize,
    #[serde(default)]
    failures: Vec<String>,
    missing: usize,
    refused_sockets: usize,
    final_state: Option<String>,
    clock: Clock,
    latencies_ms: Vec<f64>,
    /// Publish request to the event reaching the page (socket frame or poll answer).
    to_page_ms: Vec<f64>,
    /// The event reaching the page to its row in the DOM: the page's own work.
    page_to_dom_ms: Vec<f64>,
    /// Publish request to its answer, as the driver saw it.
    answered_ms: Vec<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Clock {
    /// The page's clock minus the driver's, from the narrowest round trip.
    pub offset_ms: f64,
    /// Half that round trip: the offset is known to within this.
    pub uncertainty_ms: f64,
}

#[derive(Debug, Deserialize)]
struct DriverOutput {
    chromium: String,
    modes: Vec<DriverMode>,
}

/// One mode's figures.
#[derive(Debug, Clone)]
pub struct ModeRun {
    pub mode: String,
    pub posted: usize,
    pub failed: usize,
    pub missing: usize,
    pub refused_sockets: usize,
    pub final_state: String,
    pub clock: Clock,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// p50 and p99 of the two parts, and of the publish answer.
    pub to_page: Option<(f64, f64)>,
    pub page_to_dom: Option<(f64, f64)>,
    pub answered: Option<(f64, f64)>,
}

/// p50, p99 and max of millisecond samples (NaN when there are none).
fn spread(samples_ms: &[f64]) -> (f64, f64, f64) {
    // Microseconds, so the shared percentile helper applies; a negative value
    // (clock offset error) counts as zero.
    let mut samples: Vec<u64> = samples_ms.iter().map(|ms| (ms.max(0.0) * 1000.0).round() as u64).collect();
    samples.sort_unstable();
    let ms = |p: f64| percentile(&samples, p).map_or(f64::NAN, |us| us as f64 / 1000.0);
    (ms(50.0), ms(99.0), samples.last().map_or(f64::NAN, |us| *us as f64 / 1000.0))
}

#[derive(Debug, Clone)]
pub struct BrowserRun {
    pub chromium: String,
    pub events: usize,
    pub interval_ms: u64,
    pub modes: Vec<ModeRun>,
}

pub async fn run(root: &Path, programs: &Programs, plan: &Plan) -> Result<BrowserRun> {
    let server = Server::start(Kind::Beacon, programs, "browser").await?;
    let result = drive(root, programs, &server, plan).await;
    server.stop().await?;
    result
}

async fn drive(root: &Path, programs: &Programs, server: &Server, plan: &Plan) -> Result<BrowserRun> {
    let events = if plan.quick { 200 } else { 300 };
    let interval_ms = 20;
    let script = root.join("bench/browser/publish-to-dom.js");
    if !root.join("end2end/node_modules/@playwright/test").exists() {
        bail!("Playwright is missing: run scripts/bootstrap.sh (it installs end2end's packages)");
    }
    progress("browser", format!("{events} events, one every {interval_ms} ms, live then long-poll"));
    let child = Command::new(&programs.node)
        .arg(&script)
        .arg(server.api.base())
        .arg(server.api.publish_key())
        .arg(events.to_string())
        .arg(interval_ms.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} {}", programs.node, script.display()))?;
    let output = tokio::time::timeout(DRIVER_TIMEOUT, child.wait_with_output())
        .await
        .context("the browser driver ran past its deadline")??;
    if !output.status.success() {
        bail!("the browser driver failed ({}):\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    let parsed: DriverOutput =
        serde_json::from_slice(&output.stdout).context("reading the browser driver's JSON")?;
    let mut modes = Vec::new();
    for mode in parsed.modes {
        let run = summarize(mode);
        progress(
            "browser",
            format!(
                "{}: p50 {:.2} ms, p99 {:.2} ms, {} missing, {} failed",
                run.mode, run.p50_ms, run.p99_ms, run.missing, run.failed
            ),
        );
        modes.push(run);
    }
    Ok(BrowserRun { chromium: parsed.chromium, events, interval_ms, modes })
}

fn summarize(mode: DriverMode) -> ModeRun {
    for failure in &mode.failures {
        progress("browser", format!("{}: {failure}", mode.mode));
    }
    let (p50_ms, p99_ms, max_ms) = spread(&mode.latencies_ms);
    let part = |samples: &[f64]| {
        (!samples.is_empty()).then(|| {
            let (p50, p99, _) = spread(samples);
            (p50, p99)
        })
    };
    ModeRun {
        p50_ms,
        p99_ms,
        max_ms,
        to_page: part(&mode.to_page_ms),
        page_to_dom: part(&mode.page_to_dom_ms),
        answered: part(&mode.answered_ms),
        mode: mode.mode,
        posted: mode.posted,
        failed: mode.failed,
        missing: mode.missing,
        refused_sockets: mode.refused_sockets,
        final_state: mode.final_state.unwrap_or_default(),
        clock: mode.clock,
    }
}
