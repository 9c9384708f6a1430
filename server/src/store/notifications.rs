//! The notification inbox. Every change runs in one transaction with the event
//! that announces it on `user:<recipient>`: the change first (so SQLite's write
//! lock is taken at once), then the channel's next seq (on Postgres the head
//! row lock, which orders concurrent changes), then the counts, read inside
//! the same transaction after that lock, so an event's counts always include
//! every earlier event's change. Tabs that apply events by seq converge.

use protocol::inbox::{InboxCounts, InboxEvent, NotificationView, StateChange};
use protocol::{ChannelKind, ChannelName, EventEnvelope};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::events::{insert_event, next_seq};
use super::heads::LogHeads;
use super::{Store, StoreError, now_ms};

/// A notification to store for one recipient.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    pub recipient: &'a str,
    pub category: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub link: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    /// A muted category: stored as read, announced without a toast.
    pub muted: bool,
}

/// What creating did.
#[derive(Debug)]
pub struct CreatedNotification {
    pub id: String,
    /// The announcing event; `None` when the idempotency key had made it before.
    pub event: Option<EventEnvelope>,
}

/// Which part of the inbox a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Not archived.
    All,
    /// Not read, not archived.
    Unread,
    Archived,
}

/// A listing's position: the (created_at, id) of the last item shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (created_at, id) = text.split_once('.')?;
        let valid_id = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let created_at = created_at.parse().ok()?;
        valid_id.then(|| Self { created_at, id: id.to_owned() })
    }
}

const COLUMNS: &str =
    "id, category, title, body, link, actor, created_at, event_seq, seen_at, read_at, archived_at";

fn from_row(row: &AnyRow) -> Result<NotificationView, StoreError> {
    Ok(NotificationView {
        id: row.try_get("id")?,
        category: row.try_get("category")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        link: row.try_get("link")?,
        actor: row.try_get("actor")?,
        created_at: row.try_get("created_at")?,
        seq: row.try_get::<Option<i64>, _>("event_seq")?.unwrap_or_default() as u64,
        seen: row.try_get::<Option<i64>, _>("seen_at")?.is_some(),
        read: row.try_get::<Option<i64>, _>("read_at")?.is_some(),
        archived: row.try_get::<Option<i64>, _>("archived_at")?.is_some(),
    })
}

/// The inbox channel of `recipient`.
pub fn inbox_channel(recipient: &str) -> Result<ChannelName, StoreError> {
    ChannelName::new(ChannelKind::User, recipient).map_err(|e| StoreError::Corrupt(format!("recipient: {e}")))
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn counts_in(tx: &mut Tx, recipient: &str) -> Result<InboxCounts, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS total, \
                COALESCE(SUM(CASE WHEN read_at IS NULL THEN 1 ELSE 0 END), 0) AS unread, \
                COALESCE(SUM(CASE WHEN seen_at IS NULL THEN 1 ELSE 0 END), 0) AS unseen \
         FROM notifications WHERE recipient = $1 AND archived_at IS NULL",
    )
    .bind(recipient)
    .fetch_one(&mut **tx)
    .await?;
    Ok(InboxCounts {
        total: row.try_get::<i64, _>("total")? as u64,
        unread: row.try_get::<i64, _>("unread")? as u64,
        unseen: row.try_get::<i64, _>("unseen")? as u64,
    })
}

/// Takes the next seq of the recipient's channel inside `tx` (see the module comment).
async fn seq_for(tx: &mut Tx, heads: &LogHeads, recipient: &str) -> Result<(ChannelName, u64), StoreError> {
    let channel = inbox_channel(recipient)?;
    let seq = next_seq(tx, heads, &channel).await?;
    Ok((channel, seq))
}

