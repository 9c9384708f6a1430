//! The notification inbox as a service: validates what backends send,
//! honours each recipient's muted categories, stores each change with its
//! announcing event (see `store::notifications`), then broadcasts the event.
//! The HTTP surface is `http::inbox`; the wire types are `protocol::inbox`.

use std::sync::Arc;

use protocol::inbox::{
    self, CategoryPreference, ChangeAnswer, ChangeState, CreateAnswer, CreateNotifications, Created,
    InboxPage, InboxSummary, Preferences,
};

use crate::auth::Principal;
use crate::hub::Hub;
use crate::store::notifications::{Cursor, Filter, NewNotification, inbox_channel};
use crate::store::{Store, StoreError};

/// Items the header's dropdown shows.
const LATEST: usize = 5;

/// Why an inbox request was refused.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Categories the demo on the home page sends, with what it says.
pub const DEMO: [(&str, &str, &str); 4] = [
    ("mention", "Ada mentioned you", "“Can you look at the launch checklist?”"),
    ("comment", "New comment on your post", "Alan: “Great write-up, one question about retries.”"),
    ("system", "Maintenance tonight", "Beacon restarts at 02:00 UTC; your tabs reconnect by themselves."),
    ("security", "New sign-in to your account", "A browser on Linux signed in just now."),
];

#[derive(Clone)]
pub struct Inbox {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    hub: Hub,
    /// Categories everyone sees in their preferences.
    categories: Vec<String>,
    /// Categories that cannot be muted.
    critical: Vec<String>,
}

fn invalid(message: impl Into<String>) -> InboxError {
    InboxError::Invalid(message.into())
}

