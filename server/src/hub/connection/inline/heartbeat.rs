//! A parked socket's heartbeat, handled on the thread its timer or its bytes
//! woke it on: the ping when it is due, written; the client's pong, read.
//!
//! Ten thousand parked sockets are pinged every interval, and each ping and
//! each pong woke one onto a task of its own: two of the socket threads'
//! wake-ups per socket and interval, for a frame each way
//! (docs/PERFORMANCE.md, step 31). Here both take no task. A ping that finds
//! the client silent past its grace, a token run out, or any frame of the
//! client's other than a pong goes to a task with what woke it, which
//! handles it as the loop always did.

use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use protocol::{ClientMessage, ServerMessage};

use super::super::event_loop::Woke;
use super::super::inbound::parse_client_message;
use super::super::{Connection, INBOUND_BURST};
use crate::hub::encode;
use crate::websocket::{Message, Received};

/// Longer than any pong (`{"type":"pong","ts":` and an `i64`): a longer
/// frame is something else, and goes to a task unparsed.
const PONG_MAX_BYTES: usize = 48;

impl Connection {
    /// Writes a due ping and reads the client's pongs, then parks again
    /// (`None`), or gives the connection back with what woke it, to run on
    /// a task. At most [`INBOUND_BURST`] wakes are handled here at once: a
    /// client that keeps sending goes to a task.
    pub(super) fn heartbeat_here(mut self) -> Option<(Self, Option<Woke>)> {
        if self.ctx.config.socket_heartbeat_on_task {
            return Some((self, None));
        }
        // Whatever is registered with this waker is registered again, with
        // the parked state's or a task's, before anything waits on it.
        let mut cx = Context::from_waker(Waker::noop());
        let mut handled = 0u64;
        let mut given_back = None;
        for _ in 0..INBOUND_BURST {
            let here = if let Poll::Ready(next) = self.queue.poll_next(&mut cx) {
                Err(Woke::from(next))
            } else if self.timer.is_elapsed() {
                // Not polled: polling a timer whose runtime is shutting down
                // panics, and that shutdown fires every timer.
                self.ping_here()
            } else if let Poll::Ready(inbound) = self.socket.poll_recv(&mut cx) {
                self.pong_here(inbound)
            } else {
                break;
            };
            match here {
                Ok(()) => handled += 1,
                Err(woke) => {
                    given_back = Some(woke);
                    break;
                }
            }
        }
        if handled > 0 {
            self.ctx.hub.metrics().heartbeats_inline.fetch_add(handled, Ordering::Relaxed);
        }
        if let Some(woke) = given_back {
            // Every handler of the loop flushes what is queued here too.
            return Some((self, Some(woke)));
        }
        if let Err(woke) = self.flush_here() {
            return Some((self, Some(woke)));
        }
        if handled == INBOUND_BURST as u64 {
            // More may be ready: a task looks.
            return Some((self, None));
        }
        self.park_counted(false)
    }

    /// The timer fired: queues the ping that is due and sets the timer
    /// again. A lapsed heartbeat or token, a write that must wait, or a
    /// timer fired before its time (by its runtime shutting down) is the
    /// task's ([`Woke::Timer`]), which closes, waits, or never runs.
    fn ping_here(&mut self) -> Result<(), Woke> {
        let now = tokio::time::Instant::now();
        if now >= self.deadline
            || now < self.next_ping
            || self.heartbeat_lapsed()
            || !self.socket.can_queue_now()
        {
            return Err(Woke::Timer);
        }
        self.ping_due(now);
        self.socket.queue_now(&encode(&ServerMessage::Ping { ts: crate::store::now_ms() }));
        self.ctx.hub.metrics().frames_out.fetch_add(1, Ordering::Relaxed);
        // Parked, the timer is the deadline's and the ping's only.
        self.reset_timer(None);
        if self.timer.is_elapsed() {
            // Set for later, yet fired: its runtime is shutting down.
            return Err(Woke::Timer);
        }
        Ok(())
    }

    /// A frame arrived: a pong (or a protocol-level ping or pong, which the
    /// socket answers itself) is taken here, under the same rate limit as
    /// on a task. Anything else, or a pong over the limit (refused by the
    /// task, which tells the client), is the task's, whole.
    fn pong_here(&mut self, inbound: Received) -> Result<(), Woke> {
        match &inbound {
            Some(Ok(Message::Ping | Message::Pong)) => {}
            Some(Ok(Message::Text(text))) if is_pong(text) => {
                if !self.limiter.allow(Instant::now()) {
                    return Err(Woke::Inbound(inbound));
                }
                self.rate_violations = 0;
            }
            _ => return Err(Woke::Inbound(inbound)),
        }
        self.count_inbound();
        Ok(())
    }
}

fn is_pong(text: &str) -> bool {
    text.len() <= PONG_MAX_BYTES && matches!(parse_client_message(text), Ok(ClientMessage::Pong { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_pong_is_taken_here() {
        assert!(is_pong(r#"{"type":"pong","ts":1765100000000}"#));
        assert!(is_pong(&format!(r#"{{"type":"pong","ts":{}}}"#, i64::MIN)), "the longest pong fits");
        assert!(!is_pong(r#"{"type":"ping","ts":1}"#));
        assert!(!is_pong(r#"{"type":"pong"}"#), "no ts: the task refuses it");
        assert!(!is_pong(r#"{"type":"pong","ts":"soon"}"#));
        assert!(!is_pong(r#"{"type":"activity"}"#));
        assert!(!is_pong("pong"));
        let padded = format!(r#"{{"type":"pong","ts":1{}}}"#, " ".repeat(PONG_MAX_BYTES));
        assert!(!is_pong(&padded), "longer than any pong: unparsed");
    }
}
