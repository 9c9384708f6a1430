//! Webhook authentication, in both styles the platform uses:
//!
//! - ConfirmD: `x-api-key: <secret>` (compared in constant time) and `x-org-id`;
//! - upstream CREDEBL: `X-Timestamp: <ms>` and `X-Signature: hex(HMAC-SHA256(secret,
//!   "<timestamp>.<raw body>"))`, accepted within a replay window.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Why a webhook was refused (all answered 401; the log says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookAuthError {
    #[error("no credentials")]
    Missing,
    #[error("wrong api key")]
    WrongKey,
    #[error("wrong or missing org id")]
    WrongOrg,
    #[error("bad signature")]
    BadSignature,
    #[error("timestamp outside the replay window")]
    Stale,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks a webhook's credentials against `secret` and `org_id`.
pub fn check(
    headers: &HeaderMap,
    raw_body: &[u8],
    secret: &str,
    org_id: &str,
    now_ms: i64,
    replay_window_ms: i64,
) -> Result<(), WebhookAuthError> {
    if let Some(signature) = header(headers, "x-signature") {
        let timestamp = header(headers, "x-timestamp").ok_or(WebhookAuthError::Missing)?;
        let ms: i64 = timestamp.parse().map_err(|_| WebhookAuthError::BadSignature)?;
        if now_ms.abs_diff(ms) > replay_window_ms.unsigned_abs() {
            return Err(WebhookAuthError::Stale);
        }
        let expected = hex::decode(signature).map_err(|_| WebhookAuthError::BadSignature)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(raw_body);
        // verify_slice compares in constant time.
        return mac.verify_slice(&expected).map_err(|_| WebhookAuthError::BadSignature);
    }
    let key = header(headers, "x-api-key").ok_or(WebhookAuthError::Missing)?;
    if !bool::from(key.as_bytes().ct_eq(secret.as_bytes())) {
        return Err(WebhookAuthError::WrongKey);
    }
    if header(headers, "x-org-id") != Some(org_id) {
        return Err(WebhookAuthError::WrongOrg);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn api_key_style() {
        let ok = headers(&[("x-api-key", "s".into()), ("x-org-id", "org".into())]);
        assert_eq!(check(&ok, b"{}", "s", "org", 0, 1000), Ok(()));
        let wrong = headers(&[("x-api-key", "t".into()), ("x-org-id", "org".into())]);
        assert_eq!(check(&wrong, b"{}", "s", "org", 0, 1000), Err(WebhookAuthError::WrongKey));
        let other_org = headers(&[("x-api-key", "s".into()), ("x-org-id", "x".into())]);
        assert_eq!(check(&other_org, b"{}", "s", "org", 0, 1000), Err(WebhookAuthError::WrongOrg));
        assert_eq!(check(&HeaderMap::new(), b"{}", "s", "org", 0, 1000), Err(WebhookAuthError::Missing));
    }

    #[test]
    fn signed_style_with_replay_window() {
        let body = br#"{"data":{}}"#;
        let signed = headers(&[("x-timestamp", "5000".into()), ("x-signature", sign("s", "5000", body))]);
        assert_eq!(check(&signed, body, "s", "org", 5500, 1000), Ok(()));
        assert_eq!(check(&signed, body, "s", "org", 9000, 1000), Err(WebhookAuthError::Stale));
        assert_eq!(check(&signed, b"{}", "s", "org", 5500, 1000), Err(WebhookAuthError::BadSignature));
        assert_eq!(check(&signed, body, "t", "org", 5500, 1000), Err(WebhookAuthError::BadSignature));
        let extreme = headers(&[("x-timestamp", i64::MIN.to_string()), ("x-signature", "00".into())]);
        assert_eq!(check(&extreme, body, "s", "org", 5500, 1000), Err(WebhookAuthError::Stale));
    }
}
