//! Section 8: an event published until a page in headless Chromium shows it.

use std::fmt::Write;

use super::targets::browser_mode;
use crate::scenarios::browser::BrowserRun;

pub fn browser_section(out: &mut String, run: &BrowserRun) {
    out.push_str("## 8. Publish to DOM in headless Chromium\n\n");
    let _ = writeln!(
        out,
        "Beacon only (the reference Node server serves no page). One page of a new visitor open on `/` in headless \
         Chromium {}; {} events published to its `user:` channel through `POST /api/realtime/publish`, one every {} \
         ms, by the driver (`bench/browser/publish-to-dom.js`). Latency is from the start of the publish request to \
         the moment the event's row is in the page's DOM (a MutationObserver stamps it on the page's clock, \
         corrected by the measured offset between the two clocks). First with the page's WebSocket live, then in a \
         fresh page whose WebSocket upgrades are all refused, so it long-polls.\n",
        run.chromium, run.events, run.interval_ms
    );
    out.push_str(
        "| mode | posted | failed | missing | sockets refused | state at the end | p50 | p99 | max | clock offset |\n\
         |---|---:|---:|---:|---:|---|---:|---:|---:|---:|\n",
    );
    for m in &run.modes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:+.2} ± {:.2} ms |",
            m.mode,
            m.posted,
            m.failed,
            m.missing,
            m.refused_sockets,
            m.final_state,
            m.p50_ms,
            m.p99_ms,
            m.max_ms,
            m.clock.offset_ms,
            m.clock.uncertainty_ms
        );
    }
    out.push('\n');
    for m in &run.modes {
        if let (Some(to_page), Some(to_dom), Some(answered)) = (m.to_page, m.page_to_dom, m.answered) {
            let _ = writeln!(
                out,
                "- {}: publish request to the event reaching the page (its socket frame or poll answer, stamped \
                 before the app's code runs) p50 {:.2} ms, p99 {:.2} ms; from there to its row in the DOM (the page's \
                 own work) p50 {:.2} ms, p99 {:.2} ms; the publish request answered p50 {:.2} ms, p99 {:.2} ms.",
                m.mode, to_page.0, to_page.1, to_dom.0, to_dom.1, answered.0, answered.1
            );
        }
    }
    for m in &run.modes {
        let (target, met) = browser_mode(m);
        let _ = writeln!(
            out,
            "- Target p99 at most {target} ms ({}), nothing missing: {:.2} ms, {} missing, {}.",
            m.mode,
            m.p99_ms,
            m.missing,
            if met { "met" } else { "not met" }
        );
    }
    out.push('\n');
}
