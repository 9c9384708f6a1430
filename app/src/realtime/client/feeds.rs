//! The channels this tab follows: from which seq and in which log epoch,
//! (re)subscribing on the socket, and events and resets applied to their
//! feeds (anything not newer than the last applied seq is a duplicate).

use leptos::prelude::*;
use protocol::{ChannelName, ClientMessage, EventEnvelope};

use super::{Client, Subscription};
use crate::realtime::policy;
use crate::realtime::{FeedWriters, push_bounded};

impl Client {
    pub(in crate::realtime) fn subscribe(&self, channel: ChannelName, since: u64, feed: FeedWriters) {
        let (send_now, polling) = {
            let mut inner = self.inner.borrow_mut();
            // A new (empty) feed replays from `since`: 0 for everything retained,
            // or the head of a state the page already rendered.
            inner.subs.insert(channel.clone(), Subscription { last_seq: since, epoch: None, feed });
            (inner.auth_sent(), inner.polling)
        };
        if send_now {
            self.send_subscribe(&channel, since);
        }
        if polling {
            let generation = self.inner.borrow().poll_generation;
            self.spawn_poll_loop(channel, generation);
        }
    }

    pub(in crate::realtime) fn unsubscribe(&self, channel: &ChannelName) {
        let removed = self.inner.borrow_mut().subs.remove(channel).is_some();
        if removed && self.inner.borrow().auth_sent() {
            let id = self.next_id();
            self.send(&ClientMessage::Unsubscribe { id, channel: channel.to_string() });
        }
    }

    pub(super) fn send_subscribe(&self, channel: &ChannelName, since: u64) {
        let id = self.next_id();
        let epoch = {
            let mut inner = self.inner.borrow_mut();
            inner.subscribing.insert(id.clone(), channel.clone());
            inner.subs.get(channel).and_then(|sub| sub.epoch.clone())
        };
        self.send(&ClientMessage::Subscribe { id, channel: channel.to_string(), since: Some(since), epoch });
    }

    /// Files the epoch a subscribe ack (or poll answer) named for `channel`.
    pub(super) fn learn_epoch(&self, channel: &ChannelName, epoch: String) {
        if epoch.is_empty() {
            return;
        }
        if let Some(sub) = self.inner.borrow_mut().subs.get_mut(channel) {
            sub.epoch = Some(epoch);
        }
    }

    pub(super) fn apply_event(&self, event: EventEnvelope) {
        let target = {
            let mut inner = self.inner.borrow_mut();
            match inner.subs.get_mut(&event.channel) {
                // Replay and live delivery can overlap: anything not newer is a duplicate.
                Some(sub) if policy::is_new(sub.last_seq, event.seq) => {
                    sub.last_seq = event.seq;
                    Some(sub.feed.events)
                }
                _ => None,
            }
        };
        if let Some(events) = target {
            events.update(|feed| push_bounded(feed, event));
        }
    }

    pub(super) fn apply_reset(&self, channel: &ChannelName, head_seq: u64, epoch: String) {
        self.learn_epoch(channel, epoch);
        let target = {
            let mut inner = self.inner.borrow_mut();
            inner.subs.get_mut(channel).map(|sub| {
                sub.last_seq = head_seq;
                sub.feed.resets
            })
        };
        if let Some(resets) = target {
            resets.update(|n| *n += 1);
        }
    }
}
