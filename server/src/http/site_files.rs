//! The fallback: the site's files (the WASM module and its chunks, scripts,
//! styles, public assets), and the 404 page for any other path.
//!
//! Leptos' own fallback (`leptos_axum::file_and_error_handler`) answers a
//! found file inside a new reactive owner and applies the `ResponseOptions`
//! it finds from there. A new owner is a child of the worker thread's current
//! one, which can be another request's render: while a 404 page renders (a
//! browser's `/favicon.ico` asks for one on every first visit), files on the
//! same thread came back with that page's status, 404. A split page's first
//! visit asks for dozens of chunks at once, and the browser refuses a module
//! answered with 404 (`tests/api/site_files.rs` had 178 of 288 wrong).
//! A found file is answered here with no reactive owner at all; only a miss
//! goes on to Leptos, which renders the 404 page.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::state::AppState;

pub async fn file_or_not_found(State(state): State<AppState>, request: Request) -> Response {
    // The file lookup gets the method and headers (conditional and range
    // requests work), not the body.
    let mut lookup = Request::new(Body::empty());
    *lookup.method_mut() = request.method().clone();
    *lookup.uri_mut() = request.uri().clone();
    *lookup.headers_mut() = request.headers().clone();
    let site_root = state.leptos_options.site_root.as_ref();
    let found = ServeDir::new(site_root).precompressed_gzip().precompressed_br().oneshot(lookup).await;
    match found {
        Ok(response) if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED => {
            response.into_response()
        }
        // Leptos looks the path up again before rendering the 404 page: one
        // more file-system check, on misses only.
        _ => {
            let uri = request.uri().clone();
            leptos_axum::file_and_error_handler::<AppState, _>(app::shell)(uri, State(state), request).await
        }
    }
}
