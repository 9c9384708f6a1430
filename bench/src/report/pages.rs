//! Section 7: the pages (time to first byte, sizes of what a visit downloads).

use std::fmt::Write;

use super::targets::{HOME_TTFB_P50_MS, WASM_GZIP_BYTES, heaviest_wasm, home_ttfb};
use crate::scenarios::pages::PagesRun;

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
    out.push_str(
        "\nWhat a first visit to each page downloads, gzipped: the assets its HTML names (every page but the start \
         page is a lazy route, whose WASM chunks the server names for preloading), and the main module its loader \
         fetches.\n\n| page | WASM | in all (WASM, JS, CSS) |\n|---|---|---|\n",
    );
    for d in &run.downloads {
        let _ = writeln!(
            out,
            "| `{}` | {:.1} KB | {:.1} KB |",
            d.path,
            run.gzip_bytes(d, ".wasm") as f64 / 1000.0,
            run.gzip_bytes(d, "") as f64 / 1000.0
        );
    }
    out.push('\n');
    if let Some((p50, met)) = home_ttfb(run) {
        let _ = writeln!(
            out,
            "- Target TTFB p50 of `/` at most {HOME_TTFB_P50_MS} ms: {p50:.2} ms, {}.",
            verdict(met)
        );
    }
    if let Some((page, wasm, met)) = heaviest_wasm(run) {
        let _ = writeln!(
            out,
            "- Target WASM at most {} KB gzipped (the largest first visit, `{page}`): {:.1} KB, {}.",
            WASM_GZIP_BYTES / 1000,
            wasm as f64 / 1000.0,
            verdict(met)
        );
    }
    out.push('\n');
}