/// Reads the counts after the change and appends the announcing event.
async fn announce(
    tx: &mut Tx,
    recipient: &str,
    (channel, seq): (ChannelName, u64),
    event: impl FnOnce(InboxCounts) -> InboxEvent,
) -> Result<(InboxCounts, EventEnvelope), StoreError> {
    let counts = counts_in(tx, recipient).await?;
    let payload = serde_json::to_value(event(counts)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((counts, insert_event(tx, channel, seq, payload).await?))
}

impl Store {
    /// Stores one notification and its announcement, or finds the one its
    /// idempotency key made before (then nothing is announced).
    pub async fn create_notification(
        &self,
        new: &NewNotification<'_>,
    ) -> Result<CreatedNotification, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now = now_ms();
        let read_at = new.muted.then_some(now);
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO notifications (id, recipient, category, title, body, link, actor, created_at, \
             seen_at, read_at, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(new.recipient)
        .bind(new.category)
        .bind(new.title)
        .bind(new.body)
        .bind(new.link)
        .bind(new.actor)
        .bind(now)
        .bind(read_at)
        .bind(new.idempotency_key)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let row =
                sqlx::query("SELECT id FROM notifications WHERE recipient = $1 AND idempotency_key = $2")
                    .bind(new.recipient)
                    .bind(new.idempotency_key)
                    .fetch_one(&mut *tx)
                    .await?;
            tx.commit().await?;
            return Ok(CreatedNotification { id: row.try_get("id")?, event: None });
        }
        let at = seq_for(&mut tx, &self.heads, new.recipient).await?;
        sqlx::query("UPDATE notifications SET event_seq = $1 WHERE id = $2")
            .bind(at.1 as i64)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM notifications WHERE id = $1"))
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
        let notification = from_row(&row)?;
        let toast = !new.muted;
        let (_, event) = announce(&mut tx, new.recipient, at, |counts| InboxEvent::Created {
            notification,
            toast,
            counts,
        })
        .await?;
        tx.commit().await?;
        Ok(CreatedNotification { id, event: Some(event) })
    }

    /// Applies `change` to those of `ids` that are `recipient`'s and not
    /// already so; announces the change when anything changed.
    pub async fn change_notifications(
        &self,
        recipient: &str,
        ids: &[String],
        change: StateChange,
    ) -> Result<(InboxCounts, Option<EventEnvelope>), StoreError> {
        if ids.is_empty() {
            return Ok((self.notification_counts(recipient).await?, None));
        }
        // `$1` is the time for the changes that stamp one, the recipient otherwise.
        let (set, unchanged, stamps) = match change {
            StateChange::Seen => ("seen_at = $1", "seen_at IS NULL", true),
            StateChange::Read => ("read_at = $1, seen_at = COALESCE(seen_at, $1)", "read_at IS NULL", true),
            StateChange::Unread => ("read_at = NULL", "read_at IS NOT NULL", false),
            StateChange::Archived => ("archived_at = $1", "archived_at IS NULL", true),
            StateChange::Unarchived => ("archived_at = NULL", "archived_at IS NOT NULL", false),
        };
        let first = if stamps { 2 } else { 1 };
        let sql = format!(
            "UPDATE notifications SET {set} WHERE recipient = ${first} AND {unchanged} AND id IN ({}) RETURNING id",
            super::placeholders(first + 1, ids.len())
        );
        let mut tx = self.pool().begin().await?;
        let mut query = sqlx::query(&sql);
        if stamps {
            query = query.bind(now_ms());
        }
        query = query.bind(recipient);
        for id in ids {
            query = query.bind(id);
        }
        let changed: Vec<String> =
            query.fetch_all(&mut *tx).await?.iter().map(|row| row.try_get("id")).collect::<Result<_, _>>()?;
        if changed.is_empty() {
            let counts = counts_in(&mut tx, recipient).await?;
            tx.commit().await?;
            return Ok((counts, None));
        }
        let at = seq_for(&mut tx, &self.heads, recipient).await?;
        let (counts, event) =
            announce(&mut tx, recipient, at, |counts| InboxEvent::Updated { ids: changed, change, counts })
                .await?;
        tx.commit().await?;
        Ok((counts, Some(event)))
    }

    /// Marks read every notification of `recipient` announced at or below
    /// `up_to`; one announced later (while the person looked) stays unread.
    pub async fn read_all_notifications(
        &self,
        recipient: &str,
        up_to: u64,
    ) -> Result<(InboxCounts, Option<EventEnvelope>), StoreError> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let changed = sqlx::query(
            "UPDATE notifications SET read_at = $1, seen_at = COALESCE(seen_at, $1) \
             WHERE recipient = $2 AND read_at IS NULL AND event_seq <= $3",
        )
        .bind(now)
        .bind(recipient)
        .bind(up_to.min(i64::MAX as u64) as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            let counts = counts_in(&mut tx, recipient).await?;
            tx.commit().await?;
            return Ok((counts, None));
        }
        let at = seq_for(&mut tx, &self.heads, recipient).await?;
        let (counts, event) =
            announce(&mut tx, recipient, at, |counts| InboxEvent::AllRead { up_to, counts }).await?;
        tx.commit().await?;
        Ok((counts, Some(event)))
    }

    /// The inbox's counts.
    pub async fn notification_counts(&self, recipient: &str) -> Result<InboxCounts, StoreError> {
        let mut tx = self.pool().begin().await?;
        let counts = counts_in(&mut tx, recipient).await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// A page of `recipient`'s notifications, newest first.
    pub async fn list_notifications(
        &self,
        recipient: &str,
        filter: Filter,
        category: Option<&str>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<(Vec<NotificationView>, Option<Cursor>), StoreError> {
        let mut sql =
            format!("SELECT {COLUMNS} FROM notifications WHERE recipient = $1 AND event_seq IS NOT NULL");
        sql.push_str(match filter {
            Filter::All => " AND archived_at IS NULL",
            Filter::Unread => " AND archived_at IS NULL AND read_at IS NULL",
            Filter::Archived => " AND archived_at IS NOT NULL",
        });
        sql.push_str(" AND ($2 IS NULL OR category = $2)");
        sql.push_str(" AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4))");
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT $5");
        let rows = sqlx::query(&sql)
            .bind(recipient)
            .bind(category)
            .bind(after.map(|c| c.created_at))
            .bind(after.map(|c| c.id.clone()).unwrap_or_default())
            .bind(limit as i64 + 1)
            .fetch_all(self.pool())
            .await?;
        let mut items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let next = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map(|last| Cursor { created_at: last.created_at, id: last.id.clone() })
        });
        Ok((items, next.flatten()))
    }

    /// `principal`'s muted categories.
    pub async fn muted_categories(&self, principal: &str) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT category FROM notification_preferences WHERE principal = $1 AND muted = 1")
                .bind(principal)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|row| row.try_get("category").map_err(StoreError::from)).collect()
    }

    /// Mutes or unmutes `category` for `principal`.
    pub async fn set_muted(&self, principal: &str, category: &str, muted: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notification_preferences (principal, category, muted) VALUES ($1, $2, $3) \
             ON CONFLICT (principal, category) DO UPDATE SET muted = excluded.muted",
        )
        .bind(principal)
        .bind(category)
        .bind(i64::from(muted))
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor { created_at: 1_700_000_000_000, id: "0123456789abcdef0123456789abcdef".into() };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("12.nothex"), None);
        assert_eq!(Cursor::decode("x.0123456789abcdef0123456789abcdef"), None);
        assert_eq!(Cursor::decode("garbage"), None);
    }
}
