//! Live delivery: events from the hub's queue, filtered by the subscription's
//! last seq (nothing twice), gaps filled from the log, written in batches;
//! signals written as they come; revocations ending a subscription.

use std::sync::atomic::Ordering;

use axum::extract::ws::Utf8Bytes;
use protocol::ServerMessage;
use protocol::message::Revoked;

use super::{Connection, End, WRITE_BATCH, write_bounded};
use crate::bus::Published;
use crate::hub::{Outbound, encode};

/// What [`Connection::deliver_batch`] does with a queued item.
pub(super) enum Prepared {
    Write(Utf8Bytes),
    Skip,
    /// A gap to fill from the log first, or a revocation.
    Slow(Outbound),
}

impl Connection {
    /// Writes `first` and whatever else is already queued (up to a batch), then
    /// flushes once: one write to the socket for a burst instead of one per item.
    ///
    /// An event next in its channel's seq and a signal are written here; a
    /// gap to fill or a revocation goes through [`Self::deliver`], boxed. This
    /// future is inline in every socket's task, and sized by what it awaits.
    pub(super) async fn deliver_batch(&mut self, first: Outbound) -> Result<(), End> {
        let mut written = 0u64;
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(item) = next.take() {
            taken += 1;
            match self.prepare(item) {
                Prepared::Write(frame) => {
                    write_bounded(self.socket.feed(frame)).await?;
                    written += 1;
                }
                Prepared::Skip => {}
                Prepared::Slow(item) => written += u64::from(Box::pin(self.deliver(item)).await?),
            }
            if taken < WRITE_BATCH {
                next = self.queue.try_next();
            }
        }
        if written > 0 {
            self.ctx.hub.metrics().frames_out.fetch_add(written, Ordering::Relaxed);
            self.flush().await?;
        }
        Ok(())
    }

    /// What to do with `item`, decided without waiting: the frame of an event
    /// next in its channel (its seq recorded as delivered) or of a signal,
    /// nothing for what is stale or unsubscribed, or the slow path.
    pub(super) fn prepare(&mut self, item: Outbound) -> Prepared {
        match &item {
            Outbound::Event(event) => match self.subscriptions.get_mut(&event.channel) {
                None => Prepared::Skip,
                Some(last) if event.seq <= *last => Prepared::Skip, // already sent by a replay
                Some(last) if event.seq == *last + 1 => {
                    *last = event.seq;
                    Prepared::Write(event.frame.clone())
                }
                Some(_) => Prepared::Slow(item),
            },
            Outbound::Signal(signal) if self.subscriptions.contains_key(&signal.channel) => {
                Prepared::Write(signal.frame.clone())
            }
            Outbound::Signal(_) => Prepared::Skip, // unsubscribed while it was queued
            Outbound::Revoke(_) => Prepared::Slow(item),
        }
    }

    /// Queues one item of any kind on the socket (unflushed); returns whether
    /// a frame was written. The batch's slow path: gaps and revocations.
    async fn deliver(&mut self, item: Outbound) -> Result<bool, End> {
        match item {
            Outbound::Event(event) => self.deliver_event(&event).await,
            Outbound::Signal(signal) => {
                if !self.subscriptions.contains_key(&signal.channel) {
                    return Ok(false); // unsubscribed while it was queued
                }
                let frame = signal.frame.clone();
                write_bounded(self.socket.feed(frame)).await?;
                Ok(true)
            }
            Outbound::Revoke(channel) => {
                if self.subscriptions.remove(&channel).is_none() {
                    return Ok(false);
                }
                self.ctx.hub.remove_listener(&channel, self.id);
                if self.memberships.remove(&channel).is_some() {
                    // Boxed, like inbound handling: rare, and kept out of the task's size.
                    Box::pin(self.ctx.hub.leave_presence(&channel, self.id)).await;
                }
                let frame = encode(&ServerMessage::Revoked(Revoked { channel }));
                write_bounded(self.socket.feed(frame)).await?;
                Ok(true)
            }
        }
    }

    async fn deliver_event(&mut self, event: &Published) -> Result<bool, End> {
        let Some(&last) = self.subscriptions.get(&event.channel) else {
            return Ok(false);
        };
        if event.seq <= last {
            return Ok(false); // already sent by a replay
        }
        if event.seq > last + 1 {
            // Same log, same epoch: a reset here (retention won the race) names none.
            Box::pin(self.replay(&event.channel, event.seq - 1, "")).await?;
        }
        if let Some(last) = self.subscriptions.get_mut(&event.channel) {
            *last = event.seq;
        }
        let frame = event.frame.clone();
        write_bounded(self.socket.feed(frame)).await?;
        Ok(true)
    }
}
