//! Membership of conversation and dashboard channels.

use protocol::ChannelName;

use super::{Backend, Store, StoreError};

impl Store {
    /// Lets `principal` use `channel`; granting twice is a no-op.
    pub async fn grant(&self, channel: &ChannelName, principal: &str) -> Result<(), StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => "INSERT OR IGNORE INTO channel_grants (channel, principal) VALUES ($1, $2)",
            Backend::Postgres => {
                "INSERT INTO channel_grants (channel, principal) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            }
        };
        sqlx::query(sql).bind(channel.as_str()).bind(principal).execute(self.pool()).await?;
        Ok(())
    }

    pub async fn has_grant(&self, channel: &ChannelName, principal: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM channel_grants WHERE channel = $1 AND principal = $2")
            .bind(channel.as_str())
            .bind(principal)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }
}
