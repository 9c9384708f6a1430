//! Browser entry point: take over the server-rendered page. Everything else lives in `app`.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy: a page's code is a chunk of its own (see `app::pages`), which
    // hydration waits for.
    leptos::mount::hydrate_lazy(app::App);
}
