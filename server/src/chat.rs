//! Conversations as a service: validates what members send, enforces the send
//! rate, stores each change with its event (see `store::conversations` and
//! `store::messages`), broadcasts it, clears the sender's typing state, and
//! leaves a notification in the inbox of members who are not here.
//! The socket path is `hub::connection::publish`; the HTTP surface is
//! `http::conversations`; the wire types are `protocol::chat`.

pub mod limits;

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::chat::{
    self, ConversationSummary, ConversationView, HistoryPage, Invite, InvitePreview, Message, Sent,
};
use protocol::inbox::CreateNotifications;
use tokio::sync::Semaphore;

use crate::auth::Principal;
use crate::hub::Hub;
use crate::inbox::Inbox;
use crate::store::conversations::{InviteProblem, Joined, conversation_channel};
use crate::store::messages::{NewMessage, Stored};
use crate::store::{Store, StoreError};
use limits::SendLimits;

/// The inbox category of "a message while you were away".
pub const NOTIFICATION_CATEGORY: &str = "chat";
/// How long a share link stays valid.
const INVITE_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Notification jobs running at once; a sender waits for a slot beyond that
/// (backpressure instead of an unbounded pile of tasks).
const NOTIFY_CONCURRENCY: usize = 32;
/// How much of a message a notification quotes.
const QUOTE_CHARS: usize = 140;

/// Why a chat request was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    Invalid(String),
    #[error("message longer than {} characters", chat::MAX_TEXT_CHARS)]
    TooLarge,
    #[error("too many messages; slow down")]
    RateLimited { retry_after: Duration },
    /// Not a member (or no such conversation: the same answer, so ids cannot be probed).
    #[error("no such conversation")]
    NotFound,
    #[error("this invite link has expired")]
    InviteExpired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(message: impl Into<String>) -> ChatError {
    ChatError::Invalid(message.into())
}

/// A display name or title: trimmed, not empty, no control characters.
fn clean_line(what: &str, value: &str, max_chars: usize) -> Result<String, ChatError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if value.chars().count() > max_chars {
        return Err(invalid(format!("{what} is longer than {max_chars} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!("{what} contains control characters")));
    }
    Ok(value.to_owned())
}

/// A message text: not blank, at most [`chat::MAX_TEXT_CHARS`], line breaks
/// and tabs allowed, other control characters not.
pub fn check_text(text: &str) -> Result<(), ChatError> {
    if text.trim().is_empty() {
        return Err(invalid("text must not be empty"));
    }
    if text.chars().count() > chat::MAX_TEXT_CHARS {
        return Err(ChatError::TooLarge);
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid("text contains control characters"));
    }
    Ok(())
}

/// A conversation id as the API takes it: 32 lowercase hex digits.
fn check_id(id: &str) -> Result<(), ChatError> {
    if Principal::parse(id).is_some() { Ok(()) } else { Err(ChatError::NotFound) }
}

#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    hub: Hub,
    inbox: Inbox,
    limits: SendLimits,
    notify_slots: Arc<Semaphore>,
}

