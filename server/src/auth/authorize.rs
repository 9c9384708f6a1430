//! The access rule of each channel kind. Every subscribe, long-poll and
//! client publish goes through [`access`].

use protocol::chat::Member;
use protocol::{ChannelKind, ChannelName};

use super::Principal;
use crate::store::{Store, StoreError, now_ms};

/// What a principal may do on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Denied,
    /// Receive events; clients never write here.
    Read,
    /// Receive events and send messages: a member of a conversation, with the
    /// name other members know them by (for presence and typing).
    Member(Member),
}

impl Access {
    pub fn may_read(&self) -> bool {
        !matches!(self, Self::Denied)
    }
}

/// What `principal` may do on `channel`.
///
/// - `user:<id>`: only that principal reads; written by the server only.
/// - `session:<id>`: only the visitor who created the connect session reads, while it exists.
/// - `conversation:<id>`: current members read and write.
/// - `dashboard:<id>`: its members read (they write through ops, checked by
///   role); on channels published to by the API, principals granted read.
pub async fn access(
    store: &Store,
    principal: &Principal,
    channel: &ChannelName,
) -> Result<Access, StoreError> {
    let read = |allowed: bool| if allowed { Access::Read } else { Access::Denied };
    Ok(match channel.kind() {
        ChannelKind::User => read(channel.id() == principal.as_str()),
        ChannelKind::Session => {
            read(store.connect_session(channel.id()).await?.is_some_and(|s| s.owner == principal.as_str()))
        }
        ChannelKind::Conversation => match store.membership(channel.id(), principal.as_str()).await? {
            Some(membership) => Access::Member(membership.member),
            None => Access::Denied,
        },
        ChannelKind::Dashboard => read(
            store.dashboard_role(channel.id(), principal.as_str()).await?.is_some()
                || store.has_grant(channel, principal.as_str()).await?,
        ),
    })
}

/// Whether `principal` may receive the events of `channel`.
pub async fn may_read(
    store: &Store,
    principal: &Principal,
    channel: &ChannelName,
) -> Result<bool, StoreError> {
    Ok(access(store, principal, channel).await?.may_read())
}

/// How long a connect session lives before it expires (the QR's countdown).
pub const CONNECT_SESSION_TTL_MS: i64 = 10 * 60 * 1000;

/// Whether a session is past its expiry.
pub fn expired(expires_at: i64) -> bool {
    now_ms() >= expires_at
}
