//! One node or several. With `BEACON_BUS=redis`, nodes share PostgreSQL (the
//! event log, the truth) and Redis (wake-ups, signals, presence, connection
//! counts), and run the background jobs on exactly one of them.
//!
//! - [`redis`]: the node's Redis connection, key names and node lease.
//! - [`leader`]: which node runs the background jobs.

pub mod leader;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::redis::RedisNode;
use crate::bus::SharedBus;
use crate::bus::memory::MemoryBus;
use crate::bus::redis::RedisBus;
use crate::config::cluster::{BusKind, ClusterSettings};
use crate::hub::counts::SharedCounts;
use crate::hub::counts::memory::MemoryCounts;
use crate::hub::counts::redis::RedisCounts;
use crate::hub::presence::SharedPresence;
use crate::hub::presence::memory::MemoryPresence;
use crate::hub::presence::redis::RedisPresence;

/// The implementations the hub runs on, for one node or for a cluster.
pub struct Cluster {
    pub node_id: String,
    pub bus: SharedBus,
    pub presence: SharedPresence,
    pub counts: SharedCounts,
    /// Present when several nodes share Redis.
    pub redis: Option<RedisNode>,
}

impl Cluster {
    /// Connects to Redis when configured (failing when it does not answer:
    /// a node must not start believing it is alone) and starts the lease and
    /// bus tasks; they end at `shutdown`.
    pub async fn start(
        settings: &ClusterSettings,
        away_after: Duration,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) -> anyhow::Result<Self> {
        let node_id = settings.node_id.clone();
        match &settings.bus {
            BusKind::Memory => Ok(Self {
                node_id,
                bus: Arc::new(MemoryBus::new()),
                presence: Arc::new(MemoryPresence::new(away_after)),
                counts: Arc::new(MemoryCounts::default()),
                redis: None,
            }),
            BusKind::Redis { url } => {
                let node =
                    RedisNode::connect(url, &settings.redis_prefix, &node_id, settings.node_lease).await?;
                node.spawn_lease(shutdown.clone(), tasks);
                let counts = Arc::new(RedisCounts::new(node.clone()));
                let restoring = counts.clone();
                let stop = shutdown.clone();
                tasks.spawn(async move {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = restoring.restore_on_lease_loss() => {}
                    }
                });
                tracing::info!(node = %node_id, "joined the cluster through Redis");
                Ok(Self {
                    node_id,
                    bus: Arc::new(RedisBus::start(node.clone(), shutdown.clone(), tasks)),
                    presence: Arc::new(
                        RedisPresence::start(node.clone(), away_after, shutdown.clone(), tasks).await,
                    ),
                    counts,
                    redis: Some(node),
                })
            }
        }
    }
}
