//! Connect sessions: one wallet-connect attempt each, owned by a visitor.
//! Every change goes through [`Store::update_session`], a compare-and-set on
//! `version`, so concurrent writers cannot lose each other's updates.

use protocol::connect::SessionStatus;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now_ms};

/// A connect session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSession {
    pub id: String,
    pub owner: String,
    pub status: SessionStatus,
    pub created_at: i64,
    pub expires_at: i64,
    pub updated_at: i64,
    pub version: i64,
    pub invitation_url: Option<String>,
    /// The platform's out-of-band record id: how connection webhooks find us.
    pub record_id: Option<String>,
    pub connection_id: Option<String>,
    pub connection_state: Option<String>,
    pub wallet_label: Option<String>,
    pub proof_requested: bool,
    pub proof_id: Option<String>,
    pub proof_state: Option<String>,
    pub verification_started: bool,
    /// Verified attributes as a JSON object.
    pub attributes: Option<String>,
}

const COLUMNS: &str = "id, owner, status, created_at, expires_at, updated_at, version, invitation_url, \
     record_id, connection_id, connection_state, wallet_label, proof_requested, proof_id, proof_state, \
     verification_started, attributes";

fn from_row(row: &AnyRow) -> Result<ConnectSession, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(ConnectSession {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        status: SessionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("session status `{status}`")))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("version")?,
        invitation_url: row.try_get("invitation_url")?,
        record_id: row.try_get("record_id")?,
        connection_id: row.try_get("connection_id")?,
        connection_state: row.try_get("connection_state")?,
        wallet_label: row.try_get("wallet_label")?,
        proof_requested: row.try_get::<i64, _>("proof_requested")? != 0,
        proof_id: row.try_get("proof_id")?,
        proof_state: row.try_get("proof_state")?,
        verification_started: row.try_get::<i64, _>("verification_started")? != 0,
        attributes: row.try_get("attributes")?,
    })
}

/// How many compare-and-set attempts an update makes before giving up; each
/// failure means another writer just changed the row, so a few always suffice.
const UPDATE_ATTEMPTS: usize = 8;

impl Store {
    /// Creates a session owned by `owner` that expires after `ttl_ms`.
    pub async fn create_connect_session(
        &self,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<ConnectSession, StoreError> {
        let now = now_ms();
        let id = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query(
            "INSERT INTO connect_sessions (id, owner, status, created_at, expires_at, updated_at, version, \
             proof_requested, verification_started) VALUES ($1, $2, $3, $4, $5, $4, 0, 0, 0)",
        )
        .bind(&id)
        .bind(owner)
        .bind(SessionStatus::AwaitingScan.as_str())
        .bind(now)
        .bind(now + ttl_ms)
        .execute(self.pool())
        .await?;
        self.connect_session(&id).await?.ok_or_else(|| StoreError::Corrupt("session vanished".into()))
    }

    pub async fn connect_session(&self, id: &str) -> Result<Option<ConnectSession>, StoreError> {
        self.session_where("id = $1", id).await
    }

    /// The session a platform out-of-band record id belongs to.
    pub async fn session_by_record(&self, record_id: &str) -> Result<Option<ConnectSession>, StoreError> {
        self.session_where("record_id = $1", record_id).await
    }

    pub async fn session_by_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectSession>, StoreError> {
        self.session_where("connection_id = $1", connection_id).await
    }

    pub async fn session_by_proof(&self, proof_id: &str) -> Result<Option<ConnectSession>, StoreError> {
        self.session_where("proof_id = $1", proof_id).await
    }

    async fn session_where(
        &self,
        condition: &str,
        value: &str,
    ) -> Result<Option<ConnectSession>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM connect_sessions WHERE {condition}");
        let row = sqlx::query(&sql).bind(value).fetch_optional(self.pool()).await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Open sessions not updated since `before`, oldest first, at most `limit`.
    /// Open sessions unchanged since `before` whose poll is due (or whose QR
    /// has expired), oldest first, at most `limit`.
    pub async fn stalled_sessions(
        &self,
        before: i64,
        limit: usize,
    ) -> Result<Vec<ConnectSession>, StoreError> {
        let terminal: Vec<&str> =
            SessionStatus::ALL.iter().filter(|s| s.is_terminal()).map(|s| s.as_str()).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM connect_sessions WHERE status NOT IN ('{}') AND updated_at < $1 \
             AND (next_poll_at <= $3 OR (status = '{}' AND expires_at <= $3)) \
             ORDER BY updated_at LIMIT $2",
            terminal.join("', '"),
            SessionStatus::AwaitingScan.as_str(),
        );
        let rows =
            sqlx::query(&sql).bind(before).bind(limit as i64).bind(now_ms()).fetch_all(self.pool()).await?;
        rows.iter().map(from_row).collect()
    }

