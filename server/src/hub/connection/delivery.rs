//! Live delivery: events from the hub's queue, filtered by the subscription's
//! last seq (nothing twice), gaps filled from the log, written in batches.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::Message;

use super::{Connection, End, WRITE_BATCH, write_bounded};
use crate::bus::Published;

impl Connection {
    /// Writes `first` and whatever else is already queued (up to a batch), then
    /// flushes once: one write to the socket for a burst instead of one per event.
    pub(super) async fn deliver_batch(&mut self, first: Arc<Published>) -> Result<(), End> {
        let mut written = u64::from(self.deliver(&first).await?);
        for _ in 1..WRITE_BATCH {
            let Ok(next) = self.queue.try_recv() else { break };
            written += u64::from(self.deliver(&next).await?);
        }
        if written > 0 {
            self.ctx.hub.metrics().frames_out.fetch_add(written, Ordering::Relaxed);
            write_bounded(futures_util::SinkExt::flush(&mut self.socket)).await?;
        }
        Ok(())
    }

    /// Queues one live event on the socket (unflushed); returns whether it was written.
    async fn deliver(&mut self, event: &Published) -> Result<bool, End> {
        let Some(&last) = self.subscriptions.get(&event.channel) else {
            return Ok(false);
        };
        if event.seq <= last {
            return Ok(false); // already sent by a replay
        }
        if event.seq > last + 1 {
            Box::pin(self.replay(&event.channel, event.seq - 1)).await?;
        }
        if let Some(last) = self.subscriptions.get_mut(&event.channel) {
            *last = event.seq;
        }
        let frame = Message::Text(event.frame.clone());
        write_bounded(futures_util::SinkExt::feed(&mut self.socket, frame)).await?;
        Ok(true)
    }
}
