//! Connect tokens: HS256 JWTs naming a principal, valid for minutes. The browser
//! fetches one over HTTP (where the cookie authenticates it) and sends it in its
//! first WebSocket message, so it never appears in a URL or an access log.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::Principal;

const AUDIENCE: &str = "beacon-realtime";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    aud: String,
    iat: u64,
    exp: u64,
    /// The sign-in of a registered person: checked when the socket
    /// authenticates, so a revoked sign-in's tokens stop working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

/// A verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub principal: Principal,
    /// The sign-in the token was issued to, for a registered person.
    pub sign_in: Option<String>,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Issues and verifies connect tokens with one key.
///
/// Shared, not copied: every socket holds a handle, and a copy would carry the
/// key twice and the validation's sets (a dozen allocations) per socket.
#[derive(Clone)]
pub struct TokenKeys {
    inner: Arc<Keys>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &str) -> Self {
        // Derived from the server secret with a purpose label, so a visitor cookie
        // signature can never double as a token signature.
        let key = format!("connect-token:{secret}");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        let keys = Keys {
            encoding: EncodingKey::from_secret(key.as_bytes()),
            decoding: DecodingKey::from_secret(key.as_bytes()),
            validation,
        };
        Self { inner: Arc::new(keys) }
    }

    /// A token for `principal` (signed in as `sign_in`) valid for `ttl_secs`;
    /// returns it and its expiry (unix s).
    pub fn issue(&self, principal: &Principal, sign_in: Option<&str>, ttl_secs: u64) -> (String, u64) {
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: principal.to_string(),
            aud: AUDIENCE.into(),
            iat,
            exp: iat.saturating_add(ttl_secs),
            sid: sign_in.map(str::to_owned),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.inner.encoding)
            .expect("HS256 signing with a byte key cannot fail");
        (token, claims.exp)
    }

    pub fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let principal = Principal::parse(&data.claims.sub).ok_or(TokenError::Invalid)?;
        let sign_in = data.claims.sid;
        if sign_in.as_deref().is_some_and(|sid| Principal::parse(sid).is_none()) {
            return Err(TokenError::Invalid);
        }
        Ok(VerifiedToken { principal, sign_in, expires_at: data.claims.exp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_and_verifies() {
        let keys = TokenKeys::new("secret-one");
        let p = Principal::new_random();
        let (token, exp) = keys.issue(&p, None, 60);
        let verified = keys.verify(&token).unwrap();
        assert_eq!(verified.principal, p);
        assert_eq!(verified.sign_in, None);
        let sid = Principal::new_random().to_string();
        let (signed_in, _) = keys.issue(&p, Some(&sid), 60);
        assert_eq!(keys.verify(&signed_in).unwrap().sign_in, Some(sid));
        assert_eq!(verified.expires_at, exp);
        assert_eq!(TokenKeys::new("secret-two").verify(&token), Err(TokenError::Invalid));
        assert_eq!(keys.verify("not.a.token"), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_tokens_say_so() {
        let keys = TokenKeys::new("k");
        let claims = Claims {
            sub: Principal::new_random().to_string(),
            aud: AUDIENCE.into(),
            iat: 1,
            exp: 2,
            sid: None,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.inner.encoding).unwrap();
        assert_eq!(keys.verify(&token), Err(TokenError::Expired));
    }
}
