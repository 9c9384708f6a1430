//! Retention of what is not the event log: finished connect sessions (with
//! their channels' heads and events), stored webhooks, revoked sign-ins and
//! dashboard op answers.
//!
//! As with the log's own retention (`retention.rs`), every delete holds
//! SQLite's one write lock, and appends wait behind it. So each job deletes in
//! batches, each a statement (a session batch: a transaction) of its own, with
//! [`Batches`]' pause after it, and finds its rows through an index on their
//! age: a batch costs the rows it removes, never a read of a whole table
//! (docs/PERFORMANCE.md, step 33).

use protocol::ChannelKind;
use protocol::connect::SessionStatus;
use sqlx::Row;

use super::retention::{Batches, RETENTION_BATCH};
use super::{Backend, Store, StoreError, now_ms};

/// Finished sessions per batch. Each takes its channel's head and events with
/// it (a flow that reached registration wrote about ten), so a batch removes
/// about as many rows as one of the log's.
pub const SESSIONS_PER_BATCH: u32 = 100;

/// A table whose rows go by age alone.
#[derive(Debug, Clone, Copy)]
enum AgedRows {
    Webhooks,
    RevokedSignIns,
    DashboardOps,
}

impl Store {
    /// Deletes what no one can use any more, last touched before `before` (ms
    /// since the epoch): finished sessions with their channels' heads and
    /// events (nobody may subscribe to a deleted session's channel, so its seqs
    /// cannot be handed out again to a reader), stored webhooks, and revoked
    /// sign-ins. Returns how many rows went.
    pub async fn forget_history(&self, before: i64) -> Result<u64, StoreError> {
        self.forget_history_in_batches(before, SESSIONS_PER_BATCH, RETENTION_BATCH).await
    }

    /// [`Store::forget_history`] with at most `sessions` sessions and `rows`
    /// webhooks or sign-ins a batch.
    pub async fn forget_history_in_batches(
        &self,
        before: i64,
        sessions: u32,
        rows: u32,
    ) -> Result<u64, StoreError> {
        let mut removed = self.forget_finished_sessions(before, sessions.max(1)).await?;
        for aged in [AgedRows::Webhooks, AgedRows::RevokedSignIns] {
            removed += self.delete_aged(aged, before, rows.max(1)).await?;
        }
        Ok(removed)
    }

    /// Forgets the answers of ops older than `max_age_ms` (a client resending
    /// after that long gets a fresh answer, normally a conflict).
    pub async fn trim_dashboard_ops(&self, max_age_ms: i64) -> Result<u64, StoreError> {
        self.trim_dashboard_ops_in_batches(max_age_ms, RETENTION_BATCH).await
    }

    /// [`Store::trim_dashboard_ops`] with at most `rows` answers a batch.
    pub async fn trim_dashboard_ops_in_batches(&self, max_age_ms: i64, rows: u32) -> Result<u64, StoreError> {
        self.delete_aged(AgedRows::DashboardOps, now_ms().saturating_sub(max_age_ms), rows.max(1)).await
    }

    /// A batch is one transaction: a write to one of its channels lands either
    /// before it (and goes with its log) or after it (a new epoch), never
    /// between the events' delete and the head's, which would leave events
    /// with no head.
    async fn forget_finished_sessions(&self, before: i64, per_batch: u32) -> Result<u64, StoreError> {
        let finished_before = finished_before();
        let mut removed = 0;
        let mut batches = Batches::default();
        while batches.another().await {
            let mut tx = self.pool().begin().await?;
            // First statement a write, so SQLite takes the write lock at once
            // rather than on a later statement, where it could find the
            // transaction's snapshot stale and fail.
            let rows = sqlx::query(&finished_before)
                .bind(before)
                .bind(i64::from(per_batch))
                .fetch_all(&mut *tx)
                .await?;
            let channels = rows
                .iter()
                .map(|row| row.try_get::<String, _>("id").map(|id| format!("session:{id}")))
                .collect::<Result<Vec<_>, _>>()?;
            removed += channels.len() as u64;
            if !channels.is_empty() {
                for table in ["events", "channel_heads"] {
                    let sql = of_channels(table, channels.len());
                    let mut delete = sqlx::query(&sql);
                    for channel in &channels {
                        delete = delete.bind(channel.as_str());
                    }
                    removed += delete.execute(&mut *tx).await?.rows_affected();
                }
            }
            tx.commit().await?;
            if !channels.is_empty() {
                // Those channels start again with a new epoch if ever written again.
                self.heads.forget(ChannelKind::Session);
            }
            if channels.len() < per_batch as usize {
                break;
            }
        }
        let orphans = orphan_session_heads(self.backend());
        Ok(removed + self.delete_in_batches(orphans, None, per_batch).await?)
    }

    async fn delete_aged(&self, aged: AgedRows, before: i64, per_batch: u32) -> Result<u64, StoreError> {
        self.delete_in_batches(&aged.delete_older(self.backend()), Some(before), per_batch).await
    }
}

/// Deletes at most `$2` finished sessions last touched before `$1`, and names
/// them. The index on `(status, updated_at)` holds them in a range for each
/// finished status.
fn finished_before() -> String {
    let finished: Vec<&str> =
        SessionStatus::ALL.iter().filter(|s| s.is_terminal()).map(|s| s.as_str()).collect();
    format!(
        "DELETE FROM connect_sessions WHERE id IN \
         (SELECT id FROM connect_sessions WHERE status IN ('{}') AND updated_at < $1 LIMIT $2) \
         RETURNING id",
        finished.join("', '")
    )
}

