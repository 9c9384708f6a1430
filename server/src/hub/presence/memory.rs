//! Presence for one node: two maps behind one std mutex, held only for map
//! updates (never across an await). It is empty after a restart, so there are
//! no zombie entries: clients resubscribe and join again.
//!
//! Bounded by what it tracks: one entry per (subscribed connection, channel),
//! removed when the connection unsubscribes or closes; connections and
//! channels per connection are capped by the hub's limits.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use protocol::ChannelName;
use protocol::chat::{Member, PresenceEntry, PresenceStatus};

use super::{Presence, PresenceChange, PresenceFuture};
use crate::hub::ConnectionId;

struct MemberHere {
    name: String,
    connections: HashSet<ConnectionId>,
    status: PresenceStatus,
}

struct ConnectionHere {
    last_active: Instant,
    /// (channel, member id) pairs this connection is present in.
    places: HashSet<(ChannelName, String)>,
}

#[derive(Default)]
struct State {
    channels: HashMap<ChannelName, HashMap<String, MemberHere>>,
    connections: HashMap<ConnectionId, ConnectionHere>,
}

pub struct MemoryPresence {
    away_after: Duration,
    state: Mutex<State>,
}

impl MemoryPresence {
    pub fn new(away_after: Duration) -> Self {
        Self { away_after, state: Mutex::new(State::default()) }
    }
}

fn entry(member_id: &str, here: &MemberHere) -> PresenceEntry {
    PresenceEntry { member_id: member_id.to_owned(), name: here.name.clone(), status: here.status }
}

/// Whether any of the member's connections was active within `away_after`.
fn active(
    connections: &HashMap<ConnectionId, ConnectionHere>,
    here: &MemberHere,
    now: Instant,
    away_after: Duration,
) -> bool {
    here.connections.iter().any(|c| {
        connections.get(c).is_some_and(|conn| now.saturating_duration_since(conn.last_active) < away_after)
    })
}

/// Recomputes the member's status from its connections' activity; true when
/// it changed.
fn refresh(
    connections: &HashMap<ConnectionId, ConnectionHere>,
    here: &mut MemberHere,
    now: Instant,
    away_after: Duration,
) -> bool {
    let status = if active(connections, here, now, away_after) {
        PresenceStatus::Online
    } else {
        PresenceStatus::Away
    };
    let changed = status != here.status;
    here.status = status;
    changed
}

impl State {
    /// Recomputes the status of the members in `places`; returns the changes.
    fn restatus(
        &mut self,
        places: Vec<(ChannelName, String)>,
        now: Instant,
        away_after: Duration,
    ) -> Vec<(ChannelName, PresenceChange)> {
        let State { channels, connections } = self;
        let mut changes = Vec::new();
        for (channel, member_id) in places {
            let Some(here) = channels.get_mut(&channel).and_then(|m| m.get_mut(&member_id)) else { continue };
            if refresh(connections, here, now, away_after) {
                changes.push((channel, PresenceChange::Update(entry(&member_id, here))));
            }
        }
        changes
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> PresenceFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl Presence for MemoryPresence {
    fn join<'a>(
        &'a self,
        channel: &'a ChannelName,
        connection: ConnectionId,
        member: &'a Member,
        now: Instant,
    ) -> PresenceFuture<'a, Option<PresenceChange>> {
        let mut state = self.state.lock().expect("presence lock poisoned");
        let conn = state
            .connections
            .entry(connection)
            .or_insert_with(|| ConnectionHere { last_active: now, places: HashSet::new() });
        conn.places.insert((channel.clone(), member.member_id.clone()));
        let members = state.channels.entry(channel.clone()).or_default();
        let here = members.entry(member.member_id.clone()).or_insert_with(|| MemberHere {
            name: member.name.clone(),
            connections: HashSet::new(),
            status: PresenceStatus::Away,
        });
        let arrived = here.connections.is_empty();
        here.connections.insert(connection);
        here.name.clone_from(&member.name);
        let previous = if arrived { None } else { Some(here.status) };
        let changes = state.restatus(vec![(channel.clone(), member.member_id.clone())], now, self.away_after);
        let change = match (changes.into_iter().next(), previous) {
            (Some((_, change)), _) => Some(change),
            // New here, and its status did not change from the default: still an arrival.
            (None, None) => {
                let here = &state.channels[channel][&member.member_id];
                Some(PresenceChange::Update(entry(&member.member_id, here)))
            }
            (None, Some(_)) => None,
        };
        ready(change)
    }

