//! The stats API's snapshot of the hub: connections, channels and their
//! subscribers, and how full the connections' queues are.

use super::{Hub, Outbox, metrics};

/// A snapshot for the stats API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HubStats {
    pub connections: usize,
    pub channels: usize,
    pub subscribers_per_channel: Vec<(String, usize)>,
    pub queue_depth_max: usize,
    pub queue_depth_total: usize,
    pub metrics: metrics::Snapshot,
}

impl Hub {
    pub fn stats(&self) -> HubStats {
        let mut subscribers_per_channel = Vec::new();
        for shard in &self.shared.shards {
            let shard = shard.lock().expect("shard lock poisoned");
            subscribers_per_channel.extend(shard.iter().map(|(c, l)| (c.to_string(), l.listeners.len())));
        }
        subscribers_per_channel.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        // Each queue's own lock is taken after the registry's is released:
        // registering and unregistering wait for the clones, never behind a
        // queue's lock. The count and the depths are then not one snapshot,
        // which a stats view does not need.
        let outboxes: Vec<Outbox> = {
            let connections = self.shared.connections.lock().expect("registry lock poisoned");
            connections.values().map(|c| c.outbox.clone()).collect()
        };
        let depths = outboxes.iter().map(Outbox::queued);
        let (queue_depth_max, queue_depth_total) = depths.fold((0, 0), |(m, t), d| (m.max(d), t + d));
        let connections = outboxes.len();
        HubStats {
            connections,
            channels: subscribers_per_channel.len(),
            // The 100 busiest; the full list could be huge.
            subscribers_per_channel: subscribers_per_channel.into_iter().take(100).collect(),
            queue_depth_max,
            queue_depth_total,
            metrics: self.shared.metrics.snapshot(),
        }
    }
}
