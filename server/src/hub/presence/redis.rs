//! Presence across nodes, in Redis, filed under node leases.
//!
//! Each node writes an entry per (connection, channel) under its node id and
//! keeps, in memory, what it wrote and when each of its connections was last
//! active. Readers count an entry only while its node holds a lease, so a
//! dead node's members disappear together when its lease expires; the first
//! node to notice (by removing the dead node from the node set) deletes its
//! entries and announces the leaves. A node whose own lease lapsed (Redis
//! restarted, or a stall) puts its entries back and announces them again.
//!
//! Redis being unreachable costs presence, not messages: joins and leaves are
//! kept locally and written when Redis answers again.

mod dead_nodes;
mod scripts;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use protocol::ChannelName;
use protocol::chat::{Member, PresenceEntry, PresenceStatus};
use redis::Script;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Presence, PresenceChange, PresenceFuture};
use crate::cluster::redis::{COMMAND_TIMEOUT, RedisNode};
use crate::hub::ConnectionId;

struct Here {
    member: Member,
    last_active: Instant,
    /// What Redis was last told (online or away).
    active: bool,
    channels: HashSet<ChannelName>,
}

#[derive(Default)]
struct Local {
    connections: HashMap<ConnectionId, Here>,
    /// This node's connections per channel, to drop the channel from the
    /// node's set when the last one leaves.
    per_channel: HashMap<ChannelName, usize>,
}

pub struct RedisPresence {
    node: RedisNode,
    away_after: Duration,
    local: Mutex<Local>,
    put: Script,
    remove: Script,
    sweep_node: Script,
    snapshot: Script,
    /// Set when a write failed or the lease lapsed: the next sweep re-puts
    /// every local entry.
    restore: std::sync::Arc<AtomicBool>,
    last_node_check: Mutex<Instant>,
    /// Changes found outside a sweep (at start), announced by the next one.
    pending: Mutex<Vec<(ChannelName, PresenceChange)>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Absent,
    Online,
    Away,
}

fn parse_status(value: &str) -> Status {
    match value {
        "online" => Status::Online,
        "away" => Status::Away,
        _ => Status::Absent,
    }
}

/// The change to announce for a member going from `before` to `after`.
fn change(member_id: &str, name: &str, before: Status, after: Status) -> Option<PresenceChange> {
    let status = match (before, after) {
        (b, a) if b == a => return None,
        (_, Status::Absent) => return Some(PresenceChange::Leave { member_id: member_id.to_owned() }),
        (_, Status::Online) => PresenceStatus::Online,
        (_, Status::Away) => PresenceStatus::Away,
    };
    Some(PresenceChange::Update(PresenceEntry {
        member_id: member_id.to_owned(),
        name: name.to_owned(),
        status,
    }))
}

