//! API keys for server-to-server calls, compared in constant time.

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::config::Secret;

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
