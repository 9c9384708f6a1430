//! The authorization rule of each channel kind. Every subscribe and long-poll
//! goes through [`may_read`].

use protocol::{ChannelKind, ChannelName};

use super::Principal;
use crate::store::{Store, StoreError, now_ms};

/// Whether `principal` may receive the events of `channel`.
///
/// - `user:<id>`: only that principal.
/// - `session:<id>`: only the visitor who created the connect session, while it exists.
/// - `conversation:<id>`, `dashboard:<id>`: principals granted through the grants API.
pub async fn may_read(
    store: &Store,
    principal: &Principal,
    channel: &ChannelName,
) -> Result<bool, StoreError> {
    match channel.kind() {
        ChannelKind::User => Ok(channel.id() == principal.as_str()),
        ChannelKind::Session => {
            Ok(store.connect_session(channel.id()).await?.is_some_and(|s| s.owner == principal.as_str()))
        }
        ChannelKind::Conversation | ChannelKind::Dashboard => {
            store.has_grant(channel, principal.as_str()).await
        }
    }
}

/// How long a connect session lives before it expires (the QR's countdown).
pub const CONNECT_SESSION_TTL_MS: i64 = 10 * 60 * 1000;

/// Whether a session is past its expiry.
pub fn expired(expires_at: i64) -> bool {
    now_ms() >= expires_at
}
