//! This node's handle on Redis: one multiplexed connection (reconnecting by
//! itself), the key names, and the node lease.
//!
//! The lease is a key with an expiry that the node refreshes three times per
//! lease period. Everything a node puts in Redis on behalf of its connections
//! (presence entries, connection counts) is filed under its node id, and
//! readers ignore entries whose node has no lease: when a node dies, all of
//! its entries leave together, after one lease period, without anyone having
//! to clean up first (the sweeper only reclaims the memory and announces it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A Redis command that takes longer than this counts as failed: callers
/// fall back (local counts, no presence) rather than hang a connection.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Refreshes the lease and says whether it had lapsed (Redis restarted, or
/// this node was stalled past its lease): then the node must put its entries
/// back, since readers have ignored (and sweepers may have deleted) them.
const REFRESH_LEASE: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return existed
";

#[derive(Clone)]
pub struct RedisNode {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
    node_id: String,
    lease: Duration,
    /// Whether the last lease refresh reached Redis.
    reachable: AtomicBool,
    /// Woken after a refresh found the lease lapsed; presence re-registers.
    lease_restored: Notify,
}

impl RedisNode {
    /// Connects (failing when Redis does not answer at start: a node must not
    /// silently run alone) and takes the lease.
    pub async fn connect(url: &str, prefix: &str, node_id: &str, lease: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_max_delay(Duration::from_secs(2));
        let connection =
            tokio::time::timeout(COMMAND_TIMEOUT * 2, client.get_connection_manager_with_config(config))
                .await
                .map_err(|_| anyhow::anyhow!("Redis at {url} did not answer"))??;
        let node = Self {
            inner: Arc::new(Inner {
                client,
                connection,
                prefix: prefix.to_owned(),
                node_id: node_id.to_owned(),
                lease,
                reachable: AtomicBool::new(false),
                lease_restored: Notify::new(),
            }),
        };
        node.refresh_lease().await?;
        Ok(node)
    }

    pub fn client(&self) -> &redis::Client {
        &self.inner.client
    }

    /// A handle on the shared connection (cheap: it is multiplexed).
    pub fn connection(&self) -> ConnectionManager {
        self.inner.connection.clone()
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    pub fn reachable(&self) -> bool {
        self.inner.reachable.load(Ordering::Relaxed)
    }

    /// `<prefix>:<rest>`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.inner.prefix)
    }

    /// The lease key of `node`.
    pub fn lease_key(&self, node: &str) -> String {
        self.key(&format!("node:{node}"))
    }

    /// The set of nodes that ever took a lease and were not swept yet.
    pub fn nodes_key(&self) -> String {
        self.key("nodes")
    }

    /// Resolves after a refresh found this node's lease lapsed and took it again.
    pub async fn lease_restored(&self) {
        self.inner.lease_restored.notified().await
    }

    async fn refresh_lease(&self) -> anyhow::Result<bool> {
        let millis = self.inner.lease.as_millis() as u64;
        let mut connection = self.connection();
        let existed: i64 = tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::Script::new(REFRESH_LEASE)
                .key(self.lease_key(&self.inner.node_id))
                .key(self.nodes_key())
                .arg(millis)
                .arg(&self.inner.node_id)
                .invoke_async(&mut connection),
        )
        .await
        .map_err(|_| anyhow::anyhow!("lease refresh timed out"))??;
        self.inner.reachable.store(true, Ordering::Relaxed);
        Ok(existed == 1)
    }

    /// Keeps the lease alive until shutdown, then gives it up so the other
    /// nodes see this one gone at once rather than after the lease period.
    pub fn spawn_lease(&self, shutdown: CancellationToken, tasks: &TaskTracker) {
        let node = self.clone();
        tasks.spawn(async move {
            let mut every = tokio::time::interval(node.inner.lease / 3);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = every.tick() => {}
                }
                match node.refresh_lease().await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(node = node.node_id(), "node lease had lapsed; re-registering");
                        node.inner.lease_restored.notify_waiters();
                    }
                    Err(err) => {
                        if node.inner.reachable.swap(false, Ordering::Relaxed) {
                            tracing::warn!(error = %err, "Redis unreachable; serving from the database");
                        }
                    }
                }
            }
        });
    }

    /// Drops the lease now (graceful shutdown).
    pub async fn release_lease(&self) {
        let mut connection = self.connection();
        let result: Result<Result<(), redis::RedisError>, _> = tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("DEL").arg(self.lease_key(&self.inner.node_id)).query_async(&mut connection),
        )
        .await;
        if !matches!(result, Ok(Ok(()))) {
            tracing::warn!("could not release the node lease; it expires by itself");
        }
    }
}