fn check_text(name: &str, value: &str, max_chars: usize, required: bool) -> Result<(), InboxError> {
    let chars = value.chars().count();
    if required && value.trim().is_empty() {
        return Err(invalid(format!("{name} must not be empty")));
    }
    if chars > max_chars {
        return Err(invalid(format!("{name} is longer than {max_chars} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(format!("{name} contains control characters")));
    }
    Ok(())
}

/// A link is a path on this site or an http(s) URL: never `javascript:`.
fn check_link(link: &str) -> Result<(), InboxError> {
    let ok = link.len() <= inbox::MAX_LINK_BYTES
        && !link.chars().any(|c| c.is_whitespace() || c.is_control())
        && ((link.starts_with('/') && !link.starts_with("//"))
            || link.starts_with("https://")
            || link.starts_with("http://"));
    if ok { Ok(()) } else { Err(invalid("link must be a path (/...) or an http(s) URL")) }
}

/// Validates a create request; returns the recipients, parsed.
fn validate(request: &CreateNotifications) -> Result<Vec<Principal>, InboxError> {
    if request.recipients.is_empty() || request.recipients.len() > inbox::MAX_RECIPIENTS {
        return Err(invalid(format!("recipients: 1 to {}", inbox::MAX_RECIPIENTS)));
    }
    let mut recipients = Vec::with_capacity(request.recipients.len());
    for recipient in &request.recipients {
        let principal = Principal::parse(recipient)
            .ok_or_else(|| invalid(format!("recipient `{recipient}` is not 32 lowercase hex digits")))?;
        if !recipients.contains(&principal) {
            recipients.push(principal);
        }
    }
    if !inbox::valid_category(&request.category) {
        return Err(invalid("category: 1-32 of a-z 0-9 _ -"));
    }
    check_text("title", &request.title, inbox::MAX_TITLE_CHARS, true)?;
    check_text("body", &request.body, inbox::MAX_BODY_CHARS, false)?;
    if let Some(actor) = &request.actor {
        check_text("actor", actor, inbox::MAX_ACTOR_CHARS, true)?;
    }
    if let Some(link) = &request.link {
        check_link(link)?;
    }
    if let Some(key) = &request.idempotency_key
        && (key.is_empty() || key.len() > inbox::MAX_IDEMPOTENCY_KEY_BYTES || !key.is_ascii())
    {
        return Err(invalid(format!(
            "idempotency key: 1 to {} ASCII bytes",
            inbox::MAX_IDEMPOTENCY_KEY_BYTES
        )));
    }
    Ok(recipients)
}

fn check_ids(ids: &[String]) -> Result<(), InboxError> {
    if ids.len() > inbox::MAX_IDS_PER_CHANGE {
        return Err(invalid(format!("at most {} ids per change", inbox::MAX_IDS_PER_CHANGE)));
    }
    match ids.iter().find(|id| Principal::parse(id).is_none()) {
        Some(id) => Err(invalid(format!("`{id}` is not a notification id"))),
        None => Ok(()),
    }
}

impl Inbox {
    pub fn new(store: Store, hub: Hub, categories: Vec<String>, critical: Vec<String>) -> Self {
        Self { inner: Arc::new(Inner { store, hub, categories, critical }) }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn is_critical(&self, category: &str) -> bool {
        self.inner.critical.iter().any(|c| c == category)
    }

    /// Creates one notification per recipient; a retried request with the
    /// same idempotency key answers with the same ids and creates nothing.
    pub async fn create(&self, request: &CreateNotifications) -> Result<CreateAnswer, InboxError> {
        let recipients = validate(request)?;
        let mut notifications = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            let muted = !self.is_critical(&request.category)
                && self.store().muted_categories(recipient.as_str()).await?.contains(&request.category);
            let created = self
                .store()
                .create_notification(&NewNotification {
                    recipient: recipient.as_str(),
                    category: &request.category,
                    title: request.title.trim(),
                    body: request.body.trim(),
                    link: request.link.as_deref(),
                    actor: request.actor.as_deref(),
                    idempotency_key: request.idempotency_key.as_deref(),
                    muted,
                })
                .await?;
            if let Some(event) = &created.event {
                self.inner.hub.broadcast(event).await;
            }
            notifications.push(Created {
                recipient: recipient.to_string(),
                id: created.id,
                created: created.event.is_some(),
            });
        }
        Ok(CreateAnswer { notifications })
    }

    /// Seen, read, unread, archived or unarchived: idempotent, one event when anything changed.
    pub async fn change(&self, owner: &Principal, request: &ChangeState) -> Result<ChangeAnswer, InboxError> {
        check_ids(&request.ids)?;
        let (counts, event) =
            self.store().change_notifications(owner.as_str(), &request.ids, request.change).await?;
        self.finish(counts, event).await
    }

    /// Everything announced at or below `up_to` becomes read.
    pub async fn read_all(&self, owner: &Principal, up_to: u64) -> Result<ChangeAnswer, InboxError> {
        let (counts, event) = self.store().read_all_notifications(owner.as_str(), up_to).await?;
        self.finish(counts, event).await
    }

    async fn finish(
        &self,
        counts: protocol::inbox::InboxCounts,
        event: Option<protocol::EventEnvelope>,
    ) -> Result<ChangeAnswer, InboxError> {
        let changed = match &event {
            Some(event) => {
                self.inner.hub.broadcast(event).await;
                match serde_json::from_value::<protocol::inbox::InboxEvent>(event.payload.clone()) {
                    Ok(protocol::inbox::InboxEvent::Updated { ids, .. }) => ids.len() as u64,
                    _ => 1,
                }
            }
            None => 0,
        };
        Ok(ChangeAnswer { changed, counts })
    }

    /// A page of the owner's inbox. The channel head is read first: a change
    /// landing meanwhile is in the page *and* arrives as an event after the
    /// head, which clients apply idempotently; none can fall between.
    pub async fn page(
        &self,
        owner: &Principal,
        filter: Filter,
        category: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<InboxPage, InboxError> {
        if let Some(category) = category
            && !inbox::valid_category(category)
        {
            return Err(invalid("category: 1-32 of a-z 0-9 _ -"));
        }
        let cursor = match cursor {
            Some(text) => {
                Some(Cursor::decode(text).ok_or_else(|| invalid("cursor is not one this server gave"))?)
            }
            None => None,
        };
        let head_seq = self.head(owner).await?;
        let limit = limit.clamp(1, inbox::MAX_PAGE);
        let (items, next) =
            self.store().list_notifications(owner.as_str(), filter, category, cursor.as_ref(), limit).await?;
        let counts = self.store().notification_counts(owner.as_str()).await?;
        Ok(InboxPage { items, next_cursor: next.map(|c| c.encode()), counts, head_seq })
    }

    /// The head seq of the owner's channel.
    pub async fn head(&self, owner: &Principal) -> Result<u64, InboxError> {
        Ok(self.store().log_bounds(&inbox_channel(owner.as_str())?).await?.head)
    }

    /// What every page's header shows.
    pub async fn summary(&self, owner: &Principal) -> Result<InboxSummary, InboxError> {
        let page = self.page(owner, Filter::All, None, None, LATEST).await?;
        Ok(InboxSummary {
            principal: owner.to_string(),
            counts: page.counts,
            latest: page.items,
            head_seq: page.head_seq,
        })
    }

    /// The owner's categories: the known ones and any it muted.
    pub async fn preferences(&self, owner: &Principal) -> Result<Preferences, InboxError> {
        let muted = self.store().muted_categories(owner.as_str()).await?;
        let mut names: Vec<String> = self.inner.categories.clone();
        for category in self.inner.critical.iter().chain(&muted) {
            if !names.contains(category) {
                names.push(category.clone());
            }
        }
        let categories = names
            .into_iter()
            .map(|category| CategoryPreference {
                muted: muted.contains(&category),
                critical: self.is_critical(&category),
                category,
            })
            .collect();
        Ok(Preferences { categories })
    }

    /// Sets each listed category; a critical one cannot be muted.
    pub async fn set_preferences(
        &self,
        owner: &Principal,
        request: &Preferences,
    ) -> Result<Preferences, InboxError> {
        if request.categories.len() > 64 {
            return Err(invalid("at most 64 categories"));
        }
        for preference in &request.categories {
            if !inbox::valid_category(&preference.category) {
                return Err(invalid(format!("`{}` is not a category", preference.category)));
            }
            if preference.muted && self.is_critical(&preference.category) {
                return Err(invalid(format!("`{}` is critical and cannot be muted", preference.category)));
            }
        }
        for preference in &request.categories {
            self.store().set_muted(owner.as_str(), &preference.category, preference.muted).await?;
        }
        self.preferences(owner).await
    }

    /// The home page's demo: a notification of `category` to the visitor itself.
    pub async fn send_demo(&self, owner: &Principal, category: &str) -> Result<CreateAnswer, InboxError> {
        let (category, title, body) = DEMO
            .iter()
            .find(|(c, _, _)| *c == category)
            .ok_or_else(|| invalid(format!("`{category}` is not a demo category")))?;
        self.create(&CreateNotifications {
            recipients: vec![owner.to_string()],
            category: (*category).into(),
            title: (*title).into(),
            body: (*body).into(),
            link: Some("/notifications".into()),
            actor: Some("Beacon demo".into()),
            idempotency_key: None,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CreateNotifications {
        CreateNotifications {
            recipients: vec!["0123456789abcdef0123456789abcdef".into()],
            category: "mention".into(),
            title: "Hello".into(),
            body: String::new(),
            link: None,
            actor: None,
            idempotency_key: None,
        }
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let refused = |change: &dyn Fn(&mut CreateNotifications)| {
            let mut r = request();
            change(&mut r);
            validate(&r).unwrap_err().to_string()
        };
        assert!(refused(&|r| r.recipients.clear()).starts_with("recipients"));
        assert!(refused(&|r| r.recipients = vec!["nope".into()]).contains("nope"));
        assert!(refused(&|r| r.category = "Bad Category".into()).starts_with("category"));
        assert!(refused(&|r| r.title = "  ".into()).starts_with("title"));
        assert!(refused(&|r| r.title = "x".repeat(201)).starts_with("title"));
        assert!(refused(&|r| r.body = "a\u{0}b".into()).starts_with("body"));
        assert!(refused(&|r| r.link = Some("javascript:alert(1)".into())).starts_with("link"));
        assert!(refused(&|r| r.link = Some("//evil.example/x".into())).starts_with("link"));
        assert!(refused(&|r| r.idempotency_key = Some(String::new())).starts_with("idempotency"));
        assert!(validate(&request()).is_ok());
        let mut twice = request();
        twice.recipients.push(twice.recipients[0].clone());
        assert_eq!(validate(&twice).unwrap().len(), 1, "a recipient listed twice gets one");
    }
}
