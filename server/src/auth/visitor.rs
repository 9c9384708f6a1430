//! The visitor cookie: `<principal>.<expires unix s>.<hex hmac>`, HttpOnly and
//! SameSite=Lax. Signed rather than stored, so a page view costs no database
//! write; the signature makes a principal impossible to guess or forge.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::Principal;
use crate::error::AppError;
use crate::state::AppState;

pub const COOKIE_NAME: &str = "beacon_visitor";
/// A visitor stays the same principal for a year of inactivity at most.
const LIFETIME_SECS: u64 = 365 * 24 * 3600;

fn sign(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(format!("visitor:{secret}").as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The cookie value for `principal`.
pub fn encode(secret: &str, principal: &Principal) -> String {
    let body = format!("{}.{}", principal, unix_now() + LIFETIME_SECS);
    let signature = sign(secret, &body);
    format!("{body}.{signature}")
}

/// The principal in a cookie value, if it is genuine and unexpired.
pub fn decode(secret: &str, value: &str) -> Option<Principal> {
    let (body, signature) = value.rsplit_once('.')?;
    let expected = sign(secret, body);
    if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return None;
    }
    let (principal, expires) = body.split_once('.')?;
    (expires.parse::<u64>().ok()? > unix_now()).then_some(())?;
    Principal::parse(principal)
}

fn from_headers(secret: &str, headers: &HeaderMap) -> Option<Principal> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .and_then(|(_, value)| decode(secret, value))
}

/// Middleware: every request gets a principal in its extensions; a visitor
/// without a valid cookie gets a new principal and the cookie that names it.
pub async fn ensure_visitor(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let secret = state.config.secret.expose();
    let existing = from_headers(secret, request.headers());
    let fresh = existing.is_none();
    let principal = existing.unwrap_or_else(Principal::new_random);
    request.extensions_mut().insert(principal.clone());
    let mut response = next.run(request).await;
    if fresh {
        let secure = if state.config.secure_cookies { "; Secure" } else { "" };
        let cookie = format!(
            "{COOKIE_NAME}={}; Path=/; Max-Age={LIFETIME_SECS}; HttpOnly; SameSite=Lax{secure}",
            encode(secret, &principal)
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// Extractor for the principal that [`ensure_visitor`] attached.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or(AppError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_tampering() {
        let p = Principal::new_random();
        let value = encode("s3cret", &p);
        assert_eq!(decode("s3cret", &value), Some(p.clone()));
        assert_eq!(decode("other", &value), None);
        let other = Principal::new_random();
        let forged = value.replacen(p.as_str(), other.as_str(), 1);
        assert_eq!(decode("s3cret", &forged), None);
        assert_eq!(decode("s3cret", "garbage"), None);
    }
}
