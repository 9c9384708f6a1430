//! Channel names. A channel is `<kind>:<id>`; an invalid name cannot be built.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

/// Longest id part of a channel name: room for a UUID or a prefixed key, no more.
pub const MAX_CHANNEL_ID_LEN: usize = 64;

/// The four kinds of channel, each with its own authorization rule on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// One wallet-connect attempt, owned by the visitor who created it.
    Session,
    /// A user's notifications.
    User,
    /// A conversation between members.
    Conversation,
    /// A live dashboard shared by its members.
    Dashboard,
}

impl ChannelKind {
    /// The prefix written before the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::User => "user",
            Self::Conversation => "conversation",
            Self::Dashboard => "dashboard",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "session" => Self::Session,
            "user" => Self::User,
            "conversation" => Self::Conversation,
            "dashboard" => Self::Dashboard,
            _ => return None,
        })
    }
}

/// Why a string is not a channel name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("a channel name is `<kind>:<id>`")]
    MissingSeparator,
    #[error("unknown channel kind `{0}`")]
    UnknownKind(String),
    #[error("channel id must be 1 to {MAX_CHANNEL_ID_LEN} characters of A-Z a-z 0-9 - _")]
    InvalidId,
}

/// A validated channel name such as `session:4f6c...`.
///
/// Shared, not copied: a server keeps one channel's name in its registry, in
/// each subscriber's subscriptions and in the log's cache, and a clone is a
/// count, not an allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ChannelName(Arc<str>);

/// Written as the string it is, without building a `String` first.
impl Serialize for ChannelName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl ChannelName {
    /// Validates `s` as a channel name.
    pub fn parse(s: &str) -> Result<Self, ChannelError> {
        let (kind, id) = s.split_once(':').ok_or(ChannelError::MissingSeparator)?;
        ChannelKind::parse(kind).ok_or_else(|| ChannelError::UnknownKind(kind.to_owned()))?;
        let id_ok = !id.is_empty()
            && id.len() <= MAX_CHANNEL_ID_LEN
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(ChannelError::InvalidId);
        }
        Ok(Self(Arc::from(s)))
    }

    /// Builds the channel of `kind` for an id, validating the id.
    pub fn new(kind: ChannelKind, id: &str) -> Result<Self, ChannelError> {
        Self::parse(&format!("{}:{id}", kind.as_str()))
    }

    pub fn kind(&self) -> ChannelKind {
        let (kind, _) = self.0.split_once(':').expect("validated at construction");
        ChannelKind::parse(kind).expect("validated at construction")
    }

    /// The part after the colon.
    pub fn id(&self) -> &str {
        self.0.split_once(':').map(|(_, id)| id).expect("validated at construction")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ChannelName {
    type Err = ChannelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ChannelName {
    type Error = ChannelError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ChannelName> for String {
    fn from(c: ChannelName) -> Self {
        c.0.as_ref().to_owned()
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_kind() {
        for (s, kind) in [
            ("session:abc-123", ChannelKind::Session),
            ("user:42", ChannelKind::User),
            ("conversation:c_1", ChannelKind::Conversation),
            ("dashboard:main", ChannelKind::Dashboard),
        ] {
            let c = ChannelName::parse(s).unwrap();
            assert_eq!(c.kind(), kind);
            assert_eq!(c.as_str(), s);
        }
        assert_eq!(ChannelName::parse("user:42").unwrap().id(), "42");
    }

    #[test]
    fn rejects_malformed_names() {
        assert_eq!(ChannelName::parse("user"), Err(ChannelError::MissingSeparator));
        assert_eq!(ChannelName::parse("admin:1"), Err(ChannelError::UnknownKind("admin".into())));
        assert_eq!(ChannelName::parse("user:"), Err(ChannelError::InvalidId));
        assert_eq!(ChannelName::parse("user:a b"), Err(ChannelError::InvalidId));
        assert_eq!(ChannelName::parse("user:a:b"), Err(ChannelError::InvalidId));
        let long = format!("user:{}", "x".repeat(MAX_CHANNEL_ID_LEN + 1));
        assert_eq!(ChannelName::parse(&long), Err(ChannelError::InvalidId));
    }

    #[test]
    fn deserializing_validates() {
        let err = serde_json::from_str::<ChannelName>("\"nope:1\"").unwrap_err();
        assert!(err.to_string().contains("unknown channel kind"), "{err}");
        let ok: ChannelName = serde_json::from_str("\"user:7\"").unwrap();
        assert_eq!(ok.as_str(), "user:7");
    }

    #[test]
    fn serializes_as_its_string_and_clones_share_it() {
        let channel = ChannelName::parse("conversation:c_1").unwrap();
        assert_eq!(serde_json::to_string(&channel).unwrap(), "\"conversation:c_1\"");
        let copy = channel.clone();
        assert!(std::ptr::eq(copy.as_str(), channel.as_str()), "a clone is the same string");
        assert_eq!(String::from(copy), "conversation:c_1");
    }
}
