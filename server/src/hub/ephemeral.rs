//! Ephemeral signals: typing and presence. They go through the bus like events
//! (so every node's subscribers get them) but are never appended to the log,
//! never replayed on resume, never in a long-poll answer and carry no seq.

use std::time::{Duration, Instant};

use protocol::chat::{Member, PresenceEntry, SignalBody};
use protocol::message::Signal;
use protocol::{ChannelName, ServerMessage};

use super::presence::PresenceChange;
use super::typing::TooFast;
use super::{ConnectionId, Hub, encode};
use crate::bus::{BusMessage, Signalled};

/// How often typers are expired and idle members marked away: the typing
/// line clears at most this late after the expiry.
const TICK: Duration = Duration::from_millis(500);

fn presence_body(change: PresenceChange) -> SignalBody {
    match change {
        PresenceChange::Update(member) => SignalBody::PresenceUpdate { member },
        PresenceChange::Leave { member_id } => SignalBody::PresenceLeave { member_id },
    }
}

impl Hub {
    /// Sends a signal to the channel's current subscribers on every node.
    pub async fn signal(&self, channel: &ChannelName, body: SignalBody) {
        let frame = encode(&ServerMessage::Signal(Signal { channel: channel.clone(), body }));
        let signal = Signalled { channel: channel.clone(), frame };
        if let Err(err) = self.shared.bus.publish(BusMessage::Signal(signal)).await {
            // Ephemeral by design: the next change carries the full state again.
            tracing::debug!(channel = %channel, error = %err, "signal not sent");
        }
    }

    /// Sends a signal to this node's subscribers of `channel` only (values
    /// each node computes for its own sockets).
    pub fn signal_local(&self, channel: &ChannelName, body: SignalBody) {
        let frame = encode(&ServerMessage::Signal(Signal { channel: channel.clone(), body }));
        self.fan_out(BusMessage::Signal(Signalled { channel: channel.clone(), frame }));
    }

    async fn announce_presence(&self, channel: &ChannelName, change: PresenceChange) {
        if let PresenceChange::Leave { member_id } = &change
            && let Some(typers) = self.shared.typing.clear(channel, member_id)
        {
            self.signal(channel, SignalBody::Typing { members: typers }).await;
        }
        self.signal(channel, presence_body(change)).await;
    }

    /// A member's connection subscribed: announces them if they just arrived,
    /// and returns who is here for that connection's snapshot.
    pub async fn join_presence(
        &self,
        channel: &ChannelName,
        connection: ConnectionId,
        member: &Member,
    ) -> Vec<PresenceEntry> {
        let presence = &self.shared.presence;
        if let Some(change) = presence.join(channel, connection, member, Instant::now()).await {
            self.announce_presence(channel, change).await;
        }
        presence.snapshot(channel).await
    }

    /// The connection left the channel (unsubscribed, revoked or closed).
    pub async fn leave_presence(&self, channel: &ChannelName, connection: ConnectionId) {
        if let Some(change) = self.shared.presence.leave(channel, connection).await {
            self.announce_presence(channel, change).await;
        }
    }

    /// Someone used the tab behind `connection`.
    pub async fn activity(&self, connection: ConnectionId) {
        for (channel, change) in self.shared.presence.activity(connection, Instant::now()).await {
            self.announce_presence(&channel, change).await;
        }
    }

    /// `member` started or stopped typing on `channel`.
    pub async fn typing(&self, channel: &ChannelName, member: &Member, active: bool) -> Result<(), TooFast> {
        if let Some(typers) = self.shared.typing.set(channel, member, active, Instant::now())? {
            self.signal(channel, SignalBody::Typing { members: typers }).await;
        }
        Ok(())
    }

    /// `member_id`'s message arrived: they are not typing it any more.
    pub async fn stopped_typing(&self, channel: &ChannelName, member_id: &str) {
        if let Some(typers) = self.shared.typing.clear(channel, member_id) {
            self.signal(channel, SignalBody::Typing { members: typers }).await;
        }
    }

    /// Who is on `channel` now.
    pub async fn presence_snapshot(&self, channel: &ChannelName) -> Vec<PresenceEntry> {
        self.shared.presence.snapshot(channel).await
    }

    pub(super) fn spawn_ephemeral_ticker(&self) {
        let hub = self.clone();
        self.shared.tasks.spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = hub.shared.shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let now = Instant::now();
                for (channel, typers) in hub.shared.typing.expire(now) {
                    hub.signal(&channel, SignalBody::Typing { members: typers }).await;
                }
                for (channel, change) in hub.shared.presence.sweep(now).await {
                    hub.announce_presence(&channel, change).await;
                }
            }
        });
    }
}
