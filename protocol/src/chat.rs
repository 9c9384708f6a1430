//! Conversations: members, messages, the durable events of a
//! `conversation:<id>` channel, the ephemeral signals (typing, presence) sent
//! beside them, and the bodies of the conversations HTTP API.
//! docs/CHAT.md shows them as JSON.
//!
//! Members are named by a per-conversation `member_id`, never by principal:
//! a principal is what a browser authenticates as, and other members have no
//! business knowing it.

use serde::{Deserialize, Serialize};

/// Longest message text, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest conversation title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 40;
/// Longest client-chosen message id, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 64;
/// Largest page of message history.
pub const MAX_HISTORY_PAGE: usize = 100;
/// A client sends `typing` at most this often while someone keeps typing.
pub const TYPING_RESEND_MS: u64 = 3_000;
/// The server forgets a typer it has not heard from for this long.
pub const TYPING_EXPIRY_MS: u64 = 6_000;
/// A member with no activity in any tab for this long is shown as away.
pub const AWAY_AFTER_MS: u64 = 5 * 60 * 1000;
/// A client reports activity (input, focus) at most this often.
pub const ACTIVITY_RESEND_MS: u64 = 60_000;

/// Whether a client id is usable: 1 to [`MAX_CLIENT_ID_BYTES`] of `A-Z a-z 0-9 - _`.
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_BYTES
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a client sends to post a message (the `payload` of `publish` on a
/// conversation channel, and the body of the HTTP send).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    pub text: String,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The seq of the event that carried it on the conversation's channel.
    pub seq: u64,
    pub id: String,
    /// The sender's id in this conversation.
    pub sender: String,
    /// The sender's display name when it was sent.
    pub sender_name: String,
    /// The id the sender's client chose; a resend with it stores nothing new.
    pub client_id: String,
    pub text: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

/// A member of a conversation, as other members see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub member_id: String,
    pub name: String,
}

/// The durable events of a `conversation:` channel (in the log, replayed on resume).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConversationEvent {
    Message { message: Message },
    MemberJoined { member: Member },
    MemberLeft { member: Member },
}

/// Where a member stands, aggregated over all their tabs and devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Connected, with activity in some tab within [`AWAY_AFTER_MS`].
    Online,
    /// Connected, but no activity in any tab for [`AWAY_AFTER_MS`].
    Away,
}

/// One member present on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEntry {
    pub member_id: String,
    pub name: String,
    pub status: PresenceStatus,
}

/// Ephemeral signals: delivered live to the channel's current subscribers,
/// never stored, never replayed, without a seq.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalBody {
    /// Everyone typing in the conversation right now (the full set, so a lost
    /// signal is corrected by the next one); empty when nobody is.
    Typing { members: Vec<Member> },
    /// Who is here, sent to one connection right after its subscribe is acknowledged.
    PresenceSnapshot { members: Vec<PresenceEntry> },
    /// A member arrived (their first tab) or changed status (online, away).
    PresenceUpdate { member: PresenceEntry },
    /// A member's last tab left.
    PresenceLeave { member_id: String },
    /// Dashboards: the live values of the metric sources, once a second
    /// while the dashboard is open (see `dashboard::MetricSource`).
    Metrics { values: Vec<crate::dashboard::MetricValue> },
}

// ---- HTTP API ---------------------------------------------------------------

/// `POST /api/conversations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    pub title: String,
    /// The creator's name in this conversation.
    pub display_name: String,
}

/// A conversation in the list, from its member's point of view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: String,
    pub title: String,
    pub members: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Message>,
    /// Messages from others after this member's read marker.
    pub unread: u64,
    /// The channel's newest seq.
    pub head_seq: u64,
}

/// `GET /api/conversations/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationView {
    pub id: String,
    pub title: String,
    /// The caller's own membership.
    pub me: Member,
    pub members: Vec<Member>,
    pub head_seq: u64,
    /// The caller's read marker.
    pub last_read_seq: u64,
}

/// `GET /api/conversations/{id}/messages?before=&limit=`: oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    /// Older messages exist: ask again with `before` = the first seq here.
    pub has_more: bool,
}

/// `POST /api/conversations/{id}/messages`, for clients without a socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub client_id: String,
    pub text: String,
}

/// What sending answered: the stored message (the first one, on a resend).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    pub message: Message,
    /// True when the client id had stored this message before.
    pub duplicate: bool,
}

/// `POST /api/conversations/{id}/invites`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invite {
    pub token: String,
    /// The page that accepts it.
    pub path: String,
    pub expires_at: i64,
}

/// `GET /api/invites/{token}`: what the invited person sees before joining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitePreview {
    pub conversation_id: String,
    pub title: String,
    pub members: u64,
    /// The visitor is a member already.
    pub joined: bool,
}

/// `POST /api/invites/{token}/accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    pub display_name: String,
}

/// `POST /api/conversations/{id}/read`: everything up to `seq` is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_and_signals_match_the_documented_json() {
        let member = Member { member_id: "m1".into(), name: "Ada".into() };
        let event = ConversationEvent::MemberJoined { member: member.clone() };
        let golden = json!({"kind": "member_joined", "member": {"member_id": "m1", "name": "Ada"}});
        assert_eq!(serde_json::to_value(&event).unwrap(), golden);
        assert_eq!(serde_json::from_value::<ConversationEvent>(golden).unwrap(), event);

        let typing = SignalBody::Typing { members: vec![member] };
        let golden = json!({"kind": "typing", "members": [{"member_id": "m1", "name": "Ada"}]});
        assert_eq!(serde_json::to_value(&typing).unwrap(), golden);

        let update = SignalBody::PresenceUpdate {
            member: PresenceEntry {
                member_id: "m1".into(),
                name: "Ada".into(),
                status: PresenceStatus::Away,
            },
        };
        let golden = json!({"kind": "presence_update", "member": {"member_id": "m1", "name": "Ada", "status": "away"}});
        assert_eq!(serde_json::to_value(&update).unwrap(), golden);
        assert_eq!(serde_json::from_value::<SignalBody>(golden).unwrap(), update);
    }

    #[test]
    fn client_ids_are_short_and_plain() {
        assert!(valid_client_id("c-1_x"));
        assert!(!valid_client_id(""));
        assert!(!valid_client_id("a b"));
        assert!(!valid_client_id(&"x".repeat(MAX_CLIENT_ID_BYTES + 1)));
    }

    #[test]
    fn a_draft_has_text_and_nothing_else() {
        assert!(serde_json::from_value::<Draft>(json!({"text": "hi"})).is_ok());
        assert!(serde_json::from_value::<Draft>(json!({"text": "hi", "sender": "m2"})).is_err());
    }
}
