//! The realtime HTTP API: connect tokens, the long-poll fallback, publishing,
//! channel grants and the hub's stats.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use protocol::message::Reset;
use protocol::{
    ChannelName, ConnectToken, PollResponse, PublishRequest, PublishResponse, ResetReason, limits,
};
use serde::Deserialize;

use crate::auth::{Principal, api_key, authorize};
use crate::error::AppError;
use crate::hub::HubStats;
use crate::state::AppState;

/// `GET /api/realtime/token`: a short-lived connect token for the cookie's principal.
pub async fn token(State(state): State<AppState>, principal: Principal) -> impl IntoResponse {
    let (token, expires_at) = state.keys.issue(&principal, state.config.token_ttl.as_secs());
    let body =
        ConnectToken { token, expires_at: (expires_at * 1000) as i64, principal: principal.to_string() };
    ([(CACHE_CONTROL, "no-store")], Json(body))
}

#[derive(Debug, Deserialize)]
pub struct PollQuery {
    channel: String,
    since: u64,
}

/// `GET /api/realtime/poll?channel=..&since=..`: the events after `since`, waiting
/// up to the long-poll time for the first one. Same envelopes, same log, same
/// authorization as the WebSocket.
#[tracing::instrument(skip_all, fields(channel))]
pub async fn poll(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<PollQuery>, QueryRejection>,
) -> Result<Json<PollResponse>, AppError> {
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let channel = ChannelName::parse(&query.channel).map_err(|e| AppError::BadRequest(e.to_string()))?;
    tracing::Span::current().record("channel", channel.as_str());
    if !authorize::may_read(&state.store, &principal, &channel).await? {
        return Err(AppError::Forbidden);
    }
    state.hub.metrics().polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);

    // Listen before reading, so an event appended in between still wakes us.
    let (waiter, notify) = state.hub.add_waiter(&channel);
    let _remove = RemoveOnDrop { hub: &state.hub, channel: &channel, id: waiter };
    let deadline = tokio::time::Instant::now() + state.config.long_poll_wait;
    loop {
        let bounds = state.store.log_bounds(&channel).await?;
        let reset = if query.since > bounds.head {
            Some(ResetReason::AheadOfLog)
        } else if query.since + 1 < bounds.first_retained {
            Some(ResetReason::BeyondRetention)
        } else {
            None
        };
        if let Some(reason) = reset {
            let reset = Reset { channel: channel.clone(), reason, head_seq: bounds.head };
            return Ok(Json(PollResponse { events: Vec::new(), reset: Some(reset), head_seq: bounds.head }));
        }
        let events =
            state.store.events_between(&channel, query.since, bounds.head, limits::MAX_REPLAY_BATCH).await?;
        if !events.is_empty() {
            return Ok(Json(PollResponse { events, reset: None, head_seq: bounds.head }));
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {
                return Ok(Json(PollResponse { events: Vec::new(), reset: None, head_seq: bounds.head }));
            }
            _ = state.hub.shutdown_token().cancelled() => {
                return Ok(Json(PollResponse { events: Vec::new(), reset: None, head_seq: bounds.head }));
            }
        }
    }
}

struct RemoveOnDrop<'a> {
    hub: &'a crate::hub::Hub,
    channel: &'a ChannelName,
    id: crate::hub::ConnectionId,
}

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        self.hub.remove_listener(self.channel, self.id);
    }
}

/// `POST /api/realtime/publish` (publish key): append an event and broadcast it.
#[tracing::instrument(skip_all)]
pub async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<PublishRequest>, JsonRejection>,
) -> Result<Json<PublishResponse>, AppError> {
    if !api_key::check(&headers, state.config.publish_key.as_ref()) {
        return Err(AppError::Unauthorized);
    }
    let Json(request) = body.map_err(|e| match e.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge(limits::MAX_PUBLISH_BYTES),
        _ => AppError::BadRequest(e.body_text()),
    })?;
    let event = state.hub.publish(&request.channel, request.payload).await?;
    Ok(Json(PublishResponse { channel: event.channel, seq: event.seq, id: event.id }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    channel: ChannelName,
    principal: String,
}

/// `POST /api/realtime/grants` (publish key): let a principal use a
/// conversation or dashboard channel.
pub async fn grant(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<GrantRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    if !api_key::check(&headers, state.config.publish_key.as_ref()) {
        return Err(AppError::Unauthorized);
    }
    let Json(request) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let principal = Principal::parse(&request.principal)
        .ok_or_else(|| AppError::BadRequest("principal must be 32 lowercase hex digits".into()))?;
    if !matches!(
        request.channel.kind(),
        protocol::ChannelKind::Conversation | protocol::ChannelKind::Dashboard
    ) {
        return Err(AppError::BadRequest("grants apply to conversation and dashboard channels".into()));
    }
    state.store.grant(&request.channel, principal.as_str()).await?;
    Ok(Json(serde_json::json!({ "channel": request.channel, "principal": principal.as_str() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectRequest {
    principal: String,
}

/// `POST /api/admin/disconnect` (admin key): close a principal's sockets with
/// the reconnect code; their clients come back and resume.
pub async fn disconnect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<DisconnectRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    if !api_key::check(&headers, state.config.admin_key.as_ref()) {
        return Err(AppError::Unauthorized);
    }
    let Json(request) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let principal = Principal::parse(&request.principal)
        .ok_or_else(|| AppError::BadRequest("principal must be 32 lowercase hex digits".into()))?;
    let closed = state.hub.disconnect_principal(&principal);
    Ok(Json(serde_json::json!({ "closed": closed })))
}

/// `GET /api/admin/realtime-stats` (admin key).
pub async fn stats(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<HubStats>, AppError> {
    if !api_key::check(&headers, state.config.admin_key.as_ref()) {
        return Err(AppError::Unauthorized);
    }
    Ok(Json(state.hub.stats()))
}
