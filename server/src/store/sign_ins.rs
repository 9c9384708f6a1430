//! Sign-ins of registered people: created at registration, revoked at sign-out.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

impl Store {
    /// Records a new sign-in of `user_id`; returns its id.
    pub async fn create_sign_in(&self, user_id: &str) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query("INSERT INTO sign_ins (id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(user_id)
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(id)
    }

    /// Whether `id` is a sign-in of `user_id` that was not revoked.
    pub async fn sign_in_active(&self, id: &str, user_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT revoked_at FROM sign_ins WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<i64>, _>("revoked_at")?.is_none(),
            None => false,
        })
    }

    /// Revokes a sign-in; revoking twice is harmless.
    pub async fn revoke_sign_in(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sign_ins SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
