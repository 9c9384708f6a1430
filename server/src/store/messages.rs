//! Conversation messages. A message and the event that carries it are one
//! transaction; the channel's next seq is taken first (SQLite's write lock,
//! Postgres' head row lock), so the membership check and the duplicate check
//! that follow cannot race a concurrent leave or resend.

use protocol::EventEnvelope;
use protocol::chat::{ConversationEvent, Message};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::conversations::{conversation_channel, membership_in};
use super::events::insert_event;
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

impl Store {
    /// Stores a message from `principal` unless its client id stored one before.
    pub async fn send_message(
        &self,
        conversation: &str,
        principal: &str,
        client_id: &str,
        text: &str,
    ) -> Result<Stored, StoreError> {
        let channel = conversation_channel(conversation)?;
        let mut tx = self.pool().begin().await?;
        let seq = super::events::next_seq(&mut tx, &self.heads, &channel).await?;
        let Some(me) = membership_in(&mut tx, conversation, principal).await? else {
            tx.rollback().await?;
            return Ok(Stored::NotMember);
        };
        let earlier = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE conversation_id = $1 AND sender_principal = $2 AND client_id = $3"
        ))
        .bind(conversation)
        .bind(principal)
        .bind(client_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = earlier {
            // Rolled back: the seq taken above is given back.
            tx.rollback().await?;
            return Ok(Stored::Duplicate(message_from_row(&row)?));
        }
        let message = Message {
            seq,
            id: uuid::Uuid::new_v4().simple().to_string(),
            sender: me.member.member_id,
            sender_name: me.member.name,
            client_id: client_id.to_owned(),
            text: text.to_owned(),
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO messages (conversation_id, seq, id, sender_principal, sender, sender_name, \
             client_id, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(conversation)
        .bind(seq as i64)
        .bind(&message.id)
        .bind(principal)
        .bind(&message.sender)
        .bind(&message.sender_name)
        .bind(&message.client_id)
        .bind(&message.text)
        .bind(message.created_at)
        .execute(&mut *tx)
        .await?;
        let payload = serde_json::to_value(ConversationEvent::Message { message: message.clone() })
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let event = insert_event(&mut tx, channel, seq, payload).await?;
        tx.commit().await?;
        Ok(Stored::New { message, event })
    }
}
