//! On the server: a split page's WASM modules named in its head
//! (`<link rel="preload">`), so a first visit fetches them beside the main
//! module instead of after it; hydration waits for them.
//!
//! Leptos can name them itself, but it looks the manifest up after the render,
//! from whatever reactive owner the worker thread has as current then: about
//! half the renders of a page waiting for a blocking resource
//! (`/register/connect`, `/register`) came out without them. Here the shell
//! provides the manifest and the route adds the links as it renders, which
//! `<MetaTags />` puts in the head as it does the title.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use leptos::prelude::*;
use leptos_meta::Link;

/// The chunk loader's file (cargo-leptos names it so without `hash-files`).
const CHUNK_LOADER: &str = "__wasm_split.______________________.js";

/// `__wasm_split_manifest.json`: for each split point, the modules it needs.
#[derive(Clone)]
struct ChunkManifest {
    pkg: Arc<str>,
    modules: Arc<HashMap<String, Vec<String>>>,
}

/// Read once from the built site. A site built without `--split` has none,
/// and its pages name no chunks.
pub fn provide_chunk_manifest(options: &LeptosOptions) {
    static MANIFEST: OnceLock<Option<ChunkManifest>> = OnceLock::new();
    let manifest = MANIFEST.get_or_init(|| {
        let pkg_dir = options.site_pkg_dir.to_string();
        let path = Path::new(options.site_root.as_ref()).join(&pkg_dir).join("__wasm_split_manifest.json");
        let text = std::fs::read_to_string(path).ok()?;
        let modules = serde_json::from_str(&text).ok()?;
        Some(ChunkManifest { pkg: format!("/{pkg_dir}").into(), modules: Arc::new(modules) })
    });
    if let Some(manifest) = manifest {
        provide_context(manifest.clone());
    }
}

/// Adds the links for the split point `chunk` to the page's head. Rendered
/// to the head only: the page's body stays the same as in the browser, which
/// hydrates it. `crossorigin` makes each preload the same request as the
/// loader's `fetch`, so the browser uses it.
pub fn name_in_head(chunk: &'static str) {
    let Some(manifest) = use_context::<ChunkManifest>() else {
        return;
    };
    let Some(modules) = manifest.modules.get(chunk) else {
        return;
    };
    let pkg = &manifest.pkg;
    // `to_html` of a `<Link>` registers it with the page's meta context (the
    // head) and returns nothing for the body.
    let _ = view! { <Link rel="modulepreload" href=format!("{pkg}/{CHUNK_LOADER}") /> }.to_html();
    for module in modules {
        let _ = view! {
            <Link rel="preload" href=format!("{pkg}/{module}.wasm") as_="fetch" type_="application/wasm" crossorigin="anonymous" />
        }
        .to_html();
    }
}
