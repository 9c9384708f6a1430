//! The realtime HTTP API: connect tokens, the long-poll fallback, publishing,
//! channel grants and the hub's stats.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use protocol::message::Reset;
use protocol::{
    ChannelName, ConnectToken, PollResponse, PublishRequest, PublishResponse, ResetReason, limits,
};
use serde::Deserialize;

use crate::auth::api_key::{AdminKey, PublishKey};
use crate::auth::visitor::SignIn;
use crate::auth::{Principal, authorize};
use crate::error::AppError;
use crate::guard::ClientIp;
use crate::hub::HubStats;
use crate::hub::resume::{self, Read};
use crate::state::AppState;
use crate::store::events::LogBounds;

/// `GET /api/realtime/token`: a short-lived connect token for the cookie's principal.
pub async fn token(
    State(state): State<AppState>,
    ip: ClientIp,
    principal: Principal,
    SignIn(sign_in): SignIn,
) -> Result<impl IntoResponse, AppError> {
    state.guards.token(ip)?;
    let (token, expires_at) =
        state.keys.issue(&principal, sign_in.as_deref(), state.config.token_ttl.as_secs());
    let body = ConnectToken {
        token,
        expires_at: expires_at.saturating_mul(1000).min(i64::MAX as u64) as i64,
        principal: principal.to_string(),
    };
    Ok(([(CACHE_CONTROL, "no-store")], Json(body)))
}

#[derive(Debug, Deserialize)]
pub struct PollQuery {
    channel: String,
    since: u64,
    /// The epoch `since` belongs to, when the client knows it.
    epoch: Option<String>,
}

/// `GET /api/realtime/poll?channel=..&since=..`: the events after `since`, waiting
/// up to the long-poll time for the first one. Same envelopes, same log, same
/// authorization and the same resume rules as the WebSocket.
#[tracing::instrument(skip_all, fields(channel))]
pub async fn poll(
    State(state): State<AppState>,
    ip: ClientIp,
    principal: Principal,
    query: Result<Query<PollQuery>, QueryRejection>,
) -> Result<Json<PollResponse>, AppError> {
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let channel = ChannelName::parse(&query.channel).map_err(|e| AppError::BadRequest(e.to_string()))?;
    tracing::Span::current().record("channel", channel.as_str());
    // Before any database read: one cookie or address cannot hold the pool.
    let _held = state.guards.long_poll(ip, &principal)?;
    if !authorize::may_read(&state.store, &principal, &channel).await? {
        return Err(AppError::Forbidden);
    }
    state.hub.metrics().polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);

    // Listen before reading, so an event appended in between still wakes us.
    let (waiter, notify) = state.hub.add_waiter(&channel);
    let _remove = RemoveOnDrop { hub: &state.hub, channel: &channel, id: waiter };
    let deadline = tokio::time::Instant::now() + state.config.long_poll_wait;
    let reset = |reason, bounds: &LogBounds| {
        let (head_seq, epoch) = (bounds.head, bounds.epoch.clone());
        let reset = Reset { channel: channel.clone(), reason, head_seq, epoch: epoch.clone() };
        Json(PollResponse { events: Vec::new(), reset: Some(reset), head_seq, epoch })
    };
    loop {
        let bounds = state.store.log_bounds(&channel).await?;
        if let (_, Some(reason)) = resume::start(Some(query.since), query.epoch.as_deref(), &bounds) {
            return Ok(reset(reason, &bounds));
        }
        match resume::read_after(&state.store, &channel, query.since, bounds.head, limits::MAX_REPLAY_BATCH)
            .await?
        {
            Read::Gap => return Ok(reset(ResetReason::BeyondRetention, &bounds)),
            Read::Events(events) if !events.is_empty() => {
                let epoch = bounds.epoch.clone();
                return Ok(Json(PollResponse { events, reset: None, head_seq: bounds.head, epoch }));
            }
            Read::Events(_) => {}
        }
        let empty = || {
            let epoch = bounds.epoch.clone();
            Json(PollResponse { events: Vec::new(), reset: None, head_seq: bounds.head, epoch })
        };
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(empty()),
            _ = state.hub.shutdown_token().cancelled() => return Ok(empty()),
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
    _key: PublishKey,
    body: Result<Json<PublishRequest>, JsonRejection>,
) -> Result<Json<PublishResponse>, AppError> {
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

/// `POST /api/realtime/grants` (publish key): let a principal read a dashboard
/// channel. Conversations have members instead (created, invited, left through
/// the conversations API).
pub async fn grant(
    State(state): State<AppState>,
    _key: PublishKey,
    body: Result<Json<GrantRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Json(request) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let principal = parse_principal(&request.principal)?;
    if request.channel.kind() != protocol::ChannelKind::Dashboard {
        return Err(AppError::BadRequest(
            "grants apply to dashboard channels; conversations are joined by invite".into(),
        ));
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
    _key: AdminKey,
    body: Result<Json<DisconnectRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Json(request) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let principal = parse_principal(&request.principal)?;
    let closed = state.hub.disconnect_principal(&principal).await;
    Ok(Json(serde_json::json!({ "closed": closed })))
}

/// `GET /api/admin/realtime-stats` (admin key).
pub async fn stats(State(state): State<AppState>, _key: AdminKey) -> Json<HubStats> {
    Json(state.hub.stats())
}

fn parse_principal(value: &str) -> Result<Principal, AppError> {
    Principal::parse(value)
        .ok_or_else(|| AppError::BadRequest("principal must be 32 lowercase hex digits".into()))
}
