//! Settings of the collaborative pages: how fast a person may send messages
//! and dashboard changes, when a quiet member counts as away.

use std::time::Duration;

use super::ConfigError;
use super::env::{Env, invalid};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSettings {
    /// `BEACON_CHAT_MESSAGES_PER_SEC`, default 5 (burst twice that): per person
    /// per conversation, over all their tabs and the HTTP API.
    pub messages_per_sec: u32,
    /// `BEACON_PRESENCE_AWAY_SECS`, default 300: a member with no activity in
    /// any tab for this long is shown as away.
    pub away_after: Duration,
    /// `BEACON_DASHBOARD_OPS_PER_SEC`, default 10 (burst twice that): dashboard
    /// changes per person per dashboard, over all their tabs and the HTTP API.
    /// A drag sends one op when dropped, not one per pixel.
    pub dashboard_ops_per_sec: u32,
}

pub(super) fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<ChatSettings, ConfigError> {
    let away_after = env.secs("BEACON_PRESENCE_AWAY_SECS", protocol::chat::AWAY_AFTER_MS / 1000)?;
    if away_after.is_zero() {
        return Err(invalid("BEACON_PRESENCE_AWAY_SECS", "must be at least 1"));
    }
    Ok(ChatSettings {
        messages_per_sec: env.ranged("BEACON_CHAT_MESSAGES_PER_SEC", 5, 1, 10_000)? as u32,
        away_after,
        dashboard_ops_per_sec: env.ranged("BEACON_DASHBOARD_OPS_PER_SEC", 10, 1, 10_000)? as u32,
    })
}
