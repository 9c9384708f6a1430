//! The inbox HTTP API (docs/INBOX.md): backends create notifications with the
//! publish key; a visitor reads and changes only its own inbox (its cookie
//! names the inbox, so another person's is not even addressable).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::inbox::{
    ChangeAnswer, ChangeState, CreateAnswer, CreateNotifications, InboxCounts, Preferences, ReadAll,
};
use serde::Deserialize;

use crate::auth::Principal;
use crate::auth::api_key::PublishKey;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::notifications::Filter;

/// How long a polling-only client should wait before asking again (GitHub's
/// `X-Poll-Interval`): a socket or long-poll client hears of changes at once.
const POLL_INTERVAL_SECS: u64 = 30;
/// Default page size of a listing.
const DEFAULT_PAGE: usize = 20;

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    super::json_body(body, protocol::limits::MAX_PUBLISH_BYTES)
}

/// `POST /api/notifications` (publish key): one notification per recipient.
/// 201 when any was created, 200 when the idempotency key had made them all.
pub async fn create(
    State(state): State<AppState>,
    _key: PublishKey,
    headers: HeaderMap,
    body: Result<Json<CreateNotifications>, JsonRejection>,
) -> Result<(StatusCode, Json<CreateAnswer>), AppError> {
    let mut request = json_body(body)?;
    if let Some(key) = headers.get("idempotency-key") {
        let key = key.to_str().map_err(|_| AppError::BadRequest("Idempotency-Key is not ASCII".into()))?;
        match &request.idempotency_key {
            Some(in_body) if in_body != key => {
                return Err(AppError::BadRequest("Idempotency-Key header and body disagree".into()));
            }
            _ => request.idempotency_key = Some(key.to_owned()),
        }
    }
    let answer = state.inbox.create(&request).await?;
    let status =
        if answer.notifications.iter().any(|n| n.created) { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(answer)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    /// The `head_seq` of the client's last answer: unchanged means 304.
    #[serde(default)]
    since: Option<u64>,
}

/// `GET /api/notifications`: a page of the visitor's inbox, newest first. A
/// client that already has the current state (`If-None-Match` with the last
/// `ETag`, or `since` = the last `head_seq`) gets 304 and nothing else.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let filter = match query.filter.as_deref() {
        None | Some("all") => Filter::All,
        Some("unread") => Filter::Unread,
        Some("archived") => Filter::Archived,
        Some(other) => {
            return Err(AppError::BadRequest(format!("filter `{other}`: all, unread or archived")));
        }
    };
    let head = state.inbox.head(&principal).await?;
    // Every inbox change is an event on the visitor's channel, so its head
    // names the inbox's version; the query is part of what the answer shows.
    let etag = format!(
        "\"{head}-{}\"",
        &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            format!("{:?}|{:?}|{:?}|{:?}", query.filter, query.category, query.cursor, query.limit)
                .as_bytes()
        ))[..16]
    );
    let poll = [
        (HeaderName::from_static("x-poll-interval"), HeaderValue::from(POLL_INTERVAL_SECS)),
        (CACHE_CONTROL, HeaderValue::from_static("private, no-cache")),
        (ETAG, HeaderValue::from_str(&etag).expect("digits, hex, quotes")),
    ];
    let matches = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    if matches || query.since == Some(head) {
        return Ok((StatusCode::NOT_MODIFIED, poll).into_response());
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    let page = state
        .inbox
        .page(&principal, filter, query.category.as_deref(), query.cursor.as_deref(), limit)
        .await?;
    Ok((poll, Json(page)).into_response())
}

/// `GET /api/notifications/counts`.
pub async fn counts(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<InboxCounts>, AppError> {
    Ok(Json(state.store.notification_counts(principal.as_str()).await?))
}

/// `POST /api/notifications/state`: seen, read, unread, archived, unarchived.
pub async fn change(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<ChangeState>, JsonRejection>,
) -> Result<Json<ChangeAnswer>, AppError> {
    let request = json_body(body)?;
    Ok(Json(state.inbox.change(&principal, &request).await?))
}

/// `POST /api/notifications/read-all`: everything announced at or below `up_to`.
pub async fn read_all(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<ReadAll>, JsonRejection>,
) -> Result<Json<ChangeAnswer>, AppError> {
    let request = json_body(body)?;
    Ok(Json(state.inbox.read_all(&principal, request.up_to).await?))
}

/// `GET /api/notifications/preferences`.
pub async fn preferences(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Preferences>, AppError> {
    Ok(Json(state.inbox.preferences(&principal).await?))
}

/// `PUT /api/notifications/preferences`: mute or unmute categories.
pub async fn set_preferences(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<Preferences>, JsonRejection>,
) -> Result<Json<Preferences>, AppError> {
    let request = json_body(body)?;
    Ok(Json(state.inbox.set_preferences(&principal, &request).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoRequest {
    category: String,
}

/// `POST /api/notifications/demo`: the home page's demo sends the visitor a
/// notification of a category (to its own inbox only, rate limited).
pub async fn demo(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<DemoRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<CreateAnswer>), AppError> {
    let request = json_body(body)?;
    state.guards.demo_notification(&principal)?;
    Ok((StatusCode::CREATED, Json(state.inbox.send_demo(&principal, &request.category).await?)))
}
