//! API keys for server-to-server calls, compared in constant time, checked by
//! the extractors [`PublishKey`] and [`AdminKey`]: a handler that takes one
//! cannot run without the key.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::error::AppError;
use crate::state::AppState;

/// Whether the request carries `expected` as `Authorization: Bearer <key>` or
/// `x-api-key: <key>`. An unset key accepts nothing.
pub fn check(headers: &HeaderMap, expected: Option<&Secret>) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
    presented.is_some_and(|p| p.as_bytes().ct_eq(expected.expose().as_bytes()).into())
}

/// Proof that the request presented `BEACON_PUBLISH_KEY`.
#[derive(Debug, Clone, Copy)]
pub struct PublishKey;

/// Proof that the request presented `BEACON_ADMIN_KEY`.
#[derive(Debug, Clone, Copy)]
pub struct AdminKey;

impl FromRequestParts<AppState> for PublishKey {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        check(&parts.headers, state.config.publish_key.as_ref()).then_some(Self).ok_or(AppError::Unauthorized)
    }
}

impl FromRequestParts<AppState> for AdminKey {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        check(&parts.headers, state.config.admin_key.as_ref()).then_some(Self).ok_or(AppError::Unauthorized)
    }
}
