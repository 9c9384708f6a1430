//! Connect sessions and registration over HTTP, for the pages and for clients
//! that only poll. Every session is visible to its owner only (others get 404,
//! so ids cannot be probed).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use protocol::connect::{ConnectView, RegistrationDraft, UserView};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;

use crate::auth::Principal;
use crate::auth::visitor::{self, SignIn};
use crate::error::AppError;
use crate::flow::session_channel;
use crate::guard::ClientIp;
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

/// The visitor's session for the connect page: the open one again, or (when
/// `fresh`, or none is open) a new one, which costs a platform call and so
/// counts against the address's per-minute allowance.
pub async fn connect_session_for(
    state: &AppState,
    ip: ClientIp,
    principal: &Principal,
    fresh: bool,
) -> Result<ConnectSession, AppError> {
    if !fresh && let Some(open) = state.flow.open_session(principal.as_str()).await? {
        return Ok(open);
    }
    state.guards.connect_session(ip)?;
    Ok(state.flow.start_session(principal.as_str()).await?)
}

/// `POST /api/connections/session`: a new session with a fresh invitation.
pub async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    principal: Principal,
) -> Result<(StatusCode, Json<ConnectView>), AppError> {
    let session = connect_session_for(&state, ip, &principal, true).await?;
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

/// Registers `principal` with its verified session and returns the cookie
/// that signs the browser in as the new user. The visitor's sockets are
/// closed with the reconnect code, so its tabs come back as the user.
pub async fn register_visitor(
    state: &AppState,
    principal: &Principal,
    request: &RegisterRequest,
) -> Result<(UserView, HeaderValue), AppError> {
    let registered = state
        .flow
        .register(principal.as_str(), &request.session_id, &request.display_name, &request.email)
        .await?;
    state.hub.disconnect_principal(principal).await;
    let user = state.store.user(registered.user.as_str()).await?.ok_or(AppError::NotFound)?;
    Ok((user, visitor::set_cookie(&state.config, &registered.user, Some(&registered.sign_in))))
}

/// `POST /api/register`: creates the user for the visitor's verified session.
pub async fn register(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<(StatusCode, [(HeaderName, HeaderValue); 1], Json<UserView>), AppError> {
    let Json(request) = body.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let (user, cookie) = register_visitor(&state, &principal, &request).await?;
    Ok((StatusCode::CREATED, [(SET_COOKIE, cookie)], Json(user)))
}

/// Signs the browser out: revokes its sign-in on the server (a copied cookie
/// stops working too), closes the user's sockets, and returns the cookie
/// that clears the browser's.
pub async fn sign_out_visitor(
    state: &AppState,
    principal: &Principal,
    sign_in: &SignIn,
) -> Result<HeaderValue, AppError> {
    if let SignIn(Some(id)) = sign_in {
        state.store.revoke_sign_in(id).await?;
        state.hub.disconnect_principal(principal).await;
    }
    Ok(visitor::clear_cookie(&state.config))
}

/// `POST /api/logout`: signs out; 204 either way (signing out twice is fine).
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    sign_in: SignIn,
) -> Result<(StatusCode, [(HeaderName, HeaderValue); 1]), AppError> {
    let cookie = sign_out_visitor(&state, &principal, &sign_in).await?;
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, cookie)]))
}

/// `GET /api/me`: the registered user behind the cookie.
pub async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<UserView>, AppError> {
    Ok(Json(state.store.user(principal.as_str()).await?.ok_or(AppError::NotFound)?))
}
