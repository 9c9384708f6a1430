//! The conversations HTTP API (docs/CHAT.md). The visitor's cookie names who
//! is asking; every conversation route answers 404 to a non-member, so ids
//! cannot be probed. Sending works here too, for clients without a socket.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use protocol::chat::{
    AcceptInvite, ConversationSummary, ConversationView, CreateConversation, HistoryPage, Invite,
    InvitePreview, MarkRead, PresenceEntry, SendMessage, Sent,
};
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

/// Default page of history.
const DEFAULT_HISTORY: usize = 50;
/// Largest body of a chat request: a message of the longest text, in the
/// widest UTF-8, with room for JSON escapes.
pub const MAX_BODY_BYTES: usize = 32 * 1024;

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    super::json_body(body, MAX_BODY_BYTES)
}

/// `GET /api/conversations`: the visitor's conversations, most recently active first.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<ConversationSummary>>, AppError> {
    Ok(Json(state.chat.list(&principal).await?))
}

/// `POST /api/conversations`: a new conversation with the visitor as its first member.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<CreateConversation>, JsonRejection>,
) -> Result<(StatusCode, Json<ConversationView>), AppError> {
    let request = json_body(body)?;
    let view = state.chat.create(&principal, &request.title, &request.display_name).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /api/conversations/{id}`.
pub async fn view(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ConversationView>, AppError> {
    Ok(Json(state.chat.view(&principal, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    before: Option<u64>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/conversations/{id}/messages?before=&limit=`: a page of history, oldest first.
pub async fn history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, AppError> {
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_HISTORY);
    Ok(Json(state.chat.history(&principal, &id, query.before, limit).await?))
}

/// `POST /api/conversations/{id}/messages`: 201 when stored, 200 for a resend.
pub async fn send(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<Json<SendMessage>, JsonRejection>,
) -> Result<(StatusCode, Json<Sent>), AppError> {
    let request = json_body(body)?;
    let sent = state.chat.send(&principal, &id, &request.client_id, &request.text).await?;
    let status = if sent.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(sent)))
}

/// `POST /api/conversations/{id}/read`: moves the read marker forward.
pub async fn mark_read(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<Json<MarkRead>, JsonRejection>,
) -> Result<StatusCode, AppError> {
    let request = json_body(body)?;
    state.chat.mark_read(&principal, &id, request.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/conversations/{id}/invites`: a share link.
pub async fn invite(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Invite>), AppError> {
    Ok((StatusCode::CREATED, Json(state.chat.invite(&principal, &id).await?)))
}

/// `POST /api/conversations/{id}/leave`.
pub async fn leave(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    state.chat.leave(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/conversations/{id}/presence`: who is here, for clients without a socket.
pub async fn presence(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<PresenceEntry>>, AppError> {
    Ok(Json(state.chat.presence(&principal, &id).await?))
}

/// `GET /api/invites/{token}`: what the link leads to.
pub async fn preview(
    State(state): State<AppState>,
    principal: Principal,
    Path(token): Path<String>,
) -> Result<Json<InvitePreview>, AppError> {
    Ok(Json(state.chat.preview(&principal, &token).await?))
}

/// `POST /api/invites/{token}/accept`: joins; answers with the conversation.
pub async fn accept(
    State(state): State<AppState>,
    principal: Principal,
    Path(token): Path<String>,
    body: Result<Json<AcceptInvite>, JsonRejection>,
) -> Result<Json<ConversationView>, AppError> {
    let request = json_body(body)?;
    let id = state.chat.accept(&principal, &token, &request.display_name).await?;
    Ok(Json(state.chat.view(&principal, &id).await?))
}
