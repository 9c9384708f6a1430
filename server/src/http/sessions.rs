//! Connect sessions over HTTP: create one for the visitor, read its status.

use axum::Json;
use axum::extract::{Path, State};
use protocol::{ChannelKind, ChannelName};
use serde::Serialize;

use crate::auth::Principal;
use crate::auth::authorize::CONNECT_SESSION_TTL_MS;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::sessions::ConnectSession;

#[derive(Serialize)]
pub struct SessionView {
    #[serde(flatten)]
    session: ConnectSession,
    channel: ChannelName,
}

impl SessionView {
    fn new(session: ConnectSession) -> Result<Self, AppError> {
        let channel = ChannelName::new(ChannelKind::Session, &session.id)
            .map_err(|e| AppError::Unexpected(anyhow::anyhow!("session id: {e}")))?;
        Ok(Self { session, channel })
    }
}

/// `POST /api/connections/session`: a new connect session owned by the visitor.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<SessionView>, AppError> {
    let session = state
        .store
        .create_connect_session(principal.as_str(), CONNECT_SESSION_TTL_MS)
        .await?;
    Ok(Json(SessionView::new(session)?))
}

/// `GET /api/connections/session/{id}`: the status, for the session's owner only
/// (anyone else gets 404, so ids cannot be probed).
pub async fn status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, AppError> {
    let session = state
        .store
        .connect_session(&id)
        .await?
        .ok_or(AppError::NotFound)?;
    if session.owner != principal.as_str() {
        return Err(AppError::NotFound);
    }
    Ok(Json(SessionView::new(session)?))
}
