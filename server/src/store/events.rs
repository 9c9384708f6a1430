//! The per-channel event log. Seqs come from `channel_heads` in the same
//! transaction as the insert: the row lock (Postgres) or the single writer
//! (SQLite) makes them strictly increasing under concurrent publishers, and by
//! the time seq n is visible every seq below it is committed too.

use protocol::{ChannelName, EventEnvelope};
use sqlx::Row;

use super::heads::LogHeads;
use super::{Store, StoreError, now_ms};

/// Appends one event inside `tx`: takes the channel's next seq and inserts the row.
pub(super) async fn append_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    heads: &LogHeads,
    channel: ChannelName,
    payload: serde_json::Value,
) -> Result<EventEnvelope, StoreError> {
    let seq = next_seq(tx, heads, &channel).await?;
    insert_event(tx, channel, seq, payload).await
}

/// Takes the channel's next seq inside `tx`. On Postgres this locks the
/// channel's head row until the transaction ends, so whatever the transaction
/// reads afterwards already includes every earlier event's changes.
///
/// `heads` learns of the write before it commits; `Hub::broadcast` tells it
/// when it has (see [`super::heads`]).
pub(super) async fn next_seq(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    heads: &LogHeads,
    channel: &ChannelName,
) -> Result<u64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO channel_heads (channel, last_seq, epoch) VALUES ($1, 1, $2) \
         ON CONFLICT (channel) DO UPDATE SET last_seq = channel_heads.last_seq + 1 \
         RETURNING last_seq, epoch",
    )
    .bind(channel.as_str())
    .bind(new_epoch())
    .fetch_one(&mut **tx)
    .await?;
    let seq = row.try_get::<i64, _>(0)? as u64;
    heads.begin_write(channel, seq, &row.try_get::<String, _>(1)?);
    Ok(seq)
}

/// A fresh epoch for a channel log that starts now (64 random bits, hex).
pub(super) fn new_epoch() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Inserts the event `seq` (taken with [`next_seq`] in the same transaction).
pub(super) async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    channel: ChannelName,
    seq: u64,
    payload: serde_json::Value,
) -> Result<EventEnvelope, StoreError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let ts = now_ms();
    sqlx::query("INSERT INTO events (channel, seq, id, ts, payload) VALUES ($1, $2, $3, $4, $5)")
        .bind(channel.as_str())
        .bind(seq as i64)
        .bind(&id)
        .bind(ts)
        .bind(payload.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(EventEnvelope { channel, seq, id, ts, payload })
}

/// Where a channel's retained log starts and ends, and which incarnation of
/// the log it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBounds {
    /// Newest seq ever handed out (0: none yet).
    pub head: u64,
    /// Oldest seq still stored (`head + 1` when nothing is stored).
    pub first_retained: u64,
    /// The log's epoch: seqs are only comparable within one epoch.
    pub epoch: String,
}

impl Store {
    /// Appends an event and returns it as stored, with its seq.
    ///
    /// On SQLite the append goes through the single writer (see [`appender`]),
    /// which groups concurrent appends into one transaction; on Postgres each
    /// append is its own transaction and the head row's lock orders them.
    #[tracing::instrument(skip(self, payload), fields(channel = %channel))]
    pub async fn append_event(
        &self,
        channel: &ChannelName,
        payload: serde_json::Value,
    ) -> Result<EventEnvelope, StoreError> {
        if let Some(appender) = &self.appender {
            return appender.append(channel.clone(), payload).await;
        }
        let mut tx = self.log_write_pool().begin().await?;
        let event = append_in(&mut tx, &self.heads, channel.clone(), payload).await?;
        tx.commit().await?;
        Ok(event)
    }

    /// Events with seq in `(after, up_to]`, oldest first, at most `limit`.
    pub async fn events_between(
        &self,
        channel: &ChannelName,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, id, ts, payload FROM events \
             WHERE channel = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
        )
        .bind(channel.as_str())
        .bind(after as i64)
        .bind(up_to.min(i64::MAX as u64) as i64)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                let payload: String = row.try_get("payload")?;
                Ok(EventEnvelope {
                    channel: channel.clone(),
                    seq: row.try_get::<i64, _>("seq")? as u64,
                    id: row.try_get("id")?,
                    ts: row.try_get("ts")?,
                    payload: serde_json::from_str(&payload)
                        .map_err(|e| StoreError::Corrupt(format!("event payload: {e}")))?,
                })
            })
            .collect()
    }

    /// The channel's head seq, oldest retained seq and epoch. A channel
    /// without a log yet gets its head row (seq 0) here, so that even a client
    /// that subscribed before the first event knows the epoch it resumes in.
    ///
    /// On SQLite, answered from memory when [`super::heads`] knows the channel.
    pub async fn log_bounds(&self, channel: &ChannelName) -> Result<LogBounds, StoreError> {
        if let Some(bounds) = self.heads.lookup(channel) {
            return Ok(bounds);
        }
        let ticket = self.heads.ticket(channel);
        let bounds = self.read_log_bounds(channel).await?;
        self.heads.fill(channel, ticket, &bounds);
        Ok(bounds)
    }

    async fn read_log_bounds(&self, channel: &ChannelName) -> Result<LogBounds, StoreError> {
        let read = || {
            sqlx::query(
                "SELECT (SELECT last_seq FROM channel_heads WHERE channel = $1) AS head, \
                        (SELECT epoch FROM channel_heads WHERE channel = $1) AS epoch, \
                        (SELECT MIN(seq) FROM events WHERE channel = $1) AS first",
            )
            .bind(channel.as_str())
            .fetch_one(self.pool())
        };
        let mut row = read().await?;
        if row.try_get::<Option<i64>, _>("head")?.is_none() {
            sqlx::query(
                "INSERT INTO channel_heads (channel, last_seq, epoch) VALUES ($1, 0, $2) \
                 ON CONFLICT (channel) DO NOTHING",
            )
            .bind(channel.as_str())
            .bind(new_epoch())
            .execute(self.pool())
            .await?;
            row = read().await?;
        }
        let head = row.try_get::<Option<i64>, _>("head")?.unwrap_or(0) as u64;
        let first = row.try_get::<Option<i64>, _>("first")?.map_or(head + 1, |f| f as u64);
        let epoch = row.try_get::<Option<String>, _>("epoch")?.unwrap_or_default();
        Ok(LogBounds { head, first_retained: first, epoch })
    }

    /// The head seq of each of `channels` that has one (one query).
    pub async fn heads(&self, channels: &[ChannelName]) -> Result<Vec<(ChannelName, u64)>, StoreError> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT channel, last_seq FROM channel_heads WHERE channel IN ({})",
            super::placeholders(1, channels.len())
        );
        let mut query = sqlx::query(&sql);
        for channel in channels {
            query = query.bind(channel.as_str());
        }
        let rows = query.fetch_all(self.pool()).await?;
        let by_name: std::collections::HashMap<&str, &ChannelName> =
            channels.iter().map(|c| (c.as_str(), c)).collect();
        rows.into_iter()
            .map(|row| {
                let name: String = row.try_get("channel")?;
                let head: i64 = row.try_get("last_seq")?;
                let channel = by_name.get(name.as_str()).map(|c| (*c).clone());
                Ok(channel.map(|c| (c, head as u64)))
            })
            .filter_map(Result::transpose)
            .collect()
    }
}
