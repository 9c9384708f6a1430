//! Dead nodes: a node whose lease expired is removed from the node set by
//! whichever live node notices first (the removal is the claim, so it happens
//! once), which then deletes the dead node's presence entries channel by
//! channel and returns the leaves and status changes to announce. A node
//! starting under the id of an earlier process clears that one's entries the
//! same way.

use protocol::ChannelName;

use super::{RedisPresence, change, parse_status};
use crate::cluster::redis::COMMAND_TIMEOUT;
use crate::hub::presence::PresenceChange;

impl RedisPresence {
    /// Deletes the entries of nodes whose lease expired; returns the leaves.
    pub(super) async fn sweep_dead_nodes(&self) -> Vec<(ChannelName, PresenceChange)> {
        let mut connection = self.node.connection();
        let nodes: Vec<String> = match tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("SMEMBERS").arg(self.node.nodes_key()).query_async(&mut connection),
        )
        .await
        {
            Ok(Ok(nodes)) => nodes,
            _ => return Vec::new(),
        };
        let mut changes = Vec::new();
        for dead in nodes.into_iter().filter(|n| n != self.node.node_id()) {
            let claim = async {
                let alive: bool =
                    redis::cmd("EXISTS").arg(self.node.lease_key(&dead)).query_async(&mut connection).await?;
                if alive {
                    return Ok::<_, redis::RedisError>(None);
                }
                // Whoever removes it from the set sweeps it: once, cluster-wide.
                let claimed: i64 = redis::cmd("SREM")
                    .arg(self.node.nodes_key())
                    .arg(&dead)
                    .query_async(&mut connection)
                    .await?;
                if claimed == 0 {
                    return Ok(None);
                }
                let channels: i64 =
                    redis::cmd("SCARD").arg(self.channels_of(&dead)).query_async(&mut connection).await?;
                Ok(Some(channels))
            };
            let Ok(Ok(Some(channels))) = tokio::time::timeout(COMMAND_TIMEOUT, claim).await else { continue };
            tracing::info!(node = %dead, channels, "a node's lease expired; removing its presence");
            changes.extend(self.sweep_node_entries(&dead).await);
        }
        changes
    }

    /// Deletes every presence entry filed under `node`, channel by channel;
    /// returns the leaves and status changes that makes.
    pub(super) async fn sweep_node_entries(&self, node: &str) -> Vec<(ChannelName, PresenceChange)> {
        let mut connection = self.node.connection();
        let channels: Vec<String> = match tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("SMEMBERS").arg(self.channels_of(node)).query_async(&mut connection),
        )
        .await
        {
            Ok(Ok(channels)) => channels,
            _ => return Vec::new(),
        };
        let mut changes = Vec::new();
        for channel in channels.iter().filter_map(|c| ChannelName::parse(c).ok()) {
            let mut invocation = self.sweep_node.key(self.hash(&channel));
            invocation.arg(node).arg(self.node.lease_key(""));
            let swept = tokio::time::timeout(
                COMMAND_TIMEOUT,
                invocation.invoke_async::<Vec<String>>(&mut connection),
            );
            let Ok(Ok(flat)) = swept.await else { continue };
            for row in flat.chunks(4) {
                if let [member, before, after, name] = row
                    && let Some(change) = change(member, name, parse_status(before), parse_status(after))
                {
                    changes.push((channel.clone(), change));
                }
            }
        }
        let _: Result<Result<(), _>, _> = tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("DEL").arg(self.channels_of(node)).query_async::<()>(&mut connection),
        )
        .await;
        changes
    }
}
