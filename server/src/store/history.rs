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
        let (events_of, heads_of) = of_session_channels(self.backend());
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
            let ids = rows.iter().map(|row| row.try_get::<String, _>("id")).collect::<Result<Vec<_>, _>>()?;
            let ids_json = serde_json::to_string(&ids).map_err(|err| StoreError::Corrupt(err.to_string()))?;
            removed += ids.len() as u64;
            for of_channels in [events_of, heads_of] {
                removed +=
                    sqlx::query(of_channels).bind(ids_json.as_str()).execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            if ids.len() < per_batch as usize {
                break;
            }
        }
        // Those channels start again with a new epoch if ever written again.
        self.heads.forget(ChannelKind::Session);
        Ok(removed)
    }

    async fn delete_aged(&self, aged: AgedRows, before: i64, per_batch: u32) -> Result<u64, StoreError> {
        let sql = aged.delete_older(self.backend());
        let mut removed = 0;
        let mut batches = Batches::default();
        while batches.another().await {
            let deleted = sqlx::query(sql)
                .bind(before)
                .bind(i64::from(per_batch))
                .execute(self.pool())
                .await?
                .rows_affected();
            removed += deleted;
            if deleted < u64::from(per_batch) {
                break;
            }
        }
        Ok(removed)
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

/// The deletes of the events and of the heads of the channels of the sessions
/// named in `$1`, a JSON array of ids: each channel reached through its key.
/// The array's column is named and qualified: an unqualified `id` would be
/// the event's own.
fn of_session_channels(backend: Backend) -> (&'static str, &'static str) {
    match backend {
        Backend::Sqlite => (
            "DELETE FROM events WHERE channel IN (SELECT 'session:' || value FROM json_each($1))",
            "DELETE FROM channel_heads WHERE channel IN (SELECT 'session:' || value FROM json_each($1))",
        ),
        Backend::Postgres => (
            "DELETE FROM events WHERE channel IN \
             (SELECT 'session:' || s.session_id FROM json_array_elements_text($1::json) AS s (session_id))",
            "DELETE FROM channel_heads WHERE channel IN \
             (SELECT 'session:' || s.session_id FROM json_array_elements_text($1::json) AS s (session_id))",
        ),
    }
}

impl AgedRows {
    /// Deletes at most `$2` rows older than `$1` (ms), through the index on
    /// their age. SQLite reaches them by rowid; Postgres by their key.
    fn delete_older(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (Self::Webhooks, Backend::Sqlite) => {
                "DELETE FROM webhooks WHERE rowid IN \
                 (SELECT rowid FROM webhooks WHERE received_at < $1 LIMIT $2)"
            }
            (Self::Webhooks, Backend::Postgres) => {
                "DELETE FROM webhooks WHERE id IN \
                 (SELECT id FROM webhooks WHERE received_at < $1 LIMIT $2)"
            }
            (Self::RevokedSignIns, Backend::Sqlite) => {
                "DELETE FROM sign_ins WHERE rowid IN \
                 (SELECT rowid FROM sign_ins WHERE revoked_at < $1 LIMIT $2)"
            }
            (Self::RevokedSignIns, Backend::Postgres) => {
                "DELETE FROM sign_ins WHERE id IN \
                 (SELECT id FROM sign_ins WHERE revoked_at < $1 LIMIT $2)"
            }
            (Self::DashboardOps, Backend::Sqlite) => {
                "DELETE FROM dashboard_ops WHERE rowid IN \
                 (SELECT rowid FROM dashboard_ops WHERE created_at < $1 LIMIT $2)"
            }
            (Self::DashboardOps, Backend::Postgres) => {
                "DELETE FROM dashboard_ops WHERE (dashboard_id, principal, client_id, op_seq) IN \
                 (SELECT dashboard_id, principal, client_id, op_seq FROM dashboard_ops \
                  WHERE created_at < $1 LIMIT $2)"
            }
        }
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
        let (events_of, heads_of) = of_session_channels(Backend::Sqlite);
        let ids = "'[\"a\",\"b\"]'";
        let events = sqlite_plan(&events_of.replace("$1", ids), &[]).await;
        assert!(
            events.iter().any(|step| step.starts_with("SEARCH events USING") && step.contains("(channel=?)")),
            "the log's key: {events:?}"
        );
        let heads = sqlite_plan(&heads_of.replace("$1", ids), &[]).await;
        assert!(
            heads
                .iter()
                .any(|step| step.starts_with("SEARCH channel_heads USING") && step.contains("(channel=?)")),
            "the heads' key: {heads:?}"
        );
        // json_each is a table-valued function: SQLite "scans" the array.
        assert!(
            !events.iter().chain(&heads).any(|step| step == "SCAN events" || step == "SCAN channel_heads")
        );
    }

    #[tokio::test]
    async fn aged_rows_are_found_by_their_age() {
        for (aged, index) in [
            (AgedRows::Webhooks, "webhooks_by_age (received_at<?)"),
            (AgedRows::RevokedSignIns, "sign_ins_by_revocation (revoked_at<?)"),
            (AgedRows::DashboardOps, "dashboard_ops_by_age (created_at<?)"),
        ] {
            let plan = sqlite_plan(aged.delete_older(Backend::Sqlite), &[1000, 100]).await;
            assert!(plan.iter().any(|step| step.contains(index)), "{aged:?} through {index}: {plan:?}");
            assert_no_scan(&plan);
        }
    }
}