impl RedisPresence {
    /// Presence for this node. Entries an earlier process left under the same
    /// node id (restarted within its lease) are removed before anything joins,
    /// and their leaves are announced by the first sweep.
    pub async fn start(
        node: RedisNode,
        away_after: Duration,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Self {
        let restore = std::sync::Arc::new(AtomicBool::new(false));
        let (watched, flag) = (node.clone(), restore.clone());
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = watched.lease_restored() => flag.store(true, Ordering::Relaxed),
                }
            }
        });
        let presence = Self::new(node, away_after, restore);
        let leftovers = presence.sweep_node_entries(presence.node.node_id()).await;
        if !leftovers.is_empty() {
            tracing::warn!(
                entries = leftovers.len(),
                "removed presence left by an earlier process of this node id"
            );
        }
        *presence.pending.lock().expect("presence lock poisoned") = leftovers;
        presence
    }

    fn new(node: RedisNode, away_after: Duration, restore: std::sync::Arc<AtomicBool>) -> Self {
        Self {
            node,
            away_after,
            local: Mutex::default(),
            put: Script::new(&scripts::put()),
            remove: Script::new(&scripts::remove()),
            sweep_node: Script::new(&scripts::sweep_node()),
            snapshot: Script::new(scripts::SNAPSHOT),
            restore,
            last_node_check: Mutex::new(Instant::now()),
            pending: Mutex::default(),
        }
    }

    fn hash(&self, channel: &ChannelName) -> String {
        self.node.key(&format!("presence:{}", channel.as_str()))
    }

    fn channels_of(&self, node: &str) -> String {
        self.node.key(&format!("node:{node}:channels"))
    }

    fn field(&self, connection: ConnectionId) -> String {
        format!("{}/{connection}", self.node.node_id())
    }

    /// Runs a before/after script; a failure marks the local state for restore.
    async fn transition(&self, invocation: &redis::ScriptInvocation<'_>) -> Option<(Status, Status, String)> {
        let mut connection = self.node.connection();
        match tokio::time::timeout(COMMAND_TIMEOUT, invocation.invoke_async::<Vec<String>>(&mut connection))
            .await
        {
            Ok(Ok(answer)) if answer.len() == 3 => {
                Some((parse_status(&answer[0]), parse_status(&answer[1]), answer[2].clone()))
            }
            _ => {
                self.restore.store(true, Ordering::Relaxed);
                None
            }
        }
    }

    async fn put_entry(
        &self,
        channel: &ChannelName,
        connection: ConnectionId,
        member: &Member,
        active: bool,
    ) -> Option<PresenceChange> {
        let value = format!("{}\t{}\t{}", u8::from(active), member.member_id, member.name.replace('\t', " "));
        let mut invocation = self.put.key(self.hash(channel));
        invocation
            .key(self.channels_of(self.node.node_id()))
            .arg(self.field(connection))
            .arg(value)
            .arg(&member.member_id)
            .arg(self.node.lease_key(""))
            .arg(channel.as_str());
        let (before, after, name) = self.transition(&invocation).await?;
        change(&member.member_id, &name, before, after)
    }

    /// Puts every local entry back (after a failed write or a lapsed lease);
    /// returns what the other nodes must hear again.
    async fn restore_all(&self) -> Vec<(ChannelName, PresenceChange)> {
        if !self.restore.swap(false, Ordering::Relaxed) {
            return Vec::new();
        }
        let entries: Vec<(ChannelName, ConnectionId, Member, bool)> = {
            let local = self.local.lock().expect("presence lock poisoned");
            local
                .connections
                .iter()
                .flat_map(|(id, here)| {
                    here.channels.iter().map(|c| (c.clone(), *id, here.member.clone(), here.active))
                })
                .collect()
        };
        let mut changes = Vec::new();
        for (channel, connection, member, active) in entries {
            if let Some(change) = self.put_entry(&channel, connection, &member, active).await {
                changes.push((channel, change));
            }
        }
        changes
    }
}

