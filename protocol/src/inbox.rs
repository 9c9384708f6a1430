//! The notification inbox: what a notification is, the events that change an
//! inbox (one per change, on `user:<principal>`, each carrying the new counts),
//! and the bodies of the inbox HTTP API. docs/INBOX.md shows them as JSON.

use serde::{Deserialize, Serialize};

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 2000;
/// Longest link, in bytes.
pub const MAX_LINK_BYTES: usize = 2048;
/// Longest actor name, in characters.
pub const MAX_ACTOR_CHARS: usize = 100;
/// Most recipients of one create request.
pub const MAX_RECIPIENTS: usize = 1000;
/// Most ids in one state change.
pub const MAX_IDS_PER_CHANGE: usize = 500;
/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 128;
/// Largest page of a listing.
pub const MAX_PAGE: usize = 100;

/// Where a notification stands. `Archived` hides it from the inbox; it keeps
/// whether it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    Unseen,
    Seen,
    Read,
    Archived,
}

/// One notification as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationView {
    pub id: String,
    pub category: String,
    pub title: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// The seq of the event that announced it on `user:<principal>`.
    pub seq: u64,
    pub seen: bool,
    pub read: bool,
    pub archived: bool,
}

impl NotificationView {
    pub fn state(&self) -> NotificationState {
        if self.archived {
            NotificationState::Archived
        } else if self.read {
            NotificationState::Read
        } else if self.seen {
            NotificationState::Seen
        } else {
            NotificationState::Unseen
        }
    }
}

/// The numbers a badge shows; archived notifications count in none of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxCounts {
    pub unread: u64,
    pub unseen: u64,
    pub total: u64,
}

/// A change to a set of notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateChange {
    Seen,
    Read,
    Unread,
    Archived,
    Unarchived,
}

/// The payload of every inbox event on `user:<principal>`, tagged by `kind`.
/// Each carries the inbox's counts after the change, so every tab and device
/// converges by seq without refetching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum InboxEvent {
    #[serde(rename = "notification.created")]
    Created {
        notification: NotificationView,
        /// Whether tabs should pop a toast (false for a muted category).
        toast: bool,
        counts: InboxCounts,
    },
    #[serde(rename = "notification.updated")]
    Updated { ids: Vec<String>, change: StateChange, counts: InboxCounts },
    /// Everything announced at or below `up_to` is read.
    #[serde(rename = "notification.all_read")]
    AllRead { up_to: u64, counts: InboxCounts },
}

impl InboxEvent {
    pub fn counts(&self) -> InboxCounts {
        match self {
            Self::Created { counts, .. } | Self::Updated { counts, .. } | Self::AllRead { counts, .. } => {
                *counts
            }
        }
    }
}

/// `POST /api/notifications` (publish key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateNotifications {
    /// Principals (32 lowercase hex), one notification each.
    pub recipients: Vec<String>,
    pub category: String,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// A retried request with the same key creates nothing new (also
    /// accepted as the `Idempotency-Key` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// One recipient's notification in the answer to a create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Created {
    pub recipient: String,
    pub id: String,
    /// False when the idempotency key had already made it.
    pub created: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateAnswer {
    pub notifications: Vec<Created>,
}

/// A page of the inbox, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxPage {
    pub items: Vec<NotificationView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    pub counts: InboxCounts,
    /// The head of `user:<principal>` when this page was read: subscribe with
    /// this as `since` and no change is missed or applied twice.
    pub head_seq: u64,
}

/// What the header needs on every page: whose inbox, its counts and the latest items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxSummary {
    pub principal: String,
    pub counts: InboxCounts,
    pub latest: Vec<NotificationView>,
    pub head_seq: u64,
}

/// `POST /api/notifications/state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeState {
    pub ids: Vec<String>,
    pub change: StateChange,
}

/// `POST /api/notifications/read-all`: everything announced at or below `up_to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadAll {
    pub up_to: u64,
}

/// The answer to a change: how many notifications it changed (0 for a
/// repeat: changes are idempotent) and the counts after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeAnswer {
    pub changed: u64,
    pub counts: InboxCounts,
}

/// A category's setting for one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryPreference {
    pub category: String,
    pub muted: bool,
    /// Critical categories cannot be muted.
    pub critical: bool,
}

/// `GET`/`PUT /api/notifications/preferences`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    pub categories: Vec<CategoryPreference>,
}

/// Whether `category` is a valid category name: 1-32 of `a-z 0-9 _ -`.
pub fn valid_category(category: &str) -> bool {
    (1..=32).contains(&category.len())
        && category.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> NotificationView {
        NotificationView {
            id: "n1".into(),
            category: "mention".into(),
            title: "Ada mentioned you".into(),
            body: String::new(),
            link: Some("/chat".into()),
            actor: None,
            created_at: 1,
            seq: 7,
            seen: false,
            read: false,
            archived: false,
        }
    }

    #[test]
    fn inbox_events_have_stable_shapes() {
        let counts = InboxCounts { unread: 2, unseen: 1, total: 3 };
        let created = InboxEvent::Created { notification: view(), toast: true, counts };
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(json["kind"], "notification.created");
        assert_eq!(json["counts"], serde_json::json!({"unread": 2, "unseen": 1, "total": 3}));
        assert_eq!(json["notification"]["seq"], 7);
        assert!(json["notification"].get("actor").is_none());
        let updated = InboxEvent::Updated { ids: vec!["n1".into()], change: StateChange::Read, counts };
        assert_eq!(
            serde_json::to_value(&updated).unwrap(),
            serde_json::json!({"kind": "notification.updated", "ids": ["n1"], "change": "read",
                "counts": {"unread": 2, "unseen": 1, "total": 3}})
        );
        let all = InboxEvent::AllRead { up_to: 9, counts };
        let round: InboxEvent = serde_json::from_value(serde_json::to_value(&all).unwrap()).unwrap();
        assert_eq!(round, all);
        assert_eq!(round.counts(), counts);
    }

    #[test]
    fn categories_are_short_lowercase_names() {
        assert!(valid_category("mention"));
        assert!(valid_category("security-alerts_2"));
        assert!(!valid_category(""));
        assert!(!valid_category("Mention"));
        assert!(!valid_category(&"x".repeat(33)));
        assert!(!valid_category("a b"));
    }

    #[test]
    fn the_state_reads_archived_then_read_then_seen() {
        let mut v = view();
        assert_eq!(v.state(), NotificationState::Unseen);
        v.seen = true;
        assert_eq!(v.state(), NotificationState::Seen);
        v.read = true;
        assert_eq!(v.state(), NotificationState::Read);
        v.archived = true;
        assert_eq!(v.state(), NotificationState::Archived);
    }
}
