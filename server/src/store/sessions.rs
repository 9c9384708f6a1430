//! Connect sessions: one wallet-connect attempt each, owned by a visitor.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// A connect session as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectSession {
    pub id: String,
    #[serde(skip)]
    pub owner: String,
    pub status: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    /// Creates a session owned by `owner` that expires after `ttl_ms`.
    pub async fn create_connect_session(
        &self,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<ConnectSession, StoreError> {
        let now = now_ms();
        let session = ConnectSession {
            id: uuid::Uuid::new_v4().simple().to_string(),
            owner: owner.to_owned(),
            status: "awaiting_scan".to_owned(),
            created_at: now,
            expires_at: now + ttl_ms,
        };
        sqlx::query(
            "INSERT INTO connect_sessions (id, owner, status, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.id)
        .bind(&session.owner)
        .bind(&session.status)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(self.pool())
        .await?;
        Ok(session)
    }

    pub async fn connect_session(&self, id: &str) -> Result<Option<ConnectSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id, owner, status, created_at, expires_at FROM connect_sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(ConnectSession {
                id: row.try_get("id")?,
                owner: row.try_get("owner")?,
                status: row.try_get("status")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }
}
