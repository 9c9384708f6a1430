//! The visitor cookie: `<principal>.<expires unix s>[.<sign-in id>].<hex hmac>`,
//! HttpOnly and SameSite=Lax; over HTTPS also `Secure` with the `__Host-` prefix
//! (no subdomain or plain-HTTP page can set or overwrite it). Signed rather
//! than stored, so an anonymous page view costs no database write; the
//! signature makes a principal impossible to guess or forge.
//!
//! A registered person's cookie also names a sign-in, checked against the
//! database on each request, so signing out revokes it on the server: a copy of
//! the cookie taken before stops working.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::Principal;
use crate::config::Config;
use crate::error::AppError;
use crate::state::AppState;

/// The cookie's name over plain HTTP (development, a LAN).
pub const COOKIE_NAME: &str = "beacon_visitor";
/// The cookie's name over HTTPS: browsers accept a `__Host-` cookie only when
/// it is `Secure`, has `Path=/` and no `Domain`.
pub const HOST_COOKIE_NAME: &str = "__Host-beacon_visitor";
/// A visitor stays the same principal for a year of inactivity at most.
const LIFETIME_SECS: u64 = 365 * 24 * 3600;

/// What a genuine cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorCookie {
    pub principal: Principal,
    /// The sign-in of a registered person; `None` for an anonymous visitor.
    pub sign_in: Option<String>,
}

/// The sign-in behind the request, when a registered person is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn(pub Option<String>);

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

/// A sign-in id: 32 lowercase hex digits, like a principal.
fn valid_sign_in(id: &str) -> bool {
    Principal::parse(id).is_some()
}

/// The cookie value for `principal`, signed in as `sign_in` when given.
pub fn encode(secret: &str, principal: &Principal, sign_in: Option<&str>) -> String {
    let expires = unix_now() + LIFETIME_SECS;
    let body = match sign_in {
        Some(id) => format!("{principal}.{expires}.{id}"),
        None => format!("{principal}.{expires}"),
    };
    let signature = sign(secret, &body);
    format!("{body}.{signature}")
}

/// What a cookie value says, if it is genuine and unexpired.
pub fn decode(secret: &str, value: &str) -> Option<VisitorCookie> {
    let (body, signature) = value.rsplit_once('.')?;
    let expected = sign(secret, body);
    if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return None;
    }
    let mut parts = body.split('.');
    let principal = Principal::parse(parts.next()?)?;
    let expires: u64 = parts.next()?.parse().ok()?;
    let sign_in = match parts.next() {
        None => None,
        Some(id) if valid_sign_in(id) => Some(id.to_owned()),
        Some(_) => return None,
    };
    if parts.next().is_some() || expires <= unix_now() {
        return None;
    }
    Some(VisitorCookie { principal, sign_in })
}

/// The cookie's name under `config`.
pub fn cookie_name(config: &Config) -> &'static str {
    if config.https { HOST_COOKIE_NAME } else { COOKIE_NAME }
}

fn from_headers(secret: &str, name: &str, headers: &HeaderMap) -> Option<VisitorCookie> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .find_map(|(_, value)| decode(secret, value))
}

/// The `Set-Cookie` value naming `principal` (and its sign-in).
pub fn set_cookie(config: &Config, principal: &Principal, sign_in: Option<&str>) -> HeaderValue {
    let secure = if config.https { "; Secure" } else { "" };
    let cookie = format!(
        "{}={}; Path=/; Max-Age={LIFETIME_SECS}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(config),
        encode(config.secret.expose(), principal, sign_in)
    );
    HeaderValue::from_str(&cookie).expect("hex, digits and dots are valid header bytes")
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(config: &Config) -> HeaderValue {
    let secure = if config.https { "; Secure" } else { "" };
    let cookie = format!("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}", cookie_name(config));
    HeaderValue::from_str(&cookie).expect("static cookie text")
}

/// Middleware: every request gets a principal (and its sign-in) in its
/// extensions; a visitor without a valid cookie, or with a revoked sign-in,
/// gets a new principal and the cookie that names it.
pub async fn ensure_visitor(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let config = &state.config;
    let mut cookie = from_headers(config.secret.expose(), cookie_name(config), request.headers());
    if let Some(VisitorCookie { principal, sign_in: Some(sign_in) }) = &cookie {
        match state.store.sign_in_active(sign_in, principal.as_str()).await {
            Ok(true) => {}
            Ok(false) => cookie = None,
            Err(err) => return AppError::from(err).into_response(),
        }
    }
    let fresh = cookie.is_none();
    let VisitorCookie { principal, sign_in } =
        cookie.unwrap_or_else(|| VisitorCookie { principal: Principal::new_random(), sign_in: None });
    request.extensions_mut().insert(principal.clone());
    request.extensions_mut().insert(SignIn(sign_in));
    let mut response = next.run(request).await;
    // A handler that set the cookie itself (registration, sign-out) decides.
    if fresh && !response.headers().contains_key(SET_COOKIE) {
        response.headers_mut().append(SET_COOKIE, set_cookie(config, &principal, None));
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

/// Extractor for the sign-in that [`ensure_visitor`] attached.
impl<S: Send + Sync> FromRequestParts<S> for SignIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<SignIn>().cloned().ok_or(AppError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_tampering() {
        let p = Principal::new_random();
        let value = encode("s3cret", &p, None);
        assert_eq!(decode("s3cret", &value), Some(VisitorCookie { principal: p.clone(), sign_in: None }));
        assert_eq!(decode("other", &value), None);
        let other = Principal::new_random();
        let forged = value.replacen(p.as_str(), other.as_str(), 1);
        assert_eq!(decode("s3cret", &forged), None);
        assert_eq!(decode("s3cret", "garbage"), None);
    }

    #[test]
    fn a_sign_in_is_carried_and_cannot_be_added_or_swapped() {
        let p = Principal::new_random();
        let sign_in = Principal::new_random().to_string();
        let value = encode("s3cret", &p, Some(&sign_in));
        assert_eq!(decode("s3cret", &value).unwrap().sign_in.as_deref(), Some(sign_in.as_str()));
        let swapped = value.replacen(&sign_in, Principal::new_random().as_str(), 1);
        assert_eq!(decode("s3cret", &swapped), None);
        let anonymous = encode("s3cret", &p, None);
        let (body, signature) = anonymous.rsplit_once('.').unwrap();
        assert_eq!(decode("s3cret", &format!("{body}.{sign_in}.{signature}")), None);
    }
}