/// Deletes the rows of `table` (the events or the heads) of `count` channels
/// named in `$1` to `$count`, each reached through its key. (Placeholders, not
/// an array: Postgres estimates an array's length, and may then plan to read
/// the whole log.)
fn of_channels(table: &str, count: usize) -> String {
    format!("DELETE FROM {table} WHERE channel IN ({})", super::placeholders(1, count))
}

/// Deletes at most `$1` heads of `session:` channels whose session is gone and
/// that hold no events. A read of a channel's bounds makes its head, and a
/// read that passed the access check just before its session was forgotten
/// makes one after. They are found through the key's range of `session:`
/// channels (SQLite compares bytes; under Postgres' collation a prefix is
/// safer), and each one's session and events through their keys.
fn orphan_session_heads(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "DELETE FROM channel_heads WHERE rowid IN \
             (SELECT h.rowid FROM channel_heads h \
              WHERE h.channel >= 'session:' AND h.channel < 'session;' \
              AND NOT EXISTS (SELECT 1 FROM connect_sessions s WHERE s.id = substr(h.channel, 9)) \
              AND NOT EXISTS (SELECT 1 FROM events e WHERE e.channel = h.channel) LIMIT $1)"
        }
        Backend::Postgres => {
            "DELETE FROM channel_heads WHERE channel IN \
             (SELECT h.channel FROM channel_heads h WHERE h.channel LIKE 'session:%' \
              AND NOT EXISTS (SELECT 1 FROM connect_sessions s WHERE s.id = substr(h.channel, 9)) \
              AND NOT EXISTS (SELECT 1 FROM events e WHERE e.channel = h.channel) LIMIT $1)"
        }
    }
}

impl AgedRows {
    /// Deletes at most `$2` rows older than `$1` (ms), through the index on
    /// their age. SQLite reaches them by rowid; Postgres by their key.
    fn delete_older(self, backend: Backend) -> String {
        let (table, age, key, key_columns) = match self {
            Self::Webhooks => ("webhooks", "received_at", "id", "id"),
            Self::RevokedSignIns => ("sign_ins", "revoked_at", "id", "id"),
            Self::DashboardOps => (
                "dashboard_ops",
                "created_at",
                "(dashboard_id, principal, client_id, op_seq)",
                "dashboard_id, principal, client_id, op_seq",
            ),
        };
        let (key, key_columns) = match backend {
            Backend::Sqlite => ("rowid", "rowid"),
            Backend::Postgres => (key, key_columns),
        };
        format!(
            "DELETE FROM {table} WHERE {key} IN (SELECT {key_columns} FROM {table} WHERE {age} < $1 LIMIT $2)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::retention::tests::sqlite_plan;

    /// No step of `plan` reads the whole of a table.
    fn assert_no_scan(plan: &[String]) {
        assert!(!plan.iter().any(|step| step.starts_with("SCAN")), "a table read whole: {plan:?}");
    }

    #[tokio::test]
    async fn finished_sessions_are_found_by_their_age() {
        let plan = sqlite_plan(&finished_before(), &[1000, 100]).await;
        assert!(
            plan.iter()
                .any(|step| step.contains("connect_sessions_by_status_age (status=? AND updated_at<?)")),
            "through the index on status and age: {plan:?}"
        );
        assert_no_scan(&plan);
    }

    #[tokio::test]
    async fn a_session_s_events_and_head_are_reached_by_their_channel() {
        for table in ["events", "channel_heads"] {
            let plan = sqlite_plan(&of_channels(table, 2), &[]).await;
            assert!(
                plan.iter()
                    .any(|step| step.starts_with(&format!("SEARCH {table} USING"))
                        && step.contains("(channel=?)")),
                "{table}' key: {plan:?}"
            );
            assert_no_scan(&plan);
        }
    }

    #[tokio::test]
    async fn orphan_heads_are_found_in_the_range_of_session_channels() {
        let plan = sqlite_plan(orphan_session_heads(Backend::Sqlite), &[100]).await;
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH h USING") && step.contains("(channel>? AND channel<?)")),
            "the session channels' range of the heads' key: {plan:?}"
        );
        assert!(
            plan.iter().any(|step| step.starts_with("SEARCH s USING") && step.contains("(id=?)")),
            "{plan:?}"
        );
        assert!(
            plan.iter().any(|step| step.starts_with("SEARCH e USING") && step.contains("(channel=?)")),
            "{plan:?}"
        );
        assert_no_scan(&plan);
    }

    #[tokio::test]
    async fn aged_rows_are_found_by_their_age() {
        for (aged, index) in [
            (AgedRows::Webhooks, "webhooks_by_age (received_at<?)"),
            (AgedRows::RevokedSignIns, "sign_ins_by_revocation (revoked_at<?)"),
            (AgedRows::DashboardOps, "dashboard_ops_by_age (created_at<?)"),
        ] {
            let plan = sqlite_plan(&aged.delete_older(Backend::Sqlite), &[1000, 100]).await;
            assert!(plan.iter().any(|step| step.contains(index)), "{aged:?} through {index}: {plan:?}");
            assert_no_scan(&plan);
        }
    }
}
