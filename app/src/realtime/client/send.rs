//! What pages send on the socket, and what comes back beside events:
//! `publish` with a callback for its ack or nack (failed with `Disconnected`
//! when the socket ends first, so the page can resend with the same client
//! id), `typing` and `activity` (fire and forget), signals applied to each
//! channel's presence and typing state, revocations, and pings for the
//! round-trip time.

use leptos::prelude::*;
use protocol::chat::SignalBody;
use protocol::message::{Ack, Nack, Signal};
use protocol::{ChannelName, ClientMessage};

use super::Client;
use super::browser::now_ms;

/// Why a publish got no ack.
#[derive(Debug, Clone, PartialEq)]
pub enum SendFailure {
    /// No authenticated socket, or it ended before the answer: send again
    /// (with the same client id) once connected.
    Disconnected,
    /// The server refused it; retrying the same request will not help
    /// unless the code is `rate_limited`.
    Refused(Nack),
}

pub type AckCallback = Box<dyn FnOnce(Result<Ack, SendFailure>)>;

impl Client {
    /// Sends `payload` to `channel`; `done` hears the ack or why not.
    pub(crate) fn publish(
        &self,
        channel: &ChannelName,
        client_id: &str,
        payload: serde_json::Value,
        done: AckCallback,
    ) {
        if !self.inner.borrow().authenticated() {
            done(Err(SendFailure::Disconnected));
            return;
        }
        let id = self.next_id();
        self.inner.borrow_mut().pending.insert(id.clone(), done);
        self.send(&ClientMessage::Publish {
            id,
            channel: channel.to_string(),
            client_id: client_id.to_owned(),
            payload,
        });
    }

    /// Sends a dashboard op; `done` hears the ack (with its version) or why not.
    pub(crate) fn send_op(&self, dashboard: &str, op: protocol::dashboard::Op, done: AckCallback) {
        if !self.inner.borrow().authenticated() {
            done(Err(SendFailure::Disconnected));
            return;
        }
        let id = self.next_id();
        self.inner.borrow_mut().pending.insert(id.clone(), done);
        self.send(&ClientMessage::Op { id, dashboard: dashboard.to_owned(), op });
    }

    /// Tells the channel the person is (or stopped) typing; dropped when not live.
    pub(crate) fn typing(&self, channel: &ChannelName, active: bool) {
        if self.inner.borrow().authenticated() {
            self.send(&ClientMessage::Typing { channel: channel.to_string(), active });
        }
    }

    /// Reports that the person used the tab (for online/away).
    pub(crate) fn activity(&self) {
        if self.inner.borrow().authenticated() {
            self.send(&ClientMessage::Activity {});
        }
    }

    /// Whether publishing over the socket is possible now.
    pub(crate) fn can_publish(&self) -> bool {
        self.inner.borrow().authenticated()
    }

    pub(super) fn answer_pending(&self, id: &str, answer: Result<Ack, SendFailure>) {
        let callback = self.inner.borrow_mut().pending.remove(id);
        if let Some(callback) = callback {
            callback(answer);
        }
    }

    /// The socket ended: nobody will answer the outstanding publishes.
    pub(super) fn fail_pending(&self) {
        let pending: Vec<_> = {
            let mut inner = self.inner.borrow_mut();
            inner.subscribing.clear();
            inner.pending.drain().map(|(_, c)| c).collect()
        };
        for callback in pending {
            callback(Err(SendFailure::Disconnected));
        }
    }

    pub(super) fn apply_signal(&self, signal: Signal) {
        let feed = self.inner.borrow().subs.get(&signal.channel).map(|sub| sub.feed);
        let Some(feed) = feed else { return };
        match signal.body {
            SignalBody::Typing { members } => feed.typing.set(members),
            SignalBody::PresenceSnapshot { members } => feed.presence.set(members),
            SignalBody::PresenceUpdate { member } => {
                feed.presence.update(|here| match here.iter_mut().find(|m| m.member_id == member.member_id) {
                    Some(entry) => *entry = member,
                    None => here.push(member),
                })
            }
            SignalBody::PresenceLeave { member_id } => {
                feed.presence.update(|here| here.retain(|m| m.member_id != member_id))
            }
            SignalBody::Metrics { values } => feed.metrics.set(values),
        }
    }

    pub(super) fn apply_revoked(&self, channel: &ChannelName) {
        let feed = self.inner.borrow_mut().subs.remove(channel).map(|sub| sub.feed);
        if let Some(feed) = feed {
            feed.presence.set(Vec::new());
            feed.typing.set(Vec::new());
            feed.revoked.set(true);
        }
    }

    /// Sends a ping carrying the time when the last one is older than `every_ms`.
    pub(super) fn measure_rtt_if_due(&self, every_ms: f64) {
        let due = {
            let inner = self.inner.borrow();
            inner.authenticated() && now_ms() - inner.last_ping_at >= every_ms
        };
        if due {
            let now = now_ms();
            self.inner.borrow_mut().last_ping_at = now;
            self.send(&ClientMessage::Ping { ts: now as i64 });
        }
    }

    pub(super) fn on_pong(&self, ts: i64) {
        let rtt = now_ms() - ts as f64;
        let (average, quality) = {
            let mut inner = self.inner.borrow_mut();
            inner.measurements.rtt(rtt);
            (inner.measurements.average_rtt(), inner.measurements.quality(now_ms()))
        };
        self.set_rtt.set(average.map(|ms| ms.round() as u32));
        self.set_quality.set(quality);
    }
}
