//! Conversation messages. A message and the event that carries it are one
//! transaction, which holds SQLite's write lock or the channel's head row lock
//! (Postgres) before its membership and duplicate checks, so they cannot race
//! a concurrent leave or resend.

use std::collections::HashMap;

use protocol::EventEnvelope;
use protocol::chat::{ConversationEvent, Message};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::conversations::{conversation_channel, membership_in};
use super::events::{insert_event, next_seq};
use super::heads::LogHeads;
use super::{Store, StoreError, now_ms};

pub(super) const MESSAGE_COLUMNS: &str = "seq, id, sender, sender_name, client_id, body, created_at";

pub(super) fn message_from_row(row: &AnyRow) -> Result<Message, StoreError> {
    Ok(Message {
        seq: row.try_get::<i64, _>("seq")? as u64,
        id: row.try_get("id")?,
        sender: row.try_get("sender")?,
        sender_name: row.try_get("sender_name")?,
        client_id: row.try_get("client_id")?,
        text: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// The newest message of each of `conversations` that has one, in one
    /// query (a conversation list of 200 was 201 queries).
    pub(super) async fn last_messages(
        &self,
        conversations: &[String],
    ) -> Result<HashMap<String, Message>, StoreError> {
        if conversations.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT conversation_id, {MESSAGE_COLUMNS} FROM messages m \
             WHERE conversation_id IN ({}) \
             AND seq = (SELECT MAX(seq) FROM messages x WHERE x.conversation_id = m.conversation_id)",
            super::placeholders(1, conversations.len())
        );
        let mut query = sqlx::query(&sql);
        for conversation in conversations {
            query = query.bind(conversation.as_str());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(|row| Ok((row.try_get("conversation_id")?, message_from_row(row)?))).collect()
    }
}

/// What sending did.
#[derive(Debug)]
pub enum Stored {
    /// Stored now; broadcast the event.
    New { message: Message, event: EventEnvelope },
    /// The client id had stored this message before; nothing changed.
    Duplicate(Message),
    /// The sender is not (or no longer) a member.
    NotMember,
}

/// A message to store, as the sender gave it (checked by `chat`).
#[derive(Debug)]
pub struct NewMessage {
    pub conversation: String,
    pub principal: String,
    pub client_id: String,
    pub text: String,
}

/// Stores `new` inside `tx` unless the sender is not a member or its client
/// id stored a message before; on a refusal the caller rolls back the seq
/// this took. Postgres only (SQLite's log writer does the same in its group,
/// `appender::group`).
///
/// The channel's next seq is taken first: the head row's lock orders this
/// send against a leave, which takes the same row.
async fn send_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    heads: &LogHeads,
    new: &NewMessage,
) -> Result<Stored, StoreError> {
    let channel = conversation_channel(&new.conversation)?;
    let seq = next_seq(tx, heads, &channel).await?;
    let Some(me) = membership_in(tx, &new.conversation, &new.principal).await? else {
        return Ok(Stored::NotMember);
    };
    let earlier = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages \
         WHERE conversation_id = $1 AND sender_principal = $2 AND client_id = $3"
    ))
    .bind(&new.conversation)
    .bind(&new.principal)
    .bind(&new.client_id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = earlier {
        return Ok(Stored::Duplicate(message_from_row(&row)?));
    }
    let message = Message {
        seq,
        id: uuid::Uuid::new_v4().simple().to_string(),
        sender: me.member.member_id,
        sender_name: me.member.name,
        client_id: new.client_id.clone(),
        text: new.text.clone(),
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO messages (conversation_id, seq, id, sender_principal, sender, sender_name, \
         client_id, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&new.conversation)
    .bind(seq as i64)
    .bind(&message.id)
    .bind(&new.principal)
    .bind(&message.sender)
    .bind(&message.sender_name)
    .bind(&message.client_id)
    .bind(&message.text)
    .bind(message.created_at)
    .execute(&mut **tx)
    .await?;
    let payload = serde_json::to_value(ConversationEvent::Message { message: message.clone() })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let event = insert_event(tx, channel, seq, payload).await?;
    Ok(Stored::New { message, event })
}

impl Store {
    /// Stores a message from `new.principal` unless its client id stored one before.
    ///
    /// On SQLite the message goes through the log's single writer with the
    /// appends (see [`super::appender`]): on a pool connection of its own it
    /// would wait for SQLite's write lock against the writer and every other
    /// sender, in the busy handler's sleeps (docs/PERFORMANCE.md, step 11).
    pub async fn send_message(&self, new: NewMessage) -> Result<Stored, StoreError> {
        if let Some(appender) = &self.appender {
            return appender.send_message(new).await;
        }
        let mut tx = self.log_write_pool().begin().await?;
        let stored = send_in(&mut tx, &self.heads, &new).await?;
        match stored {
            // Refused: the seq taken is given back.
            Stored::NotMember | Stored::Duplicate(_) => tx.rollback().await?,
            Stored::New { .. } => tx.commit().await?,
        }
        Ok(stored)
    }
}
