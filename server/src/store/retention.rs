//! Retention of the event log: each channel keeps its newest events up to a
//! count, and nothing older than an age. Heads stay, so a seq is never handed
//! out twice.
//!
//! On SQLite every delete holds the database's one write lock, and the log
//! writer's appends wait behind it. So retention deletes in batches of at most
//! [`RETENTION_BATCH`] events, each a statement of its own with a pause after
//! it, and reaches the events to delete through the log's key (by count) or
//! from the log's first rows (by age): a batch costs the events it removes
//! and the channels it passes, never a scan of the whole log
//! (docs/PERFORMANCE.md, steps 32 and 36).

use std::time::Duration;

use sqlx::Row;

use super::{Backend, Store, StoreError, now_ms};

/// The most events one delete removes. On a log of a million events (SQLite
/// 3.40 through Python's `sqlite3` on this machine; the server bundles a
/// newer one) a batch of 1,000 held the write lock 8 to 38 ms, one of 2,000
/// up to 83 ms, and 188,000 in one statement 1.4 s. A first pass after a long
/// stop, or after the limits were lowered, may have a million to remove: at
/// that rate one statement would hold the lock about 7 s, past the 5 s that
/// an append waits for it before failing.
pub const RETENTION_BATCH: u32 = 1_000;

/// Between two batches. SQLite hands the lock to no one in particular: a
/// writer waiting for it sleeps and tries again, at most 100 ms apart. Without
/// a pause longer than that, the next batch would take the lock first, again
/// and again.
const PAUSE_BETWEEN_BATCHES: Duration = Duration::from_millis(110);

/// The most batches of each kind in one pass (a million events). What is left
/// waits for the next pass, so a pass ends, and the jobs after it run, even
/// while publishing pushes events out faster than it removes them.
const MAX_BATCHES_PER_PASS: u32 = 1_000;

/// The batches of one kind in a pass: at most [`MAX_BATCHES_PER_PASS`], each
/// after the first behind [`PAUSE_BETWEEN_BATCHES`].
#[derive(Default)]
pub(super) struct Batches {
    started: u32,
}

impl Batches {
    /// Whether another batch may run; it may once this returns.
    pub(super) async fn another(&mut self) -> bool {
        if self.started == MAX_BATCHES_PER_PASS {
            return false;
        }
        if self.started > 0 {
            tokio::time::sleep(PAUSE_BETWEEN_BATCHES).await;
        }
        self.started += 1;
        true
    }
}

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
        let keep = keep_per_channel.min(i64::MAX as u64) as i64;
        let removed = self.remove_beyond_the_newest(keep, batch).await?
            + self.remove_older_than(max_age_ms, batch).await?;
        // Here rather than on a timer of its own: it runs every minute or so.
        self.heads.sweep();
        Ok(removed)
    }

    /// Each batch goes on from the channel where the one before stopped (the
    /// channels in order), so no batch passes again the channels done.
    async fn remove_beyond_the_newest(&self, keep: i64, batch: u32) -> Result<u64, StoreError> {
        let mut removed = 0;
        let mut from = String::new();
        let mut batches = Batches::default();
        while batches.another().await {
            let rows = sqlx::query(beyond_the_newest(self.backend()))
                .bind(keep)
                .bind(i64::from(batch))
                .bind(from.as_str())
                .fetch_all(self.pool())
                .await?;
            removed += rows.len() as u64;
            if rows.len() < batch as usize {
                break;
            }
            for row in &rows {
                let channel: String = row.try_get("channel")?;
                if channel > from {
                    from = channel;
                }
            }
        }
        Ok(removed)
    }

    /// The oldest events go first, so each batch starts where the log (or,
    /// on Postgres, the index on `ts`) starts.
    async fn remove_older_than(&self, max_age_ms: i64, batch: u32) -> Result<u64, StoreError> {
        let before = now_ms().saturating_sub(max_age_ms);
        self.delete_in_batches(older_than(self.backend()), Some(before), batch).await
    }

    /// Runs `sql`, a delete of at most its last parameter's rows (after
    /// `before`, when given), in [`Batches`] until one comes back short.
    pub(super) async fn delete_in_batches(
        &self,
        sql: &str,
        before: Option<i64>,
        per_batch: u32,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        let mut batches = Batches::default();
        while batches.another().await {
            let mut delete = sqlx::query(sql);
            if let Some(before) = before {
                delete = delete.bind(before);
            }
            let deleted = delete.bind(i64::from(per_batch)).execute(self.pool()).await?.rows_affected();
            removed += deleted;
            if deleted < u64::from(per_batch) {
                break;
            }
        }
        Ok(removed)
    }
}

