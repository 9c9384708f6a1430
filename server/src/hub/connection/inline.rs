//! A parked socket's wake handled on the thread that woke it, with no task.
//!
//! Resumed on a task, a parked socket costs a wake-up of one of the socket
//! runtime's threads and two switches between threads for a frame or two,
//! which on this kind of machine cost more than the write itself
//! (docs/PERFORMANCE.md, steps 30 and 31). So what needs no waiting is done
//! where the wake came from, and the connection parks again:
//!
//! - this file: a delivery, written where it was queued when the hand-on
//!   that queued it reaches few listeners (`BEACON_SOCKET_INLINE_MAX_LISTENERS`).
//!   The hand-on holds its channel's shard lock meanwhile, which is why a
//!   wide one starts tasks instead.
//! - [`heartbeat`]: a ping that is due, and the client's pong, on the thread
//!   whose timer or reactor woke the connection.
//!
//! Anything that would wait goes to a task as before: a gap to fill from the
//! log or a revocation (put back, first in the queue), frames the kernel does
//! not take whole ([`Woke::Flush`]), the client's other frames, a lapsed
//! heartbeat or token, a kick.

mod heartbeat;

use std::sync::atomic::Ordering;
use std::task::Poll;

use super::delivery::Prepared;
use super::event_loop::Woke;
use super::{Connection, End, WRITE_BATCH};
use crate::hub::fan_out;

impl Connection {
    /// Handles what woke this parked connection here and parks it again
    /// (`None`, as [`Self::park`]), or gives it back, with what woke it when
    /// that is known, to run on a task.
    pub(super) fn handle_here(self) -> Option<(Self, Option<Woke>)> {
        match fan_out::handing_on_to() {
            Some(listeners) => self.deliver_here(listeners),
            None => self.heartbeat_here(),
        }
    }

    /// Writes what a hand-on to `listeners` on this thread queued.
    fn deliver_here(mut self, listeners: usize) -> Option<(Self, Option<Woke>)> {
        if listeners > self.ctx.config.socket_inline_max_listeners {
            return Some((self, None));
        }
        let mut written = 0u64;
        let mut taken = 0;
        // Queued only while that writes nothing first, so no frame taken from
        // the queue is left unwritten.
        while taken < WRITE_BATCH && self.socket.can_queue_now() {
            let Some(item) = self.queue.try_next() else { break };
            taken += 1;
            match self.prepare(item) {
                Prepared::Write(frame) => {
                    self.socket.queue_now(&frame);
                    written += 1;
                }
                Prepared::Skip => {}
                Prepared::Slow(item) => {
                    // Read first by the task that parking finds it for.
                    self.queue.put_back(item);
                    break;
                }
            }
        }
        if written > 0 {
            self.ctx.hub.metrics().frames_out.fetch_add(written, Ordering::Relaxed);
        }
        if let Err(woke) = self.flush_here() {
            return Some((self, Some(woke)));
        }
        self.ctx.hub.metrics().delivered_inline.fetch_add(1, Ordering::Relaxed);
        self.park_counted(false)
    }

    /// One attempt at writing what is queued. What the kernel does not take
    /// is a task's to write ([`Woke::Flush`]); a failed write, to end.
    fn flush_here(&mut self) -> Result<(), Woke> {
        match self.socket.flush_now() {
            Poll::Ready(Ok(())) => Ok(()),
            Poll::Ready(Err(_)) => Err(Woke::End(End::ClientGone)),
            Poll::Pending => Err(Woke::Flush),
        }
    }
}
