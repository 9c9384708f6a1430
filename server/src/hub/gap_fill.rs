//! On a lossy bus (Redis pub/sub), events the bus lost reach subscribers from
//! the log: on a timer, and at once when the bus reconnects, the hub reads the
//! head of every channel it has listeners for and hands on whatever is newer
//! than what it delivered. Connections then fill any hole by seq themselves,
//! so a lost message costs at most one gap-fill period of delay.

use std::collections::HashMap;
use std::time::Duration;

use protocol::ChannelName;

use super::{Hub, encode_event};
use crate::bus::{BusMessage, Published};

/// Channels per head query.
const HEADS_BATCH: usize = 500;
/// Events read per lagging channel in one round; beyond this only the newest
/// is handed on and each connection replays the rest itself.
const EVENTS_PER_CHANNEL: usize = 64;

impl Hub {
    pub(super) fn spawn_gap_fill(&self, every: Duration) {
        let hub = self.clone();
        self.shared.tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = hub.shared.shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                    _ = hub.shared.catch_up.notified() => {}
                }
                if let Err(err) = hub.gap_fill_round().await {
                    tracing::warn!(error = %err, "gap fill failed; retrying next round");
                }
            }
        });
    }

    /// The channels with listeners here, with the newest seq delivered on each.
    fn delivered_seqs(&self) -> Vec<(ChannelName, u64)> {
        let mut all = Vec::new();
        for shard in &self.shared.shards {
            let shard = shard.lock().expect("shard lock poisoned");
            all.extend(shard.iter().map(|(channel, entry)| (channel.clone(), entry.order.delivered())));
        }
        all
    }

    /// One comparison of every listened channel with the log.
    pub async fn gap_fill_round(&self) -> Result<usize, crate::store::StoreError> {
        let mut filled = 0;
        for batch in self.delivered_seqs().chunks(HEADS_BATCH) {
            let names: Vec<ChannelName> = batch.iter().map(|(c, _)| c.clone()).collect();
            let heads: HashMap<ChannelName, u64> =
                self.shared.store.heads(&names).await?.into_iter().collect();
            for (channel, delivered) in batch {
                let Some(&head) = heads.get(channel) else { continue };
                if head <= *delivered {
                    continue;
                }
                let after = (*delivered).max(head.saturating_sub(EVENTS_PER_CHANNEL as u64));
                let events =
                    self.shared.store.events_between(channel, after, head, EVENTS_PER_CHANNEL).await?;
                for event in events {
                    let frame = encode_event(&event);
                    self.fan_out(BusMessage::Event(Published {
                        channel: event.channel,
                        seq: event.seq,
                        frame,
                    }));
                    filled += 1;
                }
            }
        }
        if filled > 0 {
            self.shared.metrics.gap_filled.fetch_add(filled as u64, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(filled, "gap fill delivered events the bus lost");
        }
        Ok(filled)
    }
}