/// Deletes at most `$2` of the events beyond their channel's newest `$1`, from
/// the channel `$3` on, and names each one's channel. It reaches them channel
/// by channel through the log's key. Asked per event ("is this one beyond its
/// channel's newest?"), SQLite scanned the whole log under the write lock:
/// 650 ms for a million events with nothing to delete. `CROSS JOIN` keeps
/// SQLite's planner from turning the loop around.
fn beyond_the_newest(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "DELETE FROM events WHERE rowid IN \
             (SELECT e.rowid FROM channel_heads h CROSS JOIN events e \
              ON e.channel = h.channel AND e.seq <= h.last_seq - $1 \
              WHERE h.channel >= $3 ORDER BY h.channel LIMIT $2) \
             RETURNING channel"
        }
        Backend::Postgres => {
            "DELETE FROM events WHERE (channel, seq) IN \
             (SELECT e.channel, e.seq FROM channel_heads h JOIN events e \
              ON e.channel = h.channel AND e.seq <= h.last_seq - $1 \
              WHERE h.channel >= $3 ORDER BY h.channel LIMIT $2) \
             RETURNING channel"
        }
    }
}

/// Deletes at most `$2` of the events stored before `$1` (ms).
///
/// SQLite has no index on `ts` (migration 0010): it reads the log's first
/// `$2` rows in the order they were stored and deletes those older than `$1`.
/// SQLite stores one write at a time, and each event is stamped as its
/// writer takes the write lock (the log writer: just before; the
/// transactions of notifications and conversations: just after), so the log
/// is in time order to within one wait for the lock, and its oldest events
/// are its first rows. A batch that meets one young enough to keep comes back
/// short and ends the pass. An event stored after one stamped later (that
/// wait, or a clock set back) waits for it: removed later, never earlier than
/// its own age says. Postgres reads its index on `ts`.
fn older_than(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "DELETE FROM events WHERE rowid IN \
             (SELECT rowid FROM (SELECT rowid, ts FROM events ORDER BY rowid LIMIT $2) WHERE ts < $1)"
        }
        Backend::Postgres => {
            "DELETE FROM events WHERE (channel, seq) IN \
             (SELECT channel, seq FROM events WHERE ts < $1 LIMIT $2)"
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// How SQLite plans `sql` with `binds`, one line per step.
    pub(in crate::store) async fn sqlite_plan(sql: &str, binds: &[i64]) -> Vec<String> {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        crate::store::SQLITE_MIGRATIONS.run(&pool).await.unwrap();
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
        for bind in binds {
            query = query.bind(*bind);
        }
        let rows = query.fetch_all(&pool).await.unwrap();
        rows.into_iter().map(|(.., detail)| detail).collect()
    }

    #[tokio::test]
    async fn retention_by_count_reaches_events_through_each_channel_s_key() {
        let sql = beyond_the_newest(Backend::Sqlite).replace("$3", "'feed:a'");
        let plan = sqlite_plan(&sql, &[1000, i64::from(RETENTION_BATCH)]).await;
        assert!(
            plan.iter().any(|step| step.starts_with("SEARCH h USING INDEX") && step.contains("(channel>?)")),
            "the heads in order, from where the last batch stopped: {plan:?}"
        );
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH e USING") && step.contains("(channel=? AND seq<?)")),
            "each channel's old events found by the key: {plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN e") || step.starts_with("SCAN events")),
            "never a scan of the log: {plan:?}"
        );
    }

    #[tokio::test]
    async fn retention_by_age_reads_the_log_from_its_start_in_stored_order() {
        let plan = sqlite_plan(older_than(Backend::Sqlite), &[1000, i64::from(RETENTION_BATCH)]).await;
        assert!(plan.iter().any(|step| step == "SCAN events"), "the log from its first row: {plan:?}");
        // In rowid order the LIMIT ends the read after a batch's rows; a sort
        // would read the whole log first.
        assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "no sort: {plan:?}");
        assert!(!plan.iter().any(|step| step.contains("USING INDEX")), "no index on ts left: {plan:?}");
    }
}