impl Chat {
    pub fn new(store: Store, hub: Hub, inbox: Inbox, messages_per_sec: u32) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                hub,
                inbox,
                limits: SendLimits::new(messages_per_sec),
                notify_slots: Arc::new(Semaphore::new(NOTIFY_CONCURRENCY)),
            }),
        }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Stores and broadcasts a message, or answers with the one this client
    /// id stored before.
    pub async fn send(
        &self,
        principal: &Principal,
        conversation: &str,
        client_id: &str,
        text: &str,
    ) -> Result<Sent, ChatError> {
        check_id(conversation)?;
        if !chat::valid_client_id(client_id) {
            return Err(invalid(format!("client_id: 1 to {} of A-Z a-z 0-9 - _", chat::MAX_CLIENT_ID_BYTES)));
        }
        check_text(text)?;
        self.inner
            .limits
            .allow(principal.as_str(), conversation, Instant::now())
            .map_err(|retry_after| ChatError::RateLimited { retry_after })?;
        let new = NewMessage {
            conversation: conversation.to_owned(),
            principal: principal.as_str().to_owned(),
            client_id: client_id.to_owned(),
            text: text.to_owned(),
        };
        // On a task of its own: once the writer has the message it may
        // commit it, and a caller that gives up meanwhile (a client gone, a
        // request timeout) must not leave it stored but never broadcast.
        let chat = self.clone();
        let principal = principal.clone();
        let stored =
            self.inner.hub.tasks().spawn(async move { chat.store_and_broadcast(&principal, new).await });
        stored.await.map_err(|err| StoreError::Failed(format!("sending a message: {err}")))?
    }

    async fn store_and_broadcast(&self, principal: &Principal, new: NewMessage) -> Result<Sent, ChatError> {
        let conversation = new.conversation.clone();
        match self.store().send_message(new).await? {
            Stored::NotMember => Err(ChatError::NotFound),
            Stored::Duplicate(message) => Ok(Sent { message, duplicate: true }),
            Stored::New { message, event } => {
                let hub = &self.inner.hub;
                hub.broadcast(&event).await;
                hub.stopped_typing(&event.channel, &message.sender).await;
                self.notify_absent(principal, &conversation, &message).await;
                Ok(Sent { message, duplicate: false })
            }
        }
    }

    /// Leaves a notification for every member other than the sender who is
    /// not on the conversation right now. Runs beside the sender, bounded.
    async fn notify_absent(&self, sender: &Principal, conversation: &str, message: &Message) {
        let Ok(permit) = self.inner.notify_slots.clone().acquire_owned().await else { return };
        let chat = self.clone();
        let sender = sender.clone();
        let conversation = conversation.to_owned();
        let message = message.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(err) = chat.notify_absent_now(&sender, &conversation, &message).await {
                tracing::warn!(error = %err, conversation, "notifying absent members failed");
            }
        });
    }

    async fn notify_absent_now(
        &self,
        sender: &Principal,
        conversation: &str,
        message: &Message,
    ) -> Result<(), ChatError> {
        let channel = conversation_channel(conversation)?;
        let here = self.inner.hub.presence_snapshot(&channel).await;
        let recipients: Vec<String> = self
            .store()
            .member_principals(conversation)
            .await?
            .into_iter()
            .filter(|(principal, member)| {
                principal != sender.as_str() && !here.iter().any(|p| p.member_id == member.member_id)
            })
            .map(|(principal, _)| principal)
            .collect();
        if recipients.is_empty() {
            return Ok(());
        }
        let title = self.store().conversation_title(conversation).await?.unwrap_or_default();
        let mut quote: String = message.text.chars().take(QUOTE_CHARS).collect();
        if message.text.chars().count() > QUOTE_CHARS {
            quote.push('…');
        }
        for batch in recipients.chunks(protocol::inbox::MAX_RECIPIENTS) {
            let request = CreateNotifications {
                recipients: batch.to_vec(),
                category: NOTIFICATION_CATEGORY.to_owned(),
                title: format!("{} in {title}", message.sender_name),
                body: quote.clone(),
                link: Some(format!("/chat/{conversation}")),
                actor: Some(message.sender_name.clone()),
                idempotency_key: Some(format!("chat-{}", message.id)),
            };
            self.inner.inbox.create(&request).await.map_err(|e| invalid(e.to_string()))?;
        }
        Ok(())
    }

    pub async fn create(
        &self,
        principal: &Principal,
        title: &str,
        display_name: &str,
    ) -> Result<ConversationView, ChatError> {
        let title = clean_line("title", title, chat::MAX_TITLE_CHARS)?;
        let name = clean_line("display name", display_name, chat::MAX_NAME_CHARS)?;
        let (id, event) = self.store().create_conversation(principal.as_str(), &title, &name).await?;
        self.inner.hub.broadcast(&event).await;
        self.view(principal, &id).await
    }

    pub async fn list(&self, principal: &Principal) -> Result<Vec<ConversationSummary>, ChatError> {
        Ok(self.store().conversations_of(principal.as_str()).await?)
    }

    pub async fn view(
        &self,
        principal: &Principal,
        conversation: &str,
    ) -> Result<ConversationView, ChatError> {
        check_id(conversation)?;
        self.store().conversation_view(conversation, principal.as_str()).await?.ok_or(ChatError::NotFound)
    }

    pub async fn history(
        &self,
        principal: &Principal,
        conversation: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage, ChatError> {
        self.member_check(principal, conversation).await?;
        let limit = limit.clamp(1, chat::MAX_HISTORY_PAGE);
        let (messages, has_more) = self.store().history(conversation, before, limit).await?;
        Ok(HistoryPage { messages, has_more })
    }

    /// Who is on the conversation now, for a member.
    pub async fn presence(
        &self,
        principal: &Principal,
        conversation: &str,
    ) -> Result<Vec<protocol::chat::PresenceEntry>, ChatError> {
        self.member_check(principal, conversation).await?;
        Ok(self.inner.hub.presence_snapshot(&conversation_channel(conversation)?).await)
    }

    async fn member_check(&self, principal: &Principal, conversation: &str) -> Result<(), ChatError> {
        check_id(conversation)?;
        match self.store().membership(conversation, principal.as_str()).await? {
            Some(_) => Ok(()),
            None => Err(ChatError::NotFound),
        }
    }

    pub async fn mark_read(
        &self,
        principal: &Principal,
        conversation: &str,
        seq: u64,
    ) -> Result<(), ChatError> {
        check_id(conversation)?;
        let seq = seq.min(i64::MAX as u64);
        self.store().mark_conversation_read(conversation, principal.as_str(), seq).await?;
        Ok(())
    }

    pub async fn invite(&self, principal: &Principal, conversation: &str) -> Result<Invite, ChatError> {
        self.member_check(principal, conversation).await?;
        let (token, expires_at) =
            self.store().create_invite(conversation, principal.as_str(), INVITE_TTL_MS).await?;
        Ok(Invite { path: format!("/chat/join/{token}"), token, expires_at })
    }

    pub async fn preview(&self, principal: &Principal, token: &str) -> Result<InvitePreview, ChatError> {
        check_invite_token(token)?;
        let (conversation_id, title) = match self.store().invite_target(token).await? {
            Ok(target) => target,
            Err(problem) => return Err(invite_error(problem)),
        };
        let members = self.store().members(&conversation_id).await?.len() as u64;
        let joined = self.store().membership(&conversation_id, principal.as_str()).await?.is_some();
        Ok(InvitePreview { conversation_id, title, members, joined })
    }

    /// Joins through a share link; returns the conversation id.
    pub async fn accept(
        &self,
        principal: &Principal,
        token: &str,
        display_name: &str,
    ) -> Result<String, ChatError> {
        check_invite_token(token)?;
        let name = clean_line("display name", display_name, chat::MAX_NAME_CHARS)?;
        match self.store().accept_invite(token, principal.as_str(), &name).await? {
            Ok(Joined::New { conversation_id, event }) => {
                self.inner.hub.broadcast(&event).await;
                Ok(conversation_id)
            }
            Ok(Joined::Already { conversation_id }) => Ok(conversation_id),
            Err(problem) => Err(invite_error(problem)),
        }
    }

    /// Leaves a conversation: announced to the others, and this person's open
    /// subscriptions to it end at once.
    pub async fn leave(&self, principal: &Principal, conversation: &str) -> Result<(), ChatError> {
        check_id(conversation)?;
        let Some(event) = self.store().leave_conversation(conversation, principal.as_str()).await? else {
            return Err(ChatError::NotFound);
        };
        self.inner.hub.broadcast(&event).await;
        self.inner.hub.revoke(principal, &event.channel).await;
        Ok(())
    }
}

fn check_invite_token(token: &str) -> Result<(), ChatError> {
    let ok = token.len() == 64 && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok { Ok(()) } else { Err(ChatError::NotFound) }
}

fn invite_error(problem: InviteProblem) -> ChatError {
    match problem {
        InviteProblem::Unknown => ChatError::NotFound,
        InviteProblem::Expired => ChatError::InviteExpired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_checked_for_blankness_size_and_control_characters() {
        assert!(check_text("hello\nworld\t!").is_ok());
        assert!(matches!(check_text("  \n"), Err(ChatError::Invalid(_))));
        assert!(matches!(check_text(&"x".repeat(chat::MAX_TEXT_CHARS + 1)), Err(ChatError::TooLarge)));
        assert!(check_text(&"é".repeat(chat::MAX_TEXT_CHARS)).is_ok(), "characters, not bytes");
        assert!(matches!(check_text("bell\u{7}"), Err(ChatError::Invalid(_))));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_line("name", "  Ada ", 40).unwrap(), "Ada");
        assert!(clean_line("name", "", 40).is_err());
        assert!(clean_line("name", &"a".repeat(41), 40).is_err());
        assert!(clean_line("name", "a\u{0}b", 40).is_err());
    }
}