    /// Deletes finished sessions and stored webhooks last touched before
    /// `before` (ms since the epoch). Returns how many rows went.
    pub async fn forget_history(&self, before: i64) -> Result<u64, StoreError> {
        let terminal: Vec<&str> =
            SessionStatus::ALL.iter().filter(|s| s.is_terminal()).map(|s| s.as_str()).collect();
        let sql = format!(
            "DELETE FROM connect_sessions WHERE status IN ('{}') AND updated_at < $1",
            terminal.join("', '")
        );
        let sessions = sqlx::query(&sql).bind(before).execute(self.pool()).await?.rows_affected();
        let webhooks = sqlx::query("DELETE FROM webhooks WHERE received_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(sessions + webhooks)
    }

    /// Puts off the next poll of a session the platform had no news about:
    /// `base_ms` doubled per fruitless poll, at most `cap_ms`.
    pub async fn poll_later(&self, id: &str, base_ms: i64, cap_ms: i64) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT poll_attempts FROM connect_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(()) };
        let attempts: i64 = row.try_get("poll_attempts")?;
        let wait = base_ms.saturating_mul(1 << attempts.clamp(0, 20)).min(cap_ms);
        sqlx::query("UPDATE connect_sessions SET poll_attempts = $1, next_poll_at = $2 WHERE id = $3")
            .bind(attempts + 1)
            .bind(now_ms() + wait)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Applies `change` to the session's current row and stores the result if
    /// nobody changed the row meanwhile, retrying on conflict. `change` returns
    /// false to leave the row alone. Returns the stored session, or `None` when
    /// `change` declined or the session does not exist.
    pub async fn update_session(
        &self,
        id: &str,
        mut change: impl FnMut(&mut ConnectSession) -> bool,
    ) -> Result<Option<ConnectSession>, StoreError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(current) = self.connect_session(id).await? else { return Ok(None) };
            let mut next = current.clone();
            if !change(&mut next) || next == current {
                return Ok(None);
            }
            next.updated_at = now_ms();
            next.version = current.version + 1;
            let stored = sqlx::query(
                "UPDATE connect_sessions SET status = $1, updated_at = $2, version = $3, invitation_url = $4, \
                 record_id = $5, connection_id = $6, connection_state = $7, wallet_label = $8, \
                 proof_requested = $9, proof_id = $10, proof_state = $11, verification_started = $12, \
                 attributes = $13, next_poll_at = 0, poll_attempts = 0 WHERE id = $14 AND version = $15",
            )
            .bind(next.status.as_str())
            .bind(next.updated_at)
            .bind(next.version)
            .bind(next.invitation_url.clone())
            .bind(next.record_id.clone())
            .bind(next.connection_id.clone())
            .bind(next.connection_state.clone())
            .bind(next.wallet_label.clone())
            .bind(i64::from(next.proof_requested))
            .bind(next.proof_id.clone())
            .bind(next.proof_state.clone())
            .bind(i64::from(next.verification_started))
            .bind(next.attributes.clone())
            .bind(id)
            .bind(current.version)
            .execute(self.pool())
            .await?
            .rows_affected();
            if stored == 1 {
                return Ok(Some(next));
            }
        }
        Err(StoreError::Corrupt(format!("session {id}: too many concurrent updates")))
    }
}
