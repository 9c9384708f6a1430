//! Frames from the server: the welcome (its heartbeat), acks and nacks
//! (a subscribe refused for good ends its feed like a revocation), events,
//! resets, signals, revocations and heartbeats.

use protocol::{ClientMessage, ErrorCode, ServerMessage};

use super::browser::now_ms;
use super::send::SendFailure;
use super::{Client, Link};

impl Client {
    pub(super) fn on_frame(&self, generation: u64, text: &str) {
        if self.inner.borrow().generation != generation {
            return;
        }
        self.inner.borrow_mut().last_frame_at = now_ms();
        let message = match serde_json::from_str::<ServerMessage>(text) {
            Ok(message) => message,
            Err(err) => {
                leptos::logging::warn!("beacon: unreadable frame ignored: {err}");
                return;
            }
        };
        match message {
            // The socket authenticated when it opened (`Client::on_open`).
            ServerMessage::Welcome(welcome) => {
                self.inner.borrow_mut().heartbeat_ms = welcome.heartbeat_interval_ms
            }
            ServerMessage::Ack(ack) => {
                let is_auth = matches!(
                    &self.inner.borrow().link,
                    Link::Open { auth: Some(auth), .. } if *auth == ack.id
                );
                let subscribed = self.inner.borrow_mut().subscribing.remove(&ack.id);
                if is_auth {
                    self.on_authenticated();
                } else if let Some(channel) = subscribed {
                    self.learn_epoch(&channel, ack.epoch.unwrap_or_default());
                } else {
                    self.answer_pending(&ack.id.clone(), Ok(ack));
                }
            }
            ServerMessage::Nack(nack) => {
                leptos::logging::warn!(
                    "beacon: request {:?} refused: {:?} {}",
                    nack.id,
                    nack.code,
                    nack.message
                );
                let Some(id) = nack.id.clone() else { return };
                let refused_subscribe = self.inner.borrow_mut().subscribing.remove(&id);
                match refused_subscribe {
                    // Access ended while this tab was away (left the conversation,
                    // grant withdrawn): the page learns it as it would live.
                    Some(channel)
                        if matches!(nack.code, ErrorCode::Forbidden | ErrorCode::InvalidChannel) =>
                    {
                        self.apply_revoked(&channel)
                    }
                    // Passing (rate, channel count): the next socket asks again.
                    Some(_) => {}
                    None => self.answer_pending(&id, Err(SendFailure::Refused(nack))),
                }
            }
            ServerMessage::Event(event) => self.apply_event(event),
            ServerMessage::Reset(reset) => self.apply_reset(&reset.channel, reset.head_seq, reset.epoch),
            ServerMessage::Signal(signal) => self.apply_signal(signal),
            ServerMessage::Revoked(revoked) => self.apply_revoked(&revoked.channel),
            ServerMessage::Ping { ts } => self.send(&ClientMessage::Pong { ts }),
            ServerMessage::Pong { ts } => self.on_pong(ts),
        }
    }
}
