//! The performance targets, judged from this run alone: a ratio to the Node
//! reference measured in the same invocation where Node has the figure, an
//! absolute bound where it has none (the pages, the browser, the storm's
//! catch-up). Each scenario's section shows the figures behind a verdict.

use super::{Inputs, Verdict, num, ratio};
use crate::scenarios::browser::ModeRun;
use crate::scenarios::fanout::FanoutRun;
use crate::scenarios::pages::PagesRun;

/// Server CPU per 1,000 fan-out deliveries, at most this times Node's.
const FANOUT_CPU_RATIO: f64 = 0.3;
/// Fan-out deliveries per second, at least this times Node's.
const FANOUT_RATE_RATIO: f64 = 3.0;
/// Server CPU per published event, durable write included, at most Node's.
const PUSH_CPU_RATIO: f64 = 1.0;
/// Each push latency percentile at most Node's.
const PUSH_LATENCY_RATIO: f64 = 1.0;
/// Memory per idle socket, at most this times Node's.
const IDLE_MEMORY_RATIO: f64 = 0.5;
/// The storm: every client back and caught up within this, nothing lost.
const STORM_CAUGHT_UP_SECS: f64 = 1.0;
/// The storm: the publish API's p99 meanwhile, with no publisher tick skipped.
const STORM_POST_P99_MS: f64 = 50.0;
pub(super) const HOME_TTFB_P50_MS: f64 = 2.0;
pub(super) const WASM_GZIP_BYTES: u64 = 200 * 1000;
/// Publish to DOM, p99: live (WebSocket) and on the long-poll fallback.
pub(super) const LIVE_P99_MS: f64 = 20.0;
pub(super) const LONG_POLL_P99_MS: f64 = 50.0;
/// The fewest events a browser mode's p99 is judged on.
const BROWSER_EVENTS: usize = 200;

type Judged = (String, String, Verdict);

fn met_if(met: bool) -> Verdict {
    if met { Verdict::Met } else { Verdict::NotMet(String::new()) }
}

fn not_run(target: &str, scenario: &str) -> Judged {
    (target.into(), "-".into(), Verdict::NotMeasured(format!("the {scenario} scenario did not run")))
}

/// A target on `beacon / node`: met when `within(ratio)`.
fn on_ratio(
    target: String,
    (beacon, node): (Option<f64>, Option<f64>),
    decimals: usize,
    unit: &str,
    within: impl Fn(f64) -> bool,
) -> Judged {
    let measured = format!("{} against {} {unit}", num(beacon, decimals), num(node, decimals));
    match ratio(beacon, node) {
        Some(r) => (target, format!("{r:.2}x ({measured})"), met_if(within(r))),
        None => (target, measured, Verdict::NotMeasured("a figure is missing".into())),
    }
}

/// Server CPU per 1,000 deliveries, in milliseconds.
pub(super) fn fanout_cpu_per_thousand_ms(run: &FanoutRun) -> Option<f64> {
    run.server_cpu_secs.map(|cpu| cpu * 1e6 / run.deliveries.max(1) as f64)
}

pub(super) fn home_ttfb(run: &PagesRun) -> Option<(f64, bool)> {
    let home = run.timings.iter().find(|t| t.path == "/")?;
    Some((home.p50_ms, home.p50_ms <= HOME_TTFB_P50_MS))
}

/// The largest first visit's WASM: its route, its gzipped bytes, and whether
/// it is within the target.
pub(super) fn heaviest_wasm(run: &PagesRun) -> Option<(&'static str, u64, bool)> {
    let (page, bytes) =
        run.downloads.iter().map(|d| (d.path, run.gzip_bytes(d, ".wasm"))).max_by_key(|(_, bytes)| *bytes)?;
    Some((page, bytes, bytes <= WASM_GZIP_BYTES))
}

