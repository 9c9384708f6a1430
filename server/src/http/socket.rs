//! `GET /ws`: the WebSocket upgrade, after the Origin check.

use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::guard::ClientIp;
use crate::hub::connection;
use crate::state::AppState;

/// Per-socket read buffer; grows on demand for the rare large frame.
const READ_BUFFER_BYTES: usize = 256;
/// Gather this much of a batch before writing to the kernel.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Hard cap on unsent bytes held for one socket.
const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

pub async fn upgrade(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.config.allowed_origins) {
        // A page on another site must not ride the visitor's cookie into a socket.
        return AppError::Forbidden.into_response();
    }
    // Refused before the upgrade: an HTTP 429/503 the client backs off from,
    // and no task or buffers spent on a socket that would be closed at once.
    let held = match state.guards.socket(ip) {
        Ok(held) => held,
        Err(refusal) => return refusal.into_response(),
    };
    let ctx = state.sockets.clone();
    let tasks = state.hub.tasks().clone();
    let max = state.config.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        // Client frames are small; the library's 128 KiB default read buffer,
        // allocated per socket, would dominate memory with many idle sockets.
        .read_buffer_size(READ_BUFFER_BYTES)
        // Writes gather up to this much before going to the kernel (batches of events),
        .write_buffer_size(WRITE_BUFFER_BYTES)
        // and a socket whose peer stopped reading errors out instead of growing.
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            // A task of its own, spawned as it is: awaited inside axum's upgrade
            // task, the connection would keep that task's state (the upgrade,
            // the handshake) for its whole life, and awaiting it inside another
            // `async` block would copy its future once more. Axum's upgrade
            // task ends here.
            tasks.spawn(connection::serve(ctx, socket, held));
            std::future::ready(())
        })
}

/// Requests without `Origin` come from non-browser clients, which cannot be
/// hijacked; browsers always send it on WebSocket upgrades.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn same_host_and_listed_origins_pass() {
        assert!(origin_allowed(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000"), &[]));
        assert!(origin_allowed(&headers(None, "x"), &[]));
        assert!(!origin_allowed(&headers(Some("https://evil.example"), "127.0.0.1:3000"), &[]));
        let list = vec!["https://app.example".to_owned()];
        assert!(origin_allowed(&headers(Some("https://app.example"), "127.0.0.1:3000"), &list));
    }
}
