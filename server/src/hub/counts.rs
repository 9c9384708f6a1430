//! Connections per principal, the limit a person's tabs and devices share.
//! [`memory::MemoryCounts`] counts on one node; [`redis::RedisCounts`] counts
//! across every node (entries filed under node leases, so a dead node's
//! connections stop counting when its lease expires).

pub mod memory;
pub mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::auth::Principal;

pub type CountFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether a connection was let in, and where it was counted (so its release
/// goes to the same place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The principal already has its limit of connections.
    Refused,
    /// Counted across the cluster.
    Cluster,
    /// Counted on this node only (one node, or the shared count was unreachable).
    Local,
}

pub trait ConnectionCounts: Send + Sync + 'static {
    /// Counts one more connection of `principal` unless it already has `limit`.
    fn acquire<'a>(&'a self, principal: &'a Principal, limit: usize) -> CountFuture<'a, Admission>;
    /// Uncounts a connection that [`ConnectionCounts::acquire`] admitted.
    fn release<'a>(&'a self, principal: &'a Principal, admission: Admission) -> CountFuture<'a, ()>;
}

pub type SharedCounts = Arc<dyn ConnectionCounts>;
