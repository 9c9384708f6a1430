//! Connection counts across nodes: per principal a Redis hash of node id to
//! that node's count. Admission sums the fields of nodes that hold a lease
//! (deleting the others: that node died) in one script, so two nodes cannot
//! both admit the last allowed connection.
//!
//! When Redis does not answer, a connection is admitted against this node's
//! own count (the limit then holds per node, not per cluster) rather than
//! refused: Redis being away must not lock people out. When the node's lease
//! had lapsed (Redis restarted: it keeps nothing), its counts are put back.

use std::time::Duration;

use super::memory::MemoryCounts;
use super::{Admission, ConnectionCounts, CountFuture};
use crate::auth::Principal;
use crate::cluster::redis::{COMMAND_TIMEOUT, RedisNode};

/// A principal's hash outlives its last acquire by this much: long enough for
/// any connection, short enough that principals who never return cost nothing.
const HASH_TTL: Duration = Duration::from_secs(24 * 3600);

const ACQUIRE: &str = r"
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  if redis.call('EXISTS', ARGV[3] .. fields[i]) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('HDEL', KEYS[1], fields[i])
  end
end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
";

const RELEASE: &str = r"
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return left
";

pub struct RedisCounts {
    node: RedisNode,
    /// Connections admitted by the cluster count, mirrored to restore them.
    cluster: MemoryCounts,
    /// Connections admitted while Redis was unreachable.
    local: MemoryCounts,
}

impl RedisCounts {
    pub fn new(node: RedisNode) -> Self {
        Self { node, cluster: MemoryCounts::default(), local: MemoryCounts::default() }
    }

    fn key(&self, principal: &Principal) -> String {
        self.node.key(&format!("conns:{}", principal.as_str()))
    }

    /// Puts this node's counts back after its lease lapsed (until shutdown).
    pub async fn restore_on_lease_loss(&self) {
        loop {
            self.node.lease_restored().await;
            let mut connection = self.node.connection();
            let mut pipe = redis::pipe();
            for (principal, count) in self.cluster.all() {
                let key = self.key(&principal);
                pipe.hset(&key, self.node.node_id(), count).ignore();
                pipe.pexpire(&key, HASH_TTL.as_millis() as i64).ignore();
            }
            let restored =
                tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(&mut connection)).await;
            if !matches!(restored, Ok(Ok(()))) {
                tracing::warn!("could not restore connection counts in Redis");
            }
        }
    }
}

impl ConnectionCounts for RedisCounts {
    fn acquire<'a>(&'a self, principal: &'a Principal, limit: usize) -> CountFuture<'a, Admission> {
        Box::pin(async move {
            let mut connection = self.node.connection();
            let script = redis::Script::new(ACQUIRE);
            let mut invocation = script.key(self.key(principal));
            invocation
                .arg(self.node.node_id())
                .arg(limit)
                .arg(self.node.lease_key(""))
                .arg(HASH_TTL.as_millis() as u64);
            match tokio::time::timeout(COMMAND_TIMEOUT, invocation.invoke_async::<i64>(&mut connection)).await
            {
                Ok(Ok(1)) => {
                    // Cannot fail on the limit: the cluster count already includes this node's.
                    self.cluster.try_add(principal, usize::MAX);
                    Admission::Cluster
                }
                Ok(Ok(_)) => Admission::Refused,
                Ok(Err(_)) | Err(_) => {
                    tracing::debug!("connection count unreachable in Redis; counting on this node");
                    if self.local.try_add(principal, limit) { Admission::Local } else { Admission::Refused }
                }
            }
        })
    }

    fn release<'a>(&'a self, principal: &'a Principal, admission: Admission) -> CountFuture<'a, ()> {
        Box::pin(async move {
            match admission {
                Admission::Local => self.local.remove(principal),
                Admission::Refused => {}
                Admission::Cluster => {
                    self.cluster.remove(principal);
                    let mut connection = self.node.connection();
                    let script = redis::Script::new(RELEASE);
                    let mut invocation = script.key(self.key(principal));
                    invocation.arg(self.node.node_id());
                    let released = tokio::time::timeout(
                        COMMAND_TIMEOUT,
                        invocation.invoke_async::<i64>(&mut connection),
                    );
                    if !matches!(released.await, Ok(Ok(_))) {
                        // Counted until the hash expires or the node's lease ends.
                        tracing::debug!("could not release a connection count in Redis");
                    }
                }
            }
        })
    }
}
