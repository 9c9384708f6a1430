//! `POST /api/webhooks/confirmd`: the identity platform's webhooks. Checked,
//! stored, then applied; the answer comes as soon as the database has it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::error::AppError;
use crate::state::AppState;
use crate::store::now_ms;
use crate::webhook::verify;

/// Webhook bodies are single records; anything larger is not one.
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

pub async fn confirmd(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let auth = &state.webhooks;
    let window = state.config.webhook_replay_window.as_millis() as i64;
    if let Err(reason) = verify::check(&headers, &body, auth.secret.expose(), &auth.org_id, now_ms(), window)
    {
        tracing::warn!(%reason, "webhook refused");
        return Err(AppError::Unauthorized);
    }
    let raw = std::str::from_utf8(&body).map_err(|_| AppError::BadRequest("body is not UTF-8".into()))?;
    let outcome = state.flow.ingest(raw).await?;
    Ok(Json(json!({ "outcome": outcome })))
}
