//! Who a request or connection is, and what it may use.
//!
//! - [`visitor`]: the signed, HttpOnly visitor cookie naming a principal.
//! - [`token`]: short-lived connect tokens (HS256 JWT) for the WebSocket.
//! - [`authorize`]: the rule for each channel kind.
//! - [`api_key`]: constant-time API key checks.

pub mod api_key;
pub mod authorize;
pub mod token;
pub mod visitor;

use std::fmt;
use std::sync::Arc;

/// Who is acting: a visitor (anonymous until registration) identified by a
/// random id. `user:<id>` is that principal's notification channel.
///
/// Shared, not copied: a socket's principal is kept by its connection, the
/// hub's registry and the per-principal counts, for the socket's whole life.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(Arc<str>);

impl Principal {
    /// A fresh random principal.
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string().into())
    }

    /// Accepts ids of the shape [`Principal::new_random`] makes (32 lowercase hex).
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
