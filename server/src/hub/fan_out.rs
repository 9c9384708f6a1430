//! Fan-out: a bus message to every local listener of its channel, without
//! waiting. For an event, a full queue closes that connection (it resumes by
//! seq), so one slow client never holds up the others; a signal is dropped
//! instead (the next one carries the full state), and long-poll waiters never
//! hear of signals. Events go through the channel's [`Reorder`] first, so
//! sockets see them in seq order and need not read the log for every race
//! between two publishers.
//!
//! [`Reorder`]: super::reorder::Reorder

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use protocol::CloseCode;

use super::listeners::Listeners;
use super::{ChannelListeners, Hub, Listener, Outbound, Refused};
use crate::bus::{BusMessage, Published};

/// What one hand-on did, for the metrics.
#[derive(Default)]
struct Handed {
    queued: u64,
    dropped: u64,
}

impl Hub {
    pub(super) fn fan_out(&self, message: BusMessage) {
        match message {
            BusMessage::Event(event) => self.fan_out_event(event),
            BusMessage::Signal(signal) => {
                let channel = signal.channel.clone();
                let shard = self.shard(&channel).lock().expect("shard lock poisoned");
                let Some(entry) = shard.get(&channel) else { return };
                let handed = hand_on(self, &entry.listeners, &Outbound::Signal(Arc::new(signal)));
                drop(shard);
                let metrics = &self.shared.metrics;
                metrics.signals.fetch_add(handed.queued, Ordering::Relaxed);
                metrics.signals_dropped.fetch_add(handed.dropped, Ordering::Relaxed);
            }
            BusMessage::Control(_) | BusMessage::CatchUp => {}
        }
    }

    fn fan_out_event(&self, event: Published) {
        let channel = event.channel.clone();
        let mut shard = self.shard(&channel).lock().expect("shard lock poisoned");
        let Some(entry) = shard.get_mut(&channel) else { return };
        let ready = self.offer(entry, event.seq, Arc::new(event));
        let queued: u64 = ready.into_iter().map(|event| hand_on(self, &entry.listeners, &event).queued).sum();
        drop(shard);
        self.shared.metrics.queued.fetch_add(queued, Ordering::Relaxed);
    }

    /// Offers an event to the channel's reorder buffer; returns what is ready.
    fn offer(&self, entry: &mut ChannelListeners, seq: u64, event: Arc<Published>) -> Vec<Outbound> {
        let before = entry.order.held();
        let ready = entry.order.offer(seq, event, Instant::now());
        self.account_held(before, entry.order.held());
        ready.into_iter().map(|(_, event)| Outbound::Event(event)).collect()
    }

    fn account_held(&self, before: usize, after: usize) {
        if after > before {
            self.shared.held.fetch_add(after - before, Ordering::Relaxed);
        } else if before > after {
            self.shared.held.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// Hands on the events that waited too long for the ones before them (the
    /// sockets fill the hole from the log).
    pub(super) fn release_overdue(&self) {
        let now = Instant::now();
        let mut queued = 0;
        for shard in &self.shared.shards {
            let mut shard = shard.lock().expect("shard lock poisoned");
            for entry in shard.values_mut().filter(|e| e.order.held() > 0) {
                let before = entry.order.held();
                let ready = entry.order.expire(now);
                self.account_held(before, entry.order.held());
                for (_, event) in ready {
                    queued += hand_on(self, &entry.listeners, &Outbound::Event(event)).queued;
                }
            }
        }
        self.shared.metrics.queued.fetch_add(queued, Ordering::Relaxed);
    }
}

thread_local! {
    /// How many listeners the hand-on running on this thread reaches; 0
    /// when none runs. A parked connection woken by it reads this to decide
    /// whether its delivery is written here (see `connection::inline`).
    static HANDING_ON_TO: Cell<usize> = const { Cell::new(0) };
}

/// The number of listeners of the hand-on that is waking a connection on
/// this thread, if one is.
pub(super) fn handing_on_to() -> Option<usize> {
    Some(HANDING_ON_TO.get()).filter(|&listeners| listeners > 0)
}

/// Marks this thread as handing on to `listeners` until dropped.
struct HandingOn {
    before: usize,
}

impl HandingOn {
    fn to(listeners: usize) -> Self {
        Self { before: HANDING_ON_TO.replace(listeners) }
    }
}

impl Drop for HandingOn {
    fn drop(&mut self) {
        HANDING_ON_TO.set(self.before);
    }
}

/// Puts `item` in every listener's queue (or wakes the long-poll waiters).
fn hand_on(hub: &Hub, listeners: &Listeners<Listener>, item: &Outbound) -> Handed {
    let is_event = matches!(item, Outbound::Event(_));
    let mut handed = Handed::default();
    let _marked = HandingOn::to(listeners.len());
    for listener in listeners.values() {
        match listener {
            Listener::Socket(outbox) => match outbox.try_send(item.clone()) {
                Ok(()) => handed.queued += 1,
                Err(Refused::Full) if is_event => {
                    hub.shared.metrics.slow_consumers.fetch_add(1, Ordering::Relaxed);
                    outbox.kick(CloseCode::SlowConsumer);
                }
                Err(Refused::Full) => handed.dropped += 1,
                // The connection is ending; its cleanup removes it from the map.
                Err(Refused::Closed) => {}
            },
            Listener::Waiter(notify) if is_event => notify.notify_one(),
            Listener::Waiter(_) => {}
        }
    }
    handed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_on_marks_its_thread_until_it_ends() {
        assert_eq!(handing_on_to(), None);
        {
            let _outer = HandingOn::to(3);
            assert_eq!(handing_on_to(), Some(3));
            {
                // A hand-on reaching no one (a channel whose listeners left).
                let _inner = HandingOn::to(0);
                assert_eq!(handing_on_to(), None);
            }
            assert_eq!(handing_on_to(), Some(3), "the outer one's mark is back");
        }
        assert_eq!(handing_on_to(), None);
        std::thread::spawn(|| assert_eq!(handing_on_to(), None)).join().unwrap();
    }
}
