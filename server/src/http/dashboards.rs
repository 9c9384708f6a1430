//! The dashboards HTTP API (docs/DASHBOARD.md). The visitor's cookie names
//! who is asking; every dashboard route answers 404 to a non-member, so ids
//! cannot be probed. Ops work here exactly as on the socket (same applier,
//! same answers), for clients without one.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use protocol::ErrorCode;
use protocol::dashboard::{
    CreateDashboard, CreateDashboardInvite, DashboardInvite, DashboardInvitePreview, DashboardSummary,
    DashboardView, MAX_BATCH, OpOutcome, OpsOutcome, SubmitOps,
};
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::AppError;
use crate::state::AppState;

/// Largest ops request: a full batch of the longest bodies, with room for escapes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    super::json_body(body, MAX_BODY_BYTES)
}

/// `GET /api/dashboards`: the visitor's dashboards.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<DashboardSummary>>, AppError> {
    Ok(Json(state.dashboards.list(&principal).await?))
}

/// `POST /api/dashboards`: a new, empty dashboard owned by the visitor.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<CreateDashboard>, JsonRejection>,
) -> Result<(StatusCode, Json<DashboardView>), AppError> {
    let request = json_body(body)?;
    Ok((StatusCode::CREATED, Json(state.dashboards.create(&principal, &request.title).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncQuery {
    #[serde(default)]
    since: Option<u64>,
    #[serde(default)]
    epoch: Option<String>,
}

/// `GET /api/dashboards/{id}`: the snapshot; with `?since=N[&epoch=E]` the
/// events after N instead (or a fresh snapshot when the log cannot serve N).
pub async fn view(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: Result<Query<SyncQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    Ok(match query.since {
        None => Json(state.dashboards.view(&principal, &id).await?).into_response(),
        Some(since) => {
            let changes = state.dashboards.changes(&principal, &id, since, query.epoch.as_deref()).await?;
            Json(changes).into_response()
        }
    })
}

/// `POST /api/dashboards/{id}/ops`: each op applied in order and answered. A
/// permanent refusal does not stop the ones after it; a retryable one does
/// (they are answered `unavailable`, unapplied, to be sent again in order).
pub async fn submit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<Json<SubmitOps>, JsonRejection>,
) -> Result<Json<OpsOutcome>, AppError> {
    let request = json_body(body)?;
    if request.ops.is_empty() || request.ops.len() > MAX_BATCH {
        return Err(AppError::BadRequest(format!("send 1 to {MAX_BATCH} ops")));
    }
    let mut results = Vec::with_capacity(request.ops.len());
    let mut held_back = false;
    for op in &request.ops {
        // After a refusal worth retrying, the rest wait too: applying them
        // first would reorder the sender's changes.
        let outcome = if held_back {
            OpOutcome::Nack {
                op_seq: op.op_seq,
                code: ErrorCode::Unavailable,
                message: "not applied: an earlier change in this request has to be sent again first".into(),
                conflicts: Vec::new(),
            }
        } else {
            state.dashboards.submit(&principal, &id, op).await?
        };
        held_back |= matches!(&outcome, OpOutcome::Nack { code, .. } if code.retryable());
        results.push(outcome);
    }
    Ok(Json(OpsOutcome { results }))
}

/// `POST /api/dashboards/{id}/invites` (owner): a share link for a role.
pub async fn invite(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<Json<CreateDashboardInvite>, JsonRejection>,
) -> Result<(StatusCode, Json<DashboardInvite>), AppError> {
    let request = json_body(body)?;
    Ok((StatusCode::CREATED, Json(state.dashboards.invite(&principal, &id, request.role).await?)))
}

/// `GET /api/dashboard-invites/{token}`.
pub async fn preview(
    State(state): State<AppState>,
    principal: Principal,
    Path(token): Path<String>,
) -> Result<Json<DashboardInvitePreview>, AppError> {
    Ok(Json(state.dashboards.invite_preview(&principal, &token).await?))
}

/// `POST /api/dashboard-invites/{token}/accept`: joins with the link's role.
pub async fn accept(
    State(state): State<AppState>,
    principal: Principal,
    Path(token): Path<String>,
) -> Result<Json<DashboardInvitePreview>, AppError> {
    Ok(Json(state.dashboards.accept(&principal, &token).await?))
}
