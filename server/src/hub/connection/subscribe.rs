//! Subscriptions: authorize, listen, then replay from the log and continue
//! live (see the module comment of [`super`]); a member is then present on
//! the channel and gets a presence snapshot. Unsubscribe.

use std::sync::atomic::Ordering;

use protocol::chat::SignalBody;
use protocol::message::{Ack, Reset, Signal};
use protocol::{ChannelName, CloseCode, ErrorCode, ResetReason, ServerMessage, limits};

use super::{Connection, DENIALS_BEFORE_CLOSE, End};
use crate::auth::authorize::{self, Access};
use crate::hub::encode_event;
use crate::hub::resume::{self, Read};

impl Connection {
    pub(super) async fn subscribe(
        &mut self,
        id: &str,
        channel: &str,
        since: Option<u64>,
        epoch: Option<&str>,
    ) -> Result<(), End> {
        let channel = match ChannelName::parse(channel) {
            Ok(channel) => channel,
            Err(err) => {
                return self.nack(Some(id), ErrorCode::InvalidChannel, err.to_string()).await;
            }
        };
        let already = self.subscriptions.contains_key(&channel);
        if !already && self.subscriptions.len() >= self.ctx.config.max_channels_per_connection {
            let limit = self.ctx.config.max_channels_per_connection;
            return self
                .nack(Some(id), ErrorCode::TooManyChannels, format!("at most {limit} channels"))
                .await;
        }
        let principal = self.principal.clone().expect("authenticated");
        let store = self.ctx.hub.store().clone();
        let member = match authorize::access(&store, &principal, &channel).await {
            Ok(Access::Member(member)) => Some(member),
            Ok(Access::Read) => None,
            Ok(Access::Denied) => {
                self.denials = self.denials.saturating_add(1);
                if self.denials >= DENIALS_BEFORE_CLOSE {
                    return Err(End::Closed(CloseCode::Forbidden));
                }
                return self.nack(Some(id), ErrorCode::Forbidden, "not allowed on this channel").await;
            }
            Err(err) => {
                tracing::error!(error = %err, "authorization lookup failed");
                return self.nack(Some(id), ErrorCode::Internal, "try again").await;
            }
        };

        // Live first, then the log: see the module comment.
        self.ctx.hub.add_subscriber(&channel, self.id, self.outbox.clone());
        let bounds = match store.log_bounds(&channel).await {
            Ok(bounds) => bounds,
            Err(err) => {
                tracing::error!(error = %err, "reading log bounds failed");
                if !already {
                    self.ctx.hub.remove_listener(&channel, self.id);
                }
                return self.nack(Some(id), ErrorCode::Internal, "try again").await;
            }
        };
        self.ctx.hub.note_head(&channel, self.id, bounds.head);
        let (start, reset) = resume::start(since, epoch, &bounds);
        // Recorded before anything is sent, so the listener is removed with the
        // connection whatever happens next.
        self.subscriptions.insert(channel.clone(), start);
        if let Some(reason) = reset {
            self.reset(&channel, reason, bounds.head, &bounds.epoch).await?;
        }
        if start < bounds.head {
            self.replay(&channel, bounds.head, &bounds.epoch).await?;
        }
        let head_seq = self.subscriptions.get(&channel).copied();
        let epoch = Some(bounds.epoch);
        self.send_message(&ServerMessage::Ack(Ack { head_seq, epoch, ..Ack::of(id) })).await?;
        match member {
            Some(member) if !self.memberships.contains_key(&channel) => {
                let members = self.ctx.hub.join_presence(&channel, self.id, &member).await;
                self.memberships.insert(channel.clone(), member);
                let body = SignalBody::PresenceSnapshot { members };
                self.send_message(&ServerMessage::Signal(Signal { channel, body })).await
            }
            _ => Ok(()),
        }
    }

    pub(super) async fn reset(
        &mut self,
        channel: &ChannelName,
        reason: ResetReason,
        head_seq: u64,
        epoch: &str,
    ) -> Result<(), End> {
        let reset = Reset { channel: channel.clone(), reason, head_seq, epoch: epoch.to_owned() };
        self.send_message(&ServerMessage::Reset(reset)).await
    }

    /// Sends the logged events after the subscription's last seq up to `up_to`
    /// (of the log's epoch `epoch`, named in a reset if one is needed).
    pub(super) async fn replay(&mut self, channel: &ChannelName, up_to: u64, epoch: &str) -> Result<(), End> {
        loop {
            let Some(&last) = self.subscriptions.get(channel) else {
                return Ok(());
            };
            if last >= up_to {
                return Ok(());
            }
            let read =
                resume::read_after(self.ctx.hub.store(), channel, last, up_to, limits::MAX_REPLAY_BATCH)
                    .await
                    .map_err(|err| {
                        tracing::error!(error = %err, "replay read failed");
                        End::Closed(CloseCode::Shutdown)
                    })?;
            let batch = match read {
                Read::Events(batch) => batch,
                Read::Gap => {
                    // Retention removed the gap while we were away from it.
                    self.subscriptions.insert(channel.clone(), up_to);
                    return self.reset(channel, ResetReason::BeyondRetention, up_to, epoch).await;
                }
            };
            for event in &batch {
                self.send(encode_event(event)).await?;
            }
            self.ctx.hub.metrics().replayed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            let newest = batch.last().map_or(last, |e| e.seq);
            self.subscriptions.insert(channel.clone(), newest);
        }
    }

    pub(super) async fn unsubscribe(&mut self, id: &str, channel: &str) -> Result<(), End> {
        let removed = ChannelName::parse(channel).ok().filter(|c| self.subscriptions.remove(c).is_some());
        match removed {
            Some(channel) => {
                self.ctx.hub.remove_listener(&channel, self.id);
                if self.memberships.remove(&channel).is_some() {
                    self.ctx.hub.leave_presence(&channel, self.id).await;
                }
                self.send_message(&ServerMessage::Ack(Ack::of(id))).await
            }
            None => self.nack(Some(id), ErrorCode::NotSubscribed, "not subscribed to that channel").await,
        }
    }
}
