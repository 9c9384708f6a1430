//! Retention of the event log: each channel keeps its newest events up to a
//! count, and nothing older than an age. Heads stay, so a seq is never handed
//! out twice.
//!
//! On SQLite every delete holds the database's one write lock, and the log
//! writer's appends wait behind it. So retention deletes in batches of at most
//! [`RETENTION_BATCH`] events, each a statement of its own, and reaches the
//! events to delete through indexes: a pass costs the channels and the events
//! removed, never a scan of the whole log (docs/PERFORMANCE.md, step 32).

use super::{Backend, Store, StoreError, now_ms};

/// The most events one delete removes. On a log of a million events (SQLite
/// 3.40, this machine) a batch of 1,000 held the write lock 8 to 38 ms, one
/// of 2,000 up to 83 ms, and 188,000 in one statement 1.4 s. A first pass
/// after a long stop, or after the limits were lowered, may have a million
/// to remove: at that rate one statement would hold the lock about 7 s, past
/// the 5 s that an append waits for it before failing.
pub const RETENTION_BATCH: u32 = 1_000;

impl Store {
    /// Deletes events beyond the newest `keep_per_channel` of each channel and
    /// events older than `max_age_ms`, in batches of [`RETENTION_BATCH`].
    /// Returns how many events were removed.
    pub async fn apply_retention(&self, keep_per_channel: u64, max_age_ms: i64) -> Result<u64, StoreError> {
        self.apply_retention_in_batches(keep_per_channel, max_age_ms, RETENTION_BATCH).await
    }

    /// [`Store::apply_retention`] with batches of at most `batch` events.
    pub async fn apply_retention_in_batches(
        &self,
        keep_per_channel: u64,
        max_age_ms: i64,
        batch: u32,
    ) -> Result<u64, StoreError> {
        let batch = batch.max(1);
        let passes = [
            (beyond_the_newest(self.backend()), keep_per_channel.min(i64::MAX as u64) as i64),
            (older_than(self.backend()), now_ms().saturating_sub(max_age_ms)),
        ];
        let mut removed = 0;
        for (statement, bound) in passes {
            loop {
                let deleted = sqlx::query(statement)
                    .bind(bound)
                    .bind(i64::from(batch))
                    .execute(self.pool())
                    .await?
                    .rows_affected();
                removed += deleted;
                if deleted < u64::from(batch) {
                    break;
                }
            }
        }
        // Here rather than on a timer of its own: it runs every minute or so.
        self.heads.sweep();
        Ok(removed)
    }
}

/// Deletes at most `$2` of the events beyond their channel's newest `$1`,
/// reaching them channel by channel through the log's key. Asked per event
/// ("is this one beyond its channel's newest?"), SQLite scanned the whole log
/// under the write lock: 650 ms for a million events with nothing to delete.
/// `CROSS JOIN` keeps SQLite's planner from turning the loop around.
fn beyond_the_newest(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "DELETE FROM events WHERE rowid IN \
             (SELECT e.rowid FROM channel_heads h CROSS JOIN events e \
              ON e.channel = h.channel AND e.seq <= h.last_seq - $1 LIMIT $2)"
        }
        Backend::Postgres => {
            "DELETE FROM events WHERE (channel, seq) IN \
             (SELECT e.channel, e.seq FROM channel_heads h JOIN events e \
              ON e.channel = h.channel AND e.seq <= h.last_seq - $1 LIMIT $2)"
        }
    }
}

/// Deletes at most `$2` of the events stored before `$1` (ms), through the
/// index on `ts`.
fn older_than(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE ts < $1 LIMIT $2)"
        }
        Backend::Postgres => {
            "DELETE FROM events WHERE (channel, seq) IN \
             (SELECT channel, seq FROM events WHERE ts < $1 LIMIT $2)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How SQLite plans `sql`, one line per step.
    async fn sqlite_plan(sql: &str) -> Vec<String> {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        crate::store::SQLITE_MIGRATIONS.run(&pool).await.unwrap();
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
            .bind(1000_i64)
            .bind(i64::from(RETENTION_BATCH))
            .fetch_all(&pool)
            .await
            .unwrap();
        rows.into_iter().map(|(.., detail)| detail).collect()
    }

    #[tokio::test]
    async fn retention_by_count_reaches_events_through_each_channel_s_key() {
        let plan = sqlite_plan(beyond_the_newest(Backend::Sqlite)).await;
        assert!(plan.iter().any(|step| step == "SCAN h"), "one pass over the heads: {plan:?}");
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH e USING") && step.contains("(channel=? AND seq<?)")),
            "each channel's old events found by the key: {plan:?}"
        );
        assert!(!plan.iter().any(|step| step.starts_with("SCAN e")), "never a scan of the log: {plan:?}");
    }

    #[tokio::test]
    async fn retention_by_age_reads_the_index_on_ts() {
        let plan = sqlite_plan(older_than(Backend::Sqlite)).await;
        assert!(plan.iter().any(|step| step.contains("events_by_ts (ts<?)")), "through the index: {plan:?}");
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN events")),
            "never a scan of the log: {plan:?}"
        );
    }
}
