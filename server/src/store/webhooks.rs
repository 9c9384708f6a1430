//! Received webhooks, stored before anything acts on them.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// What became of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored; not yet correlated.
    Received,
    /// Correlated and applied to its session.
    Applied,
    /// No session matches it; kept for inspection, never guessed.
    Unmatched,
    /// Its session was already finished, or the state was not newer.
    Ignored,
    /// Not a connection or proof record.
    Unclassified,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Applied => "applied",
            Self::Unmatched => "unmatched",
            Self::Ignored => "ignored",
            Self::Unclassified => "unclassified",
        }
    }
}

impl Store {
    /// Stores a webhook unless the same (kind, record, state) was stored before.
    /// Returns the new row's id, or `None` for a duplicate.
    pub async fn insert_webhook(
        &self,
        kind: &str,
        record_id: &str,
        state: &str,
        body: &str,
    ) -> Result<Option<String>, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let inserted = sqlx::query(
            "INSERT INTO webhooks (id, received_at, kind, record_id, state, outcome, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, record_id, state) DO NOTHING",
        )
        .bind(&id)
        .bind(now_ms())
        .bind(kind)
        .bind(record_id)
        .bind(state)
        .bind(Outcome::Received.as_str())
        .bind(body)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok((inserted == 1).then_some(id))
    }

    pub async fn set_webhook_outcome(
        &self,
        id: &str,
        outcome: Outcome,
        session_id: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhooks SET outcome = $1, session_id = $2 WHERE id = $3")
            .bind(outcome.as_str())
            .bind(session_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// How many webhooks ended with each outcome.
    pub async fn webhook_outcomes(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT outcome, COUNT(*) AS n FROM webhooks GROUP BY outcome ORDER BY outcome")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(|r| Ok((r.try_get("outcome")?, r.try_get("n")?))).collect()
    }
}
