//! A group's trips to SQLite's connection thread, each one batch of the SQL
//! built in [`super::batch`], with the values it binds.

use std::collections::HashMap;

use protocol::chat::Message;
use protocol::{ChannelName, EventEnvelope};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::batch;
use super::decide::Head;
use crate::store::StoreError;
use crate::store::messages::NewMessage;

/// An event's row: its payload as text, so the answer keeps the event itself
/// and the payload is not copied.
pub(super) struct EventRow {
    pub(super) channel: ChannelName,
    pub(super) seq: u64,
    id: String,
    ts: i64,
    payload: String,
}

impl EventRow {
    pub(super) fn of(event: &EventEnvelope) -> Self {
        Self {
            channel: event.channel.clone(),
            seq: event.seq,
            id: event.id.clone(),
            ts: event.ts,
            payload: event.payload.to_string(),
        }
    }
}

/// A stored message's row.
pub(super) struct MessageRow {
    pub(super) conversation: String,
    pub(super) principal: String,
    pub(super) message: Message,
}

/// The first trip of a group that reads: `BEGIN IMMEDIATE` and every read,
/// one row each.
pub(super) async fn read(
    conn: &mut AnyConnection,
    channels: &[ChannelName],
    senders: &[&NewMessage],
) -> Result<Vec<AnyRow>, StoreError> {
    let sql = batch::reads(channels.len(), senders.len());
    let mut query = sqlx::query(&sql);
    for channel in channels {
        query = query.bind(channel.as_str());
    }
    for new in senders {
        query = query.bind(&new.conversation).bind(&new.principal).bind(&new.client_id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    if rows.len() != channels.len() + senders.len() {
        return Err(StoreError::Corrupt(format!(
            "a group's reads returned {} rows for {} reads",
            rows.len(),
            channels.len() + senders.len()
        )));
    }
    Ok(rows)
}

/// The second trip of a group that read: the heads, the messages, the
/// events, and the `COMMIT`.
pub(super) async fn write(
    conn: &mut AnyConnection,
    next: &HashMap<ChannelName, Head>,
    messages: &[MessageRow],
    events: &[EventRow],
) -> Result<(), StoreError> {
    let moved: Vec<_> = next.iter().filter(|(_, head)| head.moved()).collect();
    let sql = batch::writes(moved.len(), messages.len(), events.len());
    let mut query = sqlx::query(&sql);
    for (channel, head) in moved {
        query = query.bind(channel.as_str()).bind(head.last_seq as i64).bind(&head.epoch);
    }
    for row in messages {
        let message = &row.message;
        query = query
            .bind(&row.conversation)
            .bind(message.seq as i64)
            .bind(&message.id)
            .bind(&row.principal)
            .bind(&message.sender)
            .bind(&message.sender_name)
            .bind(&message.client_id)
            .bind(&message.text)
            .bind(message.created_at);
    }
    for event in events {
        query = query
            .bind(event.channel.as_str())
            .bind(event.seq as i64)
            .bind(&event.id)
            .bind(event.ts)
            .bind(&event.payload);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// What the one statement of a group with assumed heads did.
pub(super) enum Checked {
    /// The events are stored, the heads moved with them.
    Stored,
    /// A head was not as assumed: nothing is stored (SQLite rolled the
    /// statement back).
    HeadMoved,
}

/// The only trip of a group of appends whose heads were assumed: one
/// statement that stores the events if every head is as assumed, and moves
/// the heads with them, or stores nothing. Any other failure is an `Err`.
pub(super) async fn write_checked(
    conn: &mut AnyConnection,
    next: &HashMap<ChannelName, Head>,
    events: &[EventRow],
) -> Result<Checked, StoreError> {
    let sql = batch::checked_appends(events.len());
    let mut query = sqlx::query(&sql);
    for event in events {
        let head = &next[&event.channel];
        query = query
            .bind(event.channel.as_str())
            .bind(head.assumed_seq() as i64)
            .bind(&head.epoch)
            .bind(event.seq as i64)
            .bind(&event.id)
            .bind(event.ts)
            .bind(&event.payload);
    }
    match query.execute(&mut *conn).await {
        Ok(_) => Ok(Checked::Stored),
        // The check's own failure (see `batch::checked_appends`): no other
        // column of `events` can be NULL here.
        Err(sqlx::Error::Database(err)) if err.kind() == sqlx::error::ErrorKind::NotNullViolation => {
            Ok(Checked::HeadMoved)
        }
        Err(err) => Err(err.into()),
    }
}
