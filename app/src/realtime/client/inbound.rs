//! Frames from the server: the welcome (its heartbeat), acks and nacks,
//! events, resets, signals, revocations and heartbeats.

use protocol::{ClientMessage, ServerMessage};

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
                if let Some(id) = nack.id.clone() {
                    // A refused subscribe is answered: no ack will file its epoch.
                    self.inner.borrow_mut().subscribing.remove(&id);
                    self.answer_pending(&id, Err(SendFailure::Refused(nack)));
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