/// A browser mode's p99 bound, and whether the mode met it, none missing or
/// failed.
pub(super) fn browser_mode(mode: &ModeRun) -> (f64, bool) {
    let bound = if mode.mode == "live" { LIVE_P99_MS } else { LONG_POLL_P99_MS };
    (bound, mode.p99_ms <= bound && mode.missing == 0 && mode.failed == 0)
}

pub(super) fn targets(inputs: &Inputs<'_>) -> Vec<Judged> {
    let mut out = Vec::new();
    match &inputs.fanout {
        Some((b, n)) => {
            out.push(on_ratio(
                format!("fan-out: server CPU per 1,000 deliveries ≤ {FANOUT_CPU_RATIO}x Node"),
                (fanout_cpu_per_thousand_ms(b), fanout_cpu_per_thousand_ms(n)),
                2,
                "ms",
                |r| r <= FANOUT_CPU_RATIO,
            ));
            out.push(on_ratio(
                format!("fan-out: deliveries per second ≥ {FANOUT_RATE_RATIO}x Node"),
                (Some(b.deliveries_per_sec()), Some(n.deliveries_per_sec())),
                0,
                "per second",
                |r| r >= FANOUT_RATE_RATIO,
            ));
        }
        None => out.push(not_run("fan-out", "fan-out")),
    }
    match &inputs.push {
        Some((b, n)) => {
            out.push(on_ratio(
                format!(
                    "push: server CPU per published event ≤ {PUSH_CPU_RATIO}x Node, durable write included"
                ),
                (b.cpu_per_event_us(), n.cpu_per_event_us()),
                0,
                "µs",
                |r| r <= PUSH_CPU_RATIO,
            ));
            for p in [50.0, 99.0, 99.9] {
                out.push(on_ratio(
                    format!(
                        "push at {} watchers, {}/s: p{p} ≤ {PUSH_LATENCY_RATIO}x Node",
                        b.watchers, b.rate
                    ),
                    (b.latency_ms(p), n.latency_ms(p)),
                    3,
                    "ms",
                    |r| r <= PUSH_LATENCY_RATIO,
                ));
            }
        }
        None => out.push(not_run("push", "push")),
    }
    match &inputs.idle {
        Some((b, n)) => out.push(on_ratio(
            format!("memory per idle socket ≤ {IDLE_MEMORY_RATIO}x Node"),
            (b.kib_per_socket(), n.kib_per_socket()),
            2,
            "KiB",
            |r| r <= IDLE_MEMORY_RATIO,
        )),
        None => out.push(not_run("memory per idle socket", "idle")),
    }
    match &inputs.storm {
        Some((b, _)) => {
            let caught_up = b.all_caught_up_secs;
            out.push((
                format!(
                    "storm of {} clients: all caught up within {STORM_CAUGHT_UP_SECS} s, nothing lost",
                    b.clients
                ),
                format!(
                    "{}, {} lost",
                    caught_up.map_or("not all came back".to_owned(), |s| format!("{s:.2} s")),
                    b.lost
                ),
                met_if(caught_up.is_some_and(|s| s <= STORM_CAUGHT_UP_SECS) && b.lost == 0),
            ));
            let post_p99 = b.answer_ms.1;
            out.push((
                format!("storm: publish API p99 ≤ {STORM_POST_P99_MS} ms, no publisher tick skipped"),
                format!("p99 {} ms, {} ticks skipped", num(post_p99, 2), b.skipped_ticks),
                met_if(post_p99.is_some_and(|p| p <= STORM_POST_P99_MS) && b.skipped_ticks == 0),
            ));
        }
        None => out.push(not_run("storm", "storm")),
    }
    match &inputs.pages {
        Some(pages) => {
            let target = format!("TTFB of `/` p50 ≤ {HOME_TTFB_P50_MS} ms");
            out.push(match home_ttfb(pages) {
                Some((p50, met)) => (target, format!("{p50:.2} ms"), met_if(met)),
                None => (target, "-".into(), Verdict::NotMeasured("`/` was not timed".into())),
            });
            let target = format!("WASM ≤ {} KB gzipped, the largest first visit", WASM_GZIP_BYTES / 1000);
            out.push(match heaviest_wasm(pages) {
                Some((page, bytes, met)) => {
                    (target, format!("{:.1} KB (`{page}`)", bytes as f64 / 1000.0), met_if(met))
                }
                None => (target, "-".into(), Verdict::NotMeasured("no page was sized".into())),
            });
        }
        None => out.push(not_run("pages", "pages")),
    }
    match &inputs.browser {
        Some(browser) => {
            for mode in &browser.modes {
                let (bound, met) = browser_mode(mode);
                let verdict = if mode.posted < BROWSER_EVENTS {
                    Verdict::NotMeasured(format!("{} events, fewer than {BROWSER_EVENTS}", mode.posted))
                } else {
                    met_if(met)
                };
                out.push((
                    format!(
                        "publish to DOM in Chromium, {}: p99 ≤ {bound} ms over ≥ {BROWSER_EVENTS} events, none missing",
                        mode.mode
                    ),
                    format!("p99 {:.2} ms over {} events, {} missing", mode.p99_ms, mode.posted, mode.missing),
                    verdict,
                ));
            }
        }
        None => out.push(not_run("publish to DOM", "browser")),
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Args, make_plan};
    use crate::report::push::tests::run as push_run;
    use crate::scenarios::browser::{BrowserRun, Clock};
    use crate::scenarios::storm::StormRun;
    use crate::server::Kind;
    use crate::sys::{FdLimits, Machine};

    fn storm(caught_up: Option<f64>, lost: u64, post_p99_ms: f64, skipped_ticks: u64) -> StormRun {
        StormRun {
            kind: Kind::Beacon,
            clients: 9_500,
            back: 9_500,
            failed: 0,
            all_caught_up_secs: caught_up,
            back_ns: vec![500_000_000],
            accepted: 1_000,
            lost,
            lost_during_storm: lost,
            posted_during_storm: 500,
            duplicates: 0,
            replayed: 500,
            resets: 0,
            retries: 0,
            sent_to_nobody: 0,
            failed_posts: 0,
            skipped_ticks,
            answer_ms: (Some(1.0), Some(post_p99_ms), Some(post_p99_ms)),
            server_cpu_secs: Some(1.0),
            client_cpu_secs: Some(1.0),
        }
    }

    fn mode(name: &str, posted: usize, p99_ms: f64) -> ModeRun {
        ModeRun {
            mode: name.into(),
            posted,
            failed: 0,
            missing: 0,
            refused_sockets: 0,
            final_state: "live".into(),
            clock: Clock { offset_ms: 0.0, uncertainty_ms: 0.1 },
            p50_ms: 1.0,
            p99_ms,
            max_ms: p99_ms,
            to_page: None,
            page_to_dom: None,
            answered: None,
        }
    }

    /// The verdicts of a run that measured push, the storm and the browser only.
    fn judged(inputs: impl FnOnce(&mut Inputs<'_>)) -> Vec<(String, Verdict)> {
        let plan = make_plan(&Args::parse_from(["bench", "--quick"]), 1_000);
        let mut run = Inputs {
            command: "bench".into(),
            date: "today".into(),
            machine: Machine {
                cores: "2".into(),
                cpu_model: "cpu".into(),
                mem_total: "1".into(),
                kernel: "linux".into(),
            },
            limits: FdLimits { soft_before: 1, soft: 1, hard: 1 },
            plan: &plan,
            total_secs: 1.0,
            load: (String::new(), String::new()),
            disk_sync: (None, None),
            versions: Vec::new(),
            idle: None,
            push: None,
            fanout: None,
            storm: None,
            cluster: None,
            chat: None,
            pages: None,
            browser: None,
            failures: Vec::new(),
        };
        inputs(&mut run);
        targets(&run).into_iter().map(|(target, _, verdict)| (target, verdict)).collect()
    }

    fn verdict_of<'a>(judged: &'a [(String, Verdict)], starts: &str) -> &'a Verdict {
        &judged.iter().find(|(target, _)| target.starts_with(starts)).unwrap_or_else(|| panic!("{starts}")).1
    }

    #[test]
    fn push_cpu_is_judged_per_event_against_node() {
        let over = judged(|i| {
            i.push =
                Some((push_run(Kind::Beacon, 15_000, Some(6.0)), push_run(Kind::Node, 15_000, Some(2.25))))
        });
        assert_eq!(
            *verdict_of(&over, "push: server CPU"),
            Verdict::NotMet(String::new()),
            "400 µs against 150"
        );
        let within = judged(|i| {
            i.push =
                Some((push_run(Kind::Beacon, 15_000, Some(2.0)), push_run(Kind::Node, 15_000, Some(2.25))))
        });
        assert_eq!(*verdict_of(&within, "push: server CPU"), Verdict::Met);
        assert_eq!(
            *verdict_of(&within, "push at 10000 watchers, 500/s: p50"),
            Verdict::Met,
            "0.5 ms each: 1x"
        );
        let unread = judged(|i| {
            i.push = Some((push_run(Kind::Beacon, 15_000, Some(2.0)), push_run(Kind::Node, 15_000, None)))
        });
        assert!(matches!(verdict_of(&unread, "push: server CPU"), Verdict::NotMeasured(_)));
    }

    #[test]
    fn the_storm_needs_every_client_in_time_and_every_tick() {
        let storm_of = |run: StormRun| judged(|i| i.storm = Some((run.clone(), run)));
        let fine = storm_of(storm(Some(0.9), 0, 4.0, 0));
        assert_eq!(*verdict_of(&fine, "storm of"), Verdict::Met);
        assert_eq!(*verdict_of(&fine, "storm: publish API"), Verdict::Met);
        assert_eq!(
            *verdict_of(&storm_of(storm(Some(1.1), 0, 4.0, 0)), "storm of"),
            Verdict::NotMet(String::new())
        );
        assert_eq!(
            *verdict_of(&storm_of(storm(Some(0.9), 1, 4.0, 0)), "storm of"),
            Verdict::NotMet(String::new())
        );
        assert_eq!(
            *verdict_of(&storm_of(storm(None, 0, 4.0, 0)), "storm of"),
            Verdict::NotMet(String::new())
        );
        let skipped = storm_of(storm(Some(0.9), 0, 4.0, 1));
        assert_eq!(*verdict_of(&skipped, "storm: publish API"), Verdict::NotMet(String::new()));
        let slow = storm_of(storm(Some(0.9), 0, 51.0, 0));
        assert_eq!(*verdict_of(&slow, "storm: publish API"), Verdict::NotMet(String::new()));
    }

    #[test]
    fn a_browser_mode_is_judged_on_enough_events_only() {
        let browser = |modes| {
            judged(|i| {
                i.browser = Some(BrowserRun { chromium: "c".into(), events: 0, interval_ms: 10, modes })
            })
        };
        let full = browser(vec![mode("live", 300, 9.0), mode("long-poll", 300, 51.0)]);
        assert_eq!(*verdict_of(&full, "publish to DOM in Chromium, live"), Verdict::Met);
        assert_eq!(
            *verdict_of(&full, "publish to DOM in Chromium, long-poll"),
            Verdict::NotMet(String::new())
        );
        let short = browser(vec![mode("live", 50, 9.0)]);
        assert!(matches!(verdict_of(&short, "publish to DOM in Chromium, live"), Verdict::NotMeasured(_)));
    }

    #[test]
    fn a_scenario_that_did_not_run_is_not_measured_never_met() {
        let none = judged(|_| {});
        assert!(none.iter().all(|(_, verdict)| matches!(verdict, Verdict::NotMeasured(_))), "{none:?}");
        assert_eq!(none.len(), 6, "fan-out, push, idle, storm, pages, browser");
    }
}
