//! Connect sessions and registration over HTTP, for the pages and for clients
//! that only poll. Every session is visible to its owner only (others get 404,
//! so ids cannot be probed).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use protocol::connect::{ConnectView, RegistrationDraft, UserView};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::AppError;
use crate::flow::session_channel;
use crate::state::AppState;
use crate::store::sessions::ConnectSession;
use crate::store::users::parse_attributes;

/// The session as the connect page shows it, with the QR rendered here so it is
/// visible before any script runs.
pub fn connect_view(session: &ConnectSession) -> Result<ConnectView, AppError> {
    let url = session.invitation_url.clone().unwrap_or_default();
    let qr = QrCode::new(url.as_bytes()).map_err(|e| AppError::Unexpected(anyhow::anyhow!("QR: {e}")))?;
    let qr_svg = qr
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .dark_color(svg::Color("#111827"))
        .light_color(svg::Color("#ffffff"))
        .build();
    Ok(ConnectView {
        session_id: session.id.clone(),
        channel: session_channel(&session.id)?.to_string(),
        invitation_url: url,
        qr_svg,
        expires_at: session.expires_at,
        status: session.status,
        wallet_label: session.wallet_label.clone(),
    })
}

/// Loads a session that `principal` owns.
pub async fn owned_session(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<ConnectSession, AppError> {
    let session = state.store.connect_session(id).await?.ok_or(AppError::NotFound)?;
    if session.owner != principal.as_str() {
        return Err(AppError::NotFound);
    }
    Ok(session)
}

/// `POST /api/connections/session`: a new session with a fresh invitation.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<(StatusCode, Json<ConnectView>), AppError> {
    let session = state.flow.start_session(principal.as_str()).await?;
    Ok((StatusCode::CREATED, Json(connect_view(&session)?)))
}

/// `GET /api/connections/session/{id}`: the session's status.
pub async fn status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ConnectView>, AppError> {
    let session = owned_session(&state, &principal, &id).await?;
    Ok(Json(connect_view(&session)?))
}

/// The registration form's starting point for a verified session.
pub async fn draft(state: &AppState, principal: &Principal, id: &str) -> Result<RegistrationDraft, AppError> {
    let session = owned_session(state, principal, id).await?;
    if session.status != protocol::connect::SessionStatus::Verified {
        return Err(AppError::Conflict("the session is not verified yet".into()));
    }
    let attributes = parse_attributes(session.attributes.as_deref().unwrap_or("{}"))?;
    let find = |name: &str| attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let display_name =
        [find("given_name"), find("surname")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    Ok(RegistrationDraft { session_id: id.to_owned(), attributes, display_name })
}

/// `GET /api/connections/session/{id}/registration`.
pub async fn registration(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<RegistrationDraft>, AppError> {
    Ok(Json(draft(&state, &principal, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub session_id: String,
    pub display_name: String,
    pub email: String,
}

/// `POST /api/register`: creates the user for the visitor's verified session.
pub async fn register(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), AppError> {
    let Json(request) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    state
        .flow
        .register(principal.as_str(), &request.session_id, &request.display_name, &request.email)
        .await?;
    let user = state.store.user(principal.as_str()).await?.ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `GET /api/me`: the registered user behind the cookie.
pub async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<UserView>, AppError> {
    Ok(Json(state.store.user(principal.as_str()).await?.ok_or(AppError::NotFound)?))
}