    fn leave<'a>(
        &'a self,
        channel: &'a ChannelName,
        connection: ConnectionId,
    ) -> PresenceFuture<'a, Option<PresenceChange>> {
        let mut state = self.state.lock().expect("presence lock poisoned");
        let Some(conn) = state.connections.get_mut(&connection) else { return ready(None) };
        let Some(place) = conn.places.iter().find(|(c, _)| c == channel).cloned() else {
            return ready(None);
        };
        conn.places.remove(&place);
        if conn.places.is_empty() {
            state.connections.remove(&connection);
        }
        let (_, member_id) = place;
        let mut change = None;
        if let Some(members) = state.channels.get_mut(channel) {
            if let Some(here) = members.get_mut(&member_id) {
                here.connections.remove(&connection);
                if here.connections.is_empty() {
                    members.remove(&member_id);
                    change = Some(PresenceChange::Leave { member_id: member_id.clone() });
                }
            }
            if members.is_empty() {
                state.channels.remove(channel);
            }
        }
        // Another of the member's tabs may be idle: their status is its alone now.
        if change.is_none() {
            let restatus =
                state.restatus(vec![(channel.clone(), member_id)], Instant::now(), self.away_after);
            change = restatus.into_iter().next().map(|(_, c)| c);
        }
        ready(change)
    }

    fn activity(
        &self,
        connection: ConnectionId,
        now: Instant,
    ) -> PresenceFuture<'_, Vec<(ChannelName, PresenceChange)>> {
        let mut state = self.state.lock().expect("presence lock poisoned");
        let Some(conn) = state.connections.get_mut(&connection) else { return ready(Vec::new()) };
        conn.last_active = now;
        let places = conn.places.iter().cloned().collect();
        ready(state.restatus(places, now, self.away_after))
    }

    fn snapshot<'a>(&'a self, channel: &'a ChannelName) -> PresenceFuture<'a, Vec<PresenceEntry>> {
        let state = self.state.lock().expect("presence lock poisoned");
        let mut entries: Vec<PresenceEntry> = state
            .channels
            .get(channel)
            .map(|members| members.iter().map(|(id, here)| entry(id, here)).collect())
            .unwrap_or_default();
        entries.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.member_id.cmp(&b.member_id)));
        ready(entries)
    }

    fn sweep(&self, now: Instant) -> PresenceFuture<'_, Vec<(ChannelName, PresenceChange)>> {
        // In place, twice a second over every member: only a change allocates
        // (a copy of every online member's place each tick was a measurable
        // share of a busy server's CPU, docs/PERFORMANCE.md step 15).
        let mut state = self.state.lock().expect("presence lock poisoned");
        let State { channels, connections } = &mut *state;
        let mut changes = Vec::new();
        for (channel, members) in channels.iter_mut() {
            for (member_id, here) in members.iter_mut() {
                // Only the online can go away with time; coming back is an activity.
                if here.status == PresenceStatus::Online && refresh(connections, here, now, self.away_after) {
                    changes.push((channel.clone(), PresenceChange::Update(entry(member_id, here))));
                }
            }
        }
        ready(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, name: &str) -> Member {
        Member { member_id: id.into(), name: name.into() }
    }

    fn status_of(change: Option<PresenceChange>) -> Option<PresenceStatus> {
        match change {
            Some(PresenceChange::Update(entry)) => Some(entry.status),
            _ => None,
        }
    }

    #[tokio::test]
    async fn one_entry_per_member_across_tabs_and_a_leave_only_with_the_last() {
        let presence = MemoryPresence::new(Duration::from_secs(300));
        let channel = ChannelName::parse("conversation:c").unwrap();
        let ada = member("m1", "Ada");
        let now = Instant::now();
        assert_eq!(status_of(presence.join(&channel, 1, &ada, now).await), Some(PresenceStatus::Online));
        assert_eq!(presence.join(&channel, 2, &ada, now).await, None, "a second tab is no news");
        assert_eq!(presence.snapshot(&channel).await.len(), 1);
        assert_eq!(presence.leave(&channel, 1).await, None, "one tab is still open");
        assert_eq!(presence.leave(&channel, 2).await, Some(PresenceChange::Leave { member_id: "m1".into() }));
        assert!(presence.snapshot(&channel).await.is_empty());
        assert!(presence.state.lock().unwrap().connections.is_empty(), "nothing kept for gone connections");
    }

    #[tokio::test]
    async fn away_after_idle_in_every_tab_and_back_on_activity() {
        let away_after = Duration::from_secs(300);
        let presence = MemoryPresence::new(away_after);
        let channel = ChannelName::parse("conversation:c").unwrap();
        let start = Instant::now();
        presence.join(&channel, 1, &member("m1", "Ada"), start).await;
        presence.join(&channel, 2, &member("m1", "Ada"), start).await;
        let later = start + away_after - Duration::from_secs(1);
        presence.activity(2, later).await;
        assert!(presence.sweep(start + away_after).await.is_empty(), "tab 2 was active");
        let idle = later + away_after;
        let swept = presence.sweep(idle).await;
        assert_eq!(swept.len(), 1);
        assert_eq!(status_of(Some(swept[0].1.clone())), Some(PresenceStatus::Away));
        let back = presence.activity(1, idle).await;
        assert_eq!(status_of(Some(back[0].1.clone())), Some(PresenceStatus::Online));
    }
}
