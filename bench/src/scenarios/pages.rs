//! Scenario 7: the pages. Time to first byte of server-rendered pages (`/`
//! and `/register/connect`, a returning visitor: the cookie of the first
//! answer goes with every request after it, so the connect page reuses its
//! open session), one request at a time after a warm-up; and the size of what
//! a first visit to each page downloads (the main WASM and the page's own
//! chunks, the JS loaders and the CSS, as the page's HTML names them), as
//! served: raw, and gzip-compressed by the server. Beacon only: the reference
//! Node server renders no pages.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::{Plan, percentile, progress};
use crate::server::{Kind, Programs, Server};

/// Requests not measured before each page's measured ones.
const WARM_UP: usize = 20;
/// Longest a page request may take before it counts as failed.
const PAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// One page's time to first byte.
#[derive(Debug, Clone)]
pub struct PageTiming {
    pub path: &'static str,
    pub requests: usize,
    /// Requests that got no complete answer (an error, or none within the
    /// timeout); counted, not timed.
    pub failed: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One asset's size as served.
#[derive(Debug, Clone)]
pub struct AssetSize {
    pub path: String,
    pub raw_bytes: u64,
    pub gzip_bytes: u64,
}

/// The pages whose first visit is sized, as (route, a path it matches): one
/// of each route. A conversation or dashboard that does not exist still
/// renders its route (and names its chunks); its data is fetched later.
const SIZED_PAGES: [(&str, &str); 7] = [
    ("/", "/"),
    ("/notifications", "/notifications"),
    ("/chat", "/chat"),
    ("/chat/:id", "/chat/00000000-0000-0000-0000-000000000000"),
    ("/dashboards", "/dashboards"),
    ("/dashboards/:id", "/dashboards/00000000-0000-0000-0000-000000000000"),
    ("/register/connect", "/register/connect"),
];

/// What a first visit to one page downloads: paths into [`PagesRun::assets`].
#[derive(Debug, Clone)]
pub struct PageDownload {
    /// The route, as `/chat/:id`.
    pub path: &'static str,
    pub assets: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PagesRun {
    pub timings: Vec<PageTiming>,
    /// Every asset any sized page names, once each.
    pub assets: Vec<AssetSize>,
    pub downloads: Vec<PageDownload>,
}

impl PagesRun {
    /// The gzipped bytes of `download`'s assets whose path ends with `suffix`
    /// (`""` for all of them).
    pub fn gzip_bytes(&self, download: &PageDownload, suffix: &str) -> u64 {
        self.assets
            .iter()
            .filter(|a| a.path.ends_with(suffix) && download.assets.contains(&a.path))
            .map(|a| a.gzip_bytes)
            .sum()
    }
}

pub async fn run(programs: &Programs, plan: &Plan) -> Result<PagesRun> {
    let label = "pages";
    let server = Server::start(Kind::Beacon, programs, label).await?;
    let result = measure(&server, plan).await;
    server.stop().await?;
    result
}

async fn measure(server: &Server, plan: &Plan) -> Result<PagesRun> {
    let http = reqwest::Client::builder().timeout(PAGE_TIMEOUT).build()?;
    let first = http.get(server.api.url("/")).send().await?;
    let cookie = first
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    first.bytes().await?;
    let requests = if plan.quick { 100 } else { 500 };
    let mut timings = Vec::new();
    for path in ["/", "/register/connect"] {
        let mut samples = Vec::with_capacity(requests);
        let mut failed = 0;
        for i in 0..WARM_UP + requests {
            let started = Instant::now();
            let answer = async {
                let response =
                    http.get(server.api.url(path)).header(reqwest::header::COOKIE, &cookie).send().await?;
                let first_byte = started.elapsed();
                if !response.status().is_success() {
                    bail!("GET {path} answered {}", response.status());
                }
                response.bytes().await?;
                Ok(first_byte)
            };
            match answer.await {
                Ok(first_byte) if i >= WARM_UP => samples.push(first_byte.as_micros() as u64),
                Ok(_) => {}
                Err(err) => {
                    failed += 1;
                    progress("pages", format!("{path}: request {i} failed: {err:#}"));
                }
            }
        }
        samples.sort_unstable();
        let ms = |p: f64| percentile(&samples, p).map_or(f64::NAN, |us| us as f64 / 1000.0);
        let timing = PageTiming {
            path,
            requests,
            failed,
            p50_ms: ms(50.0),
            p99_ms: ms(99.0),
            max_ms: samples.last().map_or(f64::NAN, |us| *us as f64 / 1000.0),
        };
        progress("pages", format!("{path}: TTFB p50 {:.2} ms, p99 {:.2} ms", timing.p50_ms, timing.p99_ms));
        timings.push(timing);
    }
    let mut downloads = Vec::new();
    let mut assets: Vec<AssetSize> = Vec::new();
    for (route, page) in SIZED_PAGES {
        let html = http.get(server.api.url(page)).header(reqwest::header::COOKIE, &cookie).send().await?;
        if !html.status().is_success() {
            bail!("GET {page} answered {}", html.status());
        }
        let paths = asset_paths(&html.text().await?)?;
        for path in &paths {
            if assets.iter().all(|a| &a.path != path) {
                assets.push(asset_size(&http, server, path).await?);
            }
        }
        downloads.push(PageDownload { path: route, assets: paths });
    }
    Ok(PagesRun { timings, assets, downloads })
}

async fn asset_size(http: &reqwest::Client, server: &Server, path: &str) -> Result<AssetSize> {
    let fetch = |gzip: bool| {
        let mut request = http.get(server.api.url(path));
        if gzip {
            request = request.header(reqwest::header::ACCEPT_ENCODING, "gzip");
        }
        async {
            let response = request.send().await?;
            if !response.status().is_success() {
                bail!("GET {path} answered {} (is the site built beside the binary?)", response.status());
            }
            Ok(response.bytes().await?.len() as u64)
        }
    };
    if path.ends_with(".wasm") {
        let bytes = http.get(server.api.url(path)).send().await?.bytes().await?;
        if has_name_section(&bytes) {
            bail!(
                "{path} carries a name section: the site is a debug build (a later `cargo leptos build` \
                 replaced the release one); run `cargo leptos build --release --split` again"
            );
        }
    }
    let raw = fetch(false).await?;
    let gzip = fetch(true).await?;
    progress("pages", format!("{path}: {raw} bytes, {gzip} gzipped"));
    Ok(AssetSize { path: path.to_owned(), raw_bytes: raw, gzip_bytes: gzip })
}

/// The stylesheet, the JS loaders and the WASM a page names (the page's own
/// chunks are preloaded by name), and each loader's module: `x.js` fetches
/// `x.wasm`, except the chunk loader, which fetches the chunks it is asked for.
fn asset_paths(html: &str) -> Result<Vec<String>> {
    let mut paths: Vec<String> = html
        .split('"')
        .filter(|s| {
            s.starts_with("/pkg/") && (s.ends_with(".css") || s.ends_with(".js") || s.ends_with(".wasm"))
        })
        .map(str::to_owned)
        .collect();
    let modules: Vec<String> = paths
        .iter()
        .filter(|p| p.ends_with(".js") && !p.starts_with("/pkg/__wasm_split"))
        .map(|js| js.trim_end_matches(".js").to_owned() + ".wasm")
        .collect();
    paths.extend(modules);
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        bail!("the page names no /pkg/ assets");
    }
    Ok(paths)
}

/// Whether a WASM module has a `name` custom section: debug builds do,
/// release builds after wasm-opt do not.
fn has_name_section(wasm: &[u8]) -> bool {
    fn leb(bytes: &[u8], at: &mut usize) -> Option<usize> {
        let (mut value, mut shift) = (0usize, 0);
        loop {
            let byte = *bytes.get(*at)?;
            *at += 1;
            value |= usize::from(byte & 0x7f).checked_shl(shift)?;
            if byte < 0x80 {
                return Some(value);
            }
            shift += 7;
        }
    }
    let mut at = 8; // magic and version
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let Some(size) = leb(wasm, &mut at) else { return false };
        let end = at.saturating_add(size);
        if id == 0 {
            let mut name_at = at;
            if let Some(len) = leb(wasm, &mut name_at)
                && wasm.get(name_at..name_at + len) == Some(b"name".as_slice())
            {
                return true;
            }
        }
        at = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_assets_a_page_names_and_the_wasm_its_loader_fetches() {
        let html = r#"<link rel="stylesheet" href="/pkg/beacon.css"><link rel="modulepreload" href="/pkg/beacon.js"><a href="/chat">"#;
        assert_eq!(asset_paths(html).unwrap(), ["/pkg/beacon.css", "/pkg/beacon.js", "/pkg/beacon.wasm"]);
        assert!(asset_paths("<p>nothing</p>").is_err());
        // A lazy route's page: its chunk preloaded, the chunk loader beside the main one.
        let html = r#"<link rel="modulepreload" href="/pkg/beacon.js"><link rel="preload" href="/pkg/beacon.wasm"><link rel="preload" href="/pkg/chunk_1.wasm"><link rel="modulepreload" href="/pkg/__wasm_split.abc.js">"#;
        assert_eq!(
            asset_paths(html).unwrap(),
            ["/pkg/__wasm_split.abc.js", "/pkg/beacon.js", "/pkg/beacon.wasm", "/pkg/chunk_1.wasm"]
        );
    }

    #[test]
    fn tells_a_debug_wasm_by_its_name_section() {
        let header = b"\0asm\x01\0\0\0".to_vec();
        // A type section (id 1, 1 byte), then a custom section called "name".
        let mut debug = header.clone();
        debug.extend_from_slice(&[1, 1, 0, 0, 6, 4, b'n', b'a', b'm', b'e', 0]);
        let mut release = header;
        release.extend_from_slice(&[1, 1, 0, 0, 9, 8, b'p', b'r', b'o', b'd', b'u', b'c', b'e', b'r']);
        assert!(has_name_section(&debug));
        assert!(!has_name_section(&release));
    }
}
