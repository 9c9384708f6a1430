//! Section 7: the pages (time to first byte, sizes of what a visit downloads).

use std::fmt::Write;

use crate::scenarios::pages::PagesRun;

/// Issue targets: TTFB p50 of `/` at most 2 ms; the WASM at most 200 KB gzipped.
const HOME_TTFB_P50_MS: f64 = 2.0;
const WASM_GZIP_BYTES: u64 = 200 * 1000;

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "not met" }
}

pub fn pages_section(out: &mut String, run: &PagesRun) {
    out.push_str("## 7. Pages: time to first byte and download sizes\n\n");
    out.push_str(
        "Beacon only (the reference Node server renders no pages). A returning visitor (its cookie sent), one \
         request at a time after 20 unmeasured ones; the time from sending the request to the response headers.\n\n",
    );
    out.push_str("| page | requests | failed | TTFB p50 | p99 | max |\n|---|---|---|---|---|---|\n");
    for t in &run.timings {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
            t.path, t.requests, t.failed, t.p50_ms, t.p99_ms, t.max_ms
        );
    }
    if run.timings.iter().any(|t| t.failed > 0) {
        out.push_str(
            "\nA failed request got no complete answer within 5 s (an error, or the server dropped it); it is \
             counted, not timed. docs/PERFORMANCE.md says what the server's log showed.\n",
        );
    }
    out.push_str("\n| asset | as served | gzipped by the server |\n|---|---|---|\n");
    for a in &run.assets {
        let _ = writeln!(
            out,
            "| `{}` | {:.1} KB | {:.1} KB |",
            a.path,
            a.raw_bytes as f64 / 1000.0,
            a.gzip_bytes as f64 / 1000.0
        );
    }
    let total: u64 = run.assets.iter().map(|a| a.gzip_bytes).sum();
    let _ = writeln!(out, "\nA first visit downloads {:.1} KB gzipped in all.\n", total as f64 / 1000.0);
    if let Some(home) = run.timings.iter().find(|t| t.path == "/") {
        let _ = writeln!(
            out,
            "- Target TTFB p50 of `/` at most {HOME_TTFB_P50_MS} ms: {:.2} ms, {}.",
            home.p50_ms,
            verdict(home.p50_ms <= HOME_TTFB_P50_MS)
        );
    }
    if let Some(wasm) = run.assets.iter().find(|a| a.path.ends_with(".wasm")) {
        let _ = writeln!(
            out,
            "- Target WASM at most {} KB gzipped: {:.1} KB, {}.",
            WASM_GZIP_BYTES / 1000,
            wasm.gzip_bytes as f64 / 1000.0,
            verdict(wasm.gzip_bytes <= WASM_GZIP_BYTES)
        );
    }
    out.push('\n');
}
