//! Registered people.

use protocol::connect::UserView;
use sqlx::Row;

use super::{Store, StoreError, now_ms};

impl Store {
    /// Creates the user `id`; false when that id or that session already has a user.
    pub async fn create_user(
        &self,
        id: &str,
        display_name: &str,
        email: &str,
        attributes_json: &str,
        session_id: &str,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO users (id, display_name, email, attributes, session_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(display_name)
        .bind(email)
        .bind(attributes_json)
        .bind(session_id)
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    pub async fn user(&self, id: &str) -> Result<Option<UserView>, StoreError> {
        let row =
            sqlx::query("SELECT id, display_name, email, attributes, created_at FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        let Some(row) = row else { return Ok(None) };
        let attributes: String = row.try_get("attributes")?;
        Ok(Some(UserView {
            id: row.try_get("id")?,
            display_name: row.try_get("display_name")?,
            email: row.try_get("email")?,
            attributes: parse_attributes(&attributes)?,
            registered_at: row.try_get("created_at")?,
        }))
    }
}

/// A stored attribute object as sorted (name, value) pairs.
pub fn parse_attributes(json: &str) -> Result<Vec<(String, String)>, StoreError> {
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))?;
    Ok(map.into_iter().collect())
}
