//! Settings for running several nodes: which bus carries events between them,
//! where Redis is, and how quickly a dead node's presence and leadership move on.

use std::time::Duration;

use super::ConfigError;
use super::env::{Env, invalid};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusKind {
    /// One node: events go from publisher to subscribers inside the process.
    Memory,
    /// Several nodes sharing Redis (wake-ups, signals, presence, counts) and
    /// PostgreSQL (the event log, which stays the source of truth).
    Redis { url: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `BEACON_BUS`: `memory` (default) or `redis` (needs `REDIS_URL` and a
    /// PostgreSQL `DATABASE_URL`).
    pub bus: BusKind,
    /// `BEACON_REDIS_PREFIX`, default `beacon`: the start of every Redis key
    /// and pub/sub channel, so several deployments can share one Redis.
    pub redis_prefix: String,
    /// `BEACON_NODE_ID`, default random: names this node in Redis and logs.
    pub node_id: String,
    /// `BEACON_NODE_LEASE_MS`, default 10000 (at least 300): a node refreshes
    /// its lease three times per period; when it stops (the node died), its
    /// presence entries and connection counts leave together after this long.
    pub node_lease: Duration,
    /// `BEACON_GAP_FILL_MS`, default 1000 (at least 50): how often a node
    /// compares its channels' last delivered seq with the log's head. A lost
    /// Redis message (or Redis being down) delays an event by at most this.
    pub gap_fill_every: Duration,
    /// `BEACON_LEADER_RETRY_MS`, default 2000 (at least 100): how often a node
    /// that does not run the background jobs checks whether it should.
    pub leader_retry: Duration,
}

impl ClusterSettings {
    pub fn is_multi_node(&self) -> bool {
        matches!(self.bus, BusKind::Redis { .. })
    }
}

fn valid_name(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub(super) fn from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    database_url: &str,
) -> Result<ClusterSettings, ConfigError> {
    let bus = match env.get("BEACON_BUS").as_deref() {
        None | Some("memory") => BusKind::Memory,
        Some("redis") => {
            let url =
                env.get("REDIS_URL").ok_or_else(|| invalid("REDIS_URL", "required with BEACON_BUS=redis"))?;
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(invalid("REDIS_URL", format!("`{url}` is not redis:// or rediss://")));
            }
            if !database_url.starts_with("postgres") {
                return Err(invalid(
                    "BEACON_BUS",
                    "several nodes share their event log in PostgreSQL: set DATABASE_URL to postgres://...",
                ));
            }
            BusKind::Redis { url }
        }
        Some(other) => return Err(invalid("BEACON_BUS", format!("`{other}` is not memory or redis"))),
    };
    let redis_prefix = env.get("BEACON_REDIS_PREFIX").unwrap_or_else(|| "beacon".to_owned());
    if !valid_name(&redis_prefix) {
        return Err(invalid("BEACON_REDIS_PREFIX", "1-64 of A-Z a-z 0-9 - _ ."));
    }
    let node_id = match env.get("BEACON_NODE_ID") {
        Some(id) if valid_name(&id) => id,
        Some(_) => return Err(invalid("BEACON_NODE_ID", "1-64 of A-Z a-z 0-9 - _ .")),
        None => uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
    };
    Ok(ClusterSettings {
        bus,
        redis_prefix,
        node_id,
        node_lease: env.millis("BEACON_NODE_LEASE_MS", 10_000)?.max(Duration::from_millis(300)),
        gap_fill_every: env.millis("BEACON_GAP_FILL_MS", 1_000)?.max(Duration::from_millis(50)),
        leader_retry: env.millis("BEACON_LEADER_RETRY_MS", 2_000)?.max(Duration::from_millis(100)),
    })
}