impl Presence for RedisPresence {
    fn join<'a>(
        &'a self,
        channel: &'a ChannelName,
        connection: ConnectionId,
        member: &'a Member,
        now: Instant,
    ) -> PresenceFuture<'a, Option<PresenceChange>> {
        Box::pin(async move {
            let active = {
                let mut local = self.local.lock().expect("presence lock poisoned");
                let here = local.connections.entry(connection).or_insert_with(|| Here {
                    member: member.clone(),
                    last_active: now,
                    active: true,
                    channels: HashSet::new(),
                });
                let active = here.active;
                if here.channels.insert(channel.clone()) {
                    *local.per_channel.entry(channel.clone()).or_default() += 1;
                }
                active
            };
            self.put_entry(channel, connection, member, active).await
        })
    }

    fn leave<'a>(
        &'a self,
        channel: &'a ChannelName,
        connection: ConnectionId,
    ) -> PresenceFuture<'a, Option<PresenceChange>> {
        Box::pin(async move {
            let (member_id, last_here) = {
                let mut local = self.local.lock().expect("presence lock poisoned");
                let here = local.connections.get_mut(&connection)?;
                if !here.channels.remove(channel) {
                    return None;
                }
                let member_id = here.member.member_id.clone();
                if here.channels.is_empty() {
                    local.connections.remove(&connection);
                }
                let count = local.per_channel.entry(channel.clone()).or_default();
                *count = count.saturating_sub(1);
                let last = *count == 0;
                if last {
                    local.per_channel.remove(channel);
                }
                (member_id, last)
            };
            let mut invocation = self.remove.key(self.hash(channel));
            invocation.arg(self.field(connection)).arg(&member_id).arg(self.node.lease_key(""));
            let (before, after, name) = self.transition(&invocation).await?;
            if last_here {
                let mut redis_connection = self.node.connection();
                let _: Result<Result<(), _>, _> = tokio::time::timeout(
                    COMMAND_TIMEOUT,
                    redis::cmd("SREM")
                        .arg(self.channels_of(self.node.node_id()))
                        .arg(channel.as_str())
                        .query_async::<()>(&mut redis_connection),
                )
                .await;
            }
            change(&member_id, &name, before, after)
        })
    }

    fn activity(
        &self,
        connection: ConnectionId,
        now: Instant,
    ) -> PresenceFuture<'_, Vec<(ChannelName, PresenceChange)>> {
        Box::pin(async move {
            let woke = {
                let mut local = self.local.lock().expect("presence lock poisoned");
                let Some(here) = local.connections.get_mut(&connection) else { return Vec::new() };
                here.last_active = now;
                let woke = !here.active;
                here.active = true;
                woke.then(|| (here.member.clone(), here.channels.iter().cloned().collect::<Vec<_>>()))
            };
            let Some((member, channels)) = woke else { return Vec::new() };
            let mut changes = Vec::new();
            for channel in channels {
                if let Some(change) = self.put_entry(&channel, connection, &member, true).await {
                    changes.push((channel, change));
                }
            }
            changes
        })
    }

    fn snapshot<'a>(&'a self, channel: &'a ChannelName) -> PresenceFuture<'a, Vec<PresenceEntry>> {
        Box::pin(async move {
            let mut connection = self.node.connection();
            let mut invocation = self.snapshot.key(self.hash(channel));
            invocation.arg(self.node.lease_key(""));
            let flat = match tokio::time::timeout(
                COMMAND_TIMEOUT,
                invocation.invoke_async::<Vec<String>>(&mut connection),
            )
            .await
            {
                Ok(Ok(flat)) => flat,
                _ => return Vec::new(),
            };
            flat.chunks(3)
                .filter_map(|row| match row {
                    [member_id, status, name] => Some(PresenceEntry {
                        member_id: member_id.clone(),
                        name: name.clone(),
                        status: if status == "online" {
                            PresenceStatus::Online
                        } else {
                            PresenceStatus::Away
                        },
                    }),
                    _ => None,
                })
                .collect()
        })
    }

    fn sweep(&self, now: Instant) -> PresenceFuture<'_, Vec<(ChannelName, PresenceChange)>> {
        Box::pin(async move {
            let mut changes = std::mem::take(&mut *self.pending.lock().expect("presence lock poisoned"));
            changes.extend(self.restore_all().await);
            let idle: Vec<(ConnectionId, Member, Vec<ChannelName>)> = {
                let mut local = self.local.lock().expect("presence lock poisoned");
                local
                    .connections
                    .iter_mut()
                    .filter(|(_, here)| {
                        here.active && now.saturating_duration_since(here.last_active) >= self.away_after
                    })
                    .map(|(id, here)| {
                        here.active = false;
                        (*id, here.member.clone(), here.channels.iter().cloned().collect())
                    })
                    .collect()
            };
            for (connection, member, channels) in idle {
                for channel in channels {
                    if let Some(change) = self.put_entry(&channel, connection, &member, false).await {
                        changes.push((channel, change));
                    }
                }
            }
            let check_nodes = {
                let mut last = self.last_node_check.lock().expect("presence lock poisoned");
                let due = now.saturating_duration_since(*last) >= self.node.lease() / 3;
                if due {
                    *last = now;
                }
                due
            };
            if check_nodes {
                changes.extend(self.sweep_dead_nodes().await);
            }
            changes
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_announce_arrivals_status_changes_and_leaves_only() {
        assert_eq!(change("m", "M", Status::Online, Status::Online), None);
        assert!(
            matches!(change("m", "M", Status::Absent, Status::Online), Some(PresenceChange::Update(e)) if e.status == PresenceStatus::Online)
        );
        assert!(
            matches!(change("m", "M", Status::Online, Status::Away), Some(PresenceChange::Update(e)) if e.status == PresenceStatus::Away)
        );
        assert_eq!(
            change("m", "M", Status::Away, Status::Absent),
            Some(PresenceChange::Leave { member_id: "m".into() })
        );
        assert_eq!(change("m", "M", Status::Absent, Status::Absent), None);
    }
}
