//! Live delivery: events from the hub's queue, filtered by the subscription's
//! last seq (nothing twice), gaps filled from the log, written in batches;
//! signals written as they come; revocations ending a subscription.

use std::sync::atomic::Ordering;

use axum::extract::ws::Message;
use protocol::ServerMessage;
use protocol::message::Revoked;

use super::{Connection, End, WRITE_BATCH, write_bounded};
use crate::bus::Published;
use crate::hub::{Outbound, encode};

impl Connection {
    /// Writes `first` and whatever else is already queued (up to a batch), then
    /// flushes once: one write to the socket for a burst instead of one per item.
    pub(super) async fn deliver_batch(&mut self, first: Outbound) -> Result<(), End> {
        let mut written = u64::from(self.deliver(first).await?);
        for _ in 1..WRITE_BATCH {
            let Some(next) = self.queue.try_next() else { break };
            written += u64::from(self.deliver(next).await?);
        }
        if written > 0 {
            self.ctx.hub.metrics().frames_out.fetch_add(written, Ordering::Relaxed);
            self.flush().await?;
        }
        Ok(())
    }

    /// Queues one item on the socket (unflushed); returns whether a frame was written.
    async fn deliver(&mut self, item: Outbound) -> Result<bool, End> {
        match item {
            Outbound::Event(event) => self.deliver_event(&event).await,
            Outbound::Signal(signal) => {
                if !self.subscriptions.contains_key(&signal.channel) {
                    return Ok(false); // unsubscribed while it was queued
                }
                let frame = Message::Text(signal.frame.clone());
                write_bounded(futures_util::SinkExt::feed(&mut self.socket, frame)).await?;
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
                let frame = Message::Text(encode(&ServerMessage::Revoked(Revoked { channel })));
                write_bounded(futures_util::SinkExt::feed(&mut self.socket, frame)).await?;
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
        let frame = Message::Text(event.frame.clone());
        write_bounded(futures_util::SinkExt::feed(&mut self.socket, frame)).await?;
        Ok(true)
    }
}
