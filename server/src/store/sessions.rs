//! Connect sessions: one wallet-connect attempt each, owned by a visitor.
//! Every change goes through [`Store::update_session`], a compare-and-set on
//! `version`, so concurrent writers cannot lose each other's updates.

use protocol::connect::SessionStatus;
use sqlx::Row;

use crate::flow::states::{ConnectionState, ProofState};
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
    pub connection_state: Option<ConnectionState>,
    pub wallet_label: Option<String>,
    pub proof_requested: bool,
    pub proof_id: Option<String>,
    pub proof_state: Option<ProofState>,
    pub verification_started: bool,
    /// When the proof request was claimed (ms); a lease the poller may take back.
    pub proof_claimed_at: i64,
    /// When verification was claimed (ms); a lease the poller may take back.
    pub verify_claimed_at: i64,
    /// Verified attributes as a JSON object.
    pub attributes: Option<String>,
}

const COLUMNS: &str = "id, owner, status, created_at, expires_at, updated_at, version, invitation_url, \
     record_id, connection_id, connection_state, wallet_label, proof_requested, proof_id, proof_state, \
     verification_started, proof_claimed_at, verify_claimed_at, attributes";

fn parse_state<T: std::str::FromStr>(row: &AnyRow, column: &str) -> Result<Option<T>, StoreError> {
    let Some(text) = row.try_get::<Option<String>, _>(column)? else { return Ok(None) };
    text.parse().map(Some).map_err(|_| StoreError::Corrupt(format!("{column} `{text}`")))
}

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
        connection_state: parse_state(row, "connection_state")?,
        wallet_label: row.try_get("wallet_label")?,
        proof_requested: row.try_get::<i64, _>("proof_requested")? != 0,
        proof_id: row.try_get("proof_id")?,
        proof_state: parse_state(row, "proof_state")?,
        verification_started: row.try_get::<i64, _>("verification_started")? != 0,
        proof_claimed_at: row.try_get("proof_claimed_at")?,
        verify_claimed_at: row.try_get("verify_claimed_at")?,
        attributes: row.try_get("attributes")?,
    })
}

/// Statuses between connecting and verified: bounded by the share deadline.
const SHARING: [SessionStatus; 3] =
    [SessionStatus::Connecting, SessionStatus::AwaitingShare, SessionStatus::Verifying];

/// How long after creation an open session may stay in each stage.
#[derive(Debug, Clone, Copy)]
pub struct SessionDeadlines {
    /// Connecting, sharing or verifying.
    pub share_ms: i64,
    /// Verified but not registered.
    pub register_ms: i64,
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

    /// Open sessions the stall poller should look at, at most `limit`: those
    /// unchanged since `stall_before` whose poll is due, and those past their
    /// deadline. Soonest-due first, so sessions that backed off (abandoned
    /// pages) never crowd out a live one whose webhook was lost.
    pub async fn due_sessions(
        &self,
        stall_before: i64,
        deadlines: SessionDeadlines,
        limit: usize,
    ) -> Result<Vec<ConnectSession>, StoreError> {
        let now = now_ms();
        let list = |statuses: &[SessionStatus]| {
            statuses.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ")
        };
        let open: Vec<SessionStatus> = SessionStatus::ALL.into_iter().filter(|s| !s.is_terminal()).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM connect_sessions WHERE status IN ({open}) AND \
             ((updated_at < $1 AND next_poll_at <= $2) \
              OR (status = '{scan}' AND expires_at <= $2) \
              OR (status IN ({sharing}) AND created_at <= $3) \
              OR (status = '{verified}' AND created_at <= $4)) \
             ORDER BY next_poll_at, updated_at LIMIT $5",
            open = list(&open),
            scan = SessionStatus::AwaitingScan.as_str(),
            sharing = list(&SHARING),
            verified = SessionStatus::Verified.as_str(),
        );
        let rows = sqlx::query(&sql)
            .bind(stall_before)
            .bind(now)
            .bind(now.saturating_sub(deadlines.share_ms))
            .bind(now.saturating_sub(deadlines.register_ms))
            .bind(limit as i64)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The owner's newest session still showing a QR with at least `min_left_ms`
    /// of validity: reopening the connect page shows it instead of a new one.
    pub async fn open_session_of(
        &self,
        owner: &str,
        min_left_ms: i64,
    ) -> Result<Option<ConnectSession>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connect_sessions WHERE owner = $1 AND status = '{}' \
             AND expires_at > $2 AND invitation_url IS NOT NULL ORDER BY created_at DESC LIMIT 1",
            SessionStatus::AwaitingScan.as_str()
        );
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(now_ms().saturating_add(min_left_ms))
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Gives a session to another owner (the principal issued at registration).
    pub async fn transfer_session(&self, id: &str, new_owner: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE connect_sessions SET owner = $1 WHERE id = $2")
            .bind(new_owner)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
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
                 attributes = $13, proof_claimed_at = $14, verify_claimed_at = $15, next_poll_at = 0, \
                 poll_attempts = 0 WHERE id = $16 AND version = $17",
            )
            .bind(next.status.as_str())
            .bind(next.updated_at)
            .bind(next.version)
            .bind(next.invitation_url.clone())
            .bind(next.record_id.clone())
            .bind(next.connection_id.clone())
            .bind(next.connection_state.map(ConnectionState::as_str))
            .bind(next.wallet_label.clone())
            .bind(i64::from(next.proof_requested))
            .bind(next.proof_id.clone())
            .bind(next.proof_state.map(ProofState::as_str))
            .bind(i64::from(next.verification_started))
            .bind(next.attributes.clone())
            .bind(next.proof_claimed_at)
            .bind(next.verify_claimed_at)
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
