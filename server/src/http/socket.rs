//! `GET /ws`: the WebSocket upgrade, after the Origin check and the socket limits.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::guard::ClientIp;
use crate::hub::connection;
use crate::state::AppState;
use crate::websocket;

pub async fn upgrade(State(state): State<AppState>, ip: ClientIp, mut request: Request) -> Response {
    if !origin_allowed(request.headers(), &state.config.allowed_origins) {
        // A page on another site must not ride the visitor's cookie into a socket.
        return AppError::Forbidden.into_response();
    }
    let (switching, on_upgrade) = match websocket::accept(&mut request) {
        Ok(accepted) => accepted,
        Err(refused) => return refused.into_response(),
    };
    // Refused before the upgrade: an HTTP 429/503 the client backs off from,
    // and no task or buffers spent on a socket that would be closed at once.
    let held = match state.guards.socket(ip) {
        Ok(held) => held,
        Err(refusal) => return refusal.into_response(),
    };
    let ctx = state.sockets.clone();
    let tasks = state.hub.tasks().clone();
    let max = state.config.max_frame_bytes;
    state.hub.tasks().spawn(async move {
        match websocket::socket(on_upgrade, max).await {
            // A task of its own, spawned as it is: awaited here, the connection
            // would keep this task's state (the upgrade) for its whole life,
            // and awaiting it inside another `async` block would copy its
            // future once more. This task ends here.
            Ok(socket) => drop(tasks.spawn(connection::serve(ctx, socket, held))),
            Err(err) => tracing::debug!(error = %err, "the client left before the upgrade"),
        }
    });
    switching
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
