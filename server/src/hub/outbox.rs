//! What the hub hands a connection: a bounded queue of outbound items, and the
//! kick that closes the connection (sent when that queue is full of events).
//!
//! Every idle socket holds one, so it is small: one allocation holding a
//! `VecDeque`, whose buffer is freed whenever the reader goes idle, the
//! reader's waker, and the kick's code. (A Tokio `mpsc` channel allocates its
//! first block of 32 slots and cache-padded counters up front: over a kilobyte
//! per socket, most of it never used.) Producers take the lock only to push and
//! never across an `.await`; the reader is woken once per burst (only a push
//! into an empty queue wakes it; it drains up to a batch per wake-up).
//!
//! The reader's waker is a plain `Waker` kept under the queue's lock, not a
//! `Notify`, so that a parked connection (one with no task, see
//! `connection::park`) can be woken by a push: its waker is the parked state's.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use protocol::{ChannelName, CloseCode};

use crate::bus::{Published, Signalled};

/// One item in a connection's queue.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A logged event: a full queue closes the connection (it resumes by seq).
    Event(Arc<Published>),
    /// An ephemeral signal: a full queue drops it (the next one carries the full state).
    Signal(Arc<Signalled>),
    /// The principal lost access to the channel (left the conversation): end
    /// that subscription now rather than at the next reconnect.
    Revoke(ChannelName),
}

/// Why an item was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds its capacity; the item is not queued.
    Full,
    /// The connection has ended; nothing will read the queue again.
    Closed,
}

/// What the connection reads next.
#[derive(Debug)]
pub enum Next {
    Item(Outbound),
    /// The hub asked the connection to close with this code.
    Kicked(CloseCode),
}

struct Queue {
    items: VecDeque<Outbound>,
    /// The reader is gone: refuse everything from now on.
    closed: bool,
    /// The reader found the queue empty and waits: woken (and taken) by a
    /// push into the empty queue, or a kick.
    waiting: Option<Waker>,
}

struct Mailbox {
    queue: Mutex<Queue>,
    capacity: usize,
    /// The close code the hub asked for; 0 while none. The first one wins.
    kick: AtomicU16,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing under this lock can leave the queue half-changed, and the
        // reader's `Drop` must not panic during an unwind.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where the hub puts items for one connection (cloned into every channel it
/// listens to).
#[derive(Clone)]
pub struct Outbox {
    mailbox: Arc<Mailbox>,
}

/// The connection's end of its outbox; dropping it closes the outbox.
pub struct OutboxReader {
    mailbox: Arc<Mailbox>,
}

/// A queue of at most `capacity` items (at least one).
pub fn outbox(capacity: usize) -> (Outbox, OutboxReader) {
    let mailbox = Arc::new(Mailbox {
        queue: Mutex::new(Queue { items: VecDeque::new(), closed: false, waiting: None }),
        capacity: capacity.max(1),
        kick: AtomicU16::new(0),
    });
    (Outbox { mailbox: mailbox.clone() }, OutboxReader { mailbox })
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `try_lock`: formatting must not wait for (or deadlock on) a push.
        let queued = self.mailbox.queue.try_lock().map(|queue| queue.items.len()).ok();
        f.debug_struct("Outbox").field("queued", &queued).finish()
    }
}

impl Outbox {
    /// Queues `item` unless the queue is full or closed; never waits.
    pub fn try_send(&self, item: Outbound) -> Result<(), Refused> {
        let waiting = {
            let mut queue = self.mailbox.lock();
            if queue.closed {
                return Err(Refused::Closed);
            }
            if queue.items.len() >= self.mailbox.capacity {
                return Err(Refused::Full);
            }
            queue.items.push_back(item);
            // The reader waits only after finding the queue empty, so a push
            // onto a non-empty queue needs no wake-up: it is read in the same
            // drain.
            if queue.items.len() == 1 { queue.waiting.take() } else { None }
        };
        // Woken outside the lock: waking a parked connection starts its task.
        if let Some(waker) = waiting {
            waker.wake();
        }
        Ok(())
    }

    /// Asks the connection to close with `code` (the first code asked for wins).
    pub fn kick(&self, code: CloseCode) {
        let _ = self.mailbox.kick.compare_exchange(0, code.code(), Ordering::AcqRel, Ordering::Acquire);
        // The code is stored before the lock is taken: a reader registering
        // its waker after this finds the code when it checks again.
        let waiting = self.mailbox.lock().waiting.take();
        if let Some(waker) = waiting {
            waker.wake();
        }
    }

    /// Items waiting to be written.
    pub fn queued(&self) -> usize {
        self.mailbox.lock().items.len()
    }
}

impl OutboxReader {
    /// The next item, or the kick: a kicked connection closes without writing
    /// what is still queued (it resumes from its last seq).
    pub fn next(&self) -> impl Future<Output = Next> + Unpin + '_ {
        std::future::poll_fn(|cx| self.poll_next(cx))
    }

    /// [`Self::next`] as a poll: when nothing is queued, `cx`'s waker is kept
    /// and woken by the next push or kick.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        if let Some(code) = self.kicked() {
            return Poll::Ready(Next::Kicked(code));
        }
        {
            let mut queue = self.mailbox.lock();
            if let Some(item) = queue.items.pop_front() {
                return Poll::Ready(Next::Item(item));
            }
            // The reader is about to go idle: an idle socket keeps no slots.
            if queue.items.capacity() > 0 {
                queue.items = VecDeque::new();
            }
            match &mut queue.waiting {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                waiting => *waiting = Some(cx.waker().clone()),
            }
        }
        // A kick between the first check and the waker's registration took no
        // waker: it is seen here.
        match self.kicked() {
            Some(code) => Poll::Ready(Next::Kicked(code)),
            None => Poll::Pending,
        }
    }

    /// The next queued item without waiting; none once the connection is
    /// kicked, so a batch being written stops there.
    pub fn try_next(&self) -> Option<Outbound> {
        if self.kicked().is_some() {
            return None;
        }
        self.mailbox.lock().items.pop_front()
    }

    /// Puts back at the front an item just taken by [`Self::try_next`] and
    /// not handled: it is read first next time. It held a place a moment ago,
    /// so it may take one past the capacity.
    pub fn put_back(&self, item: Outbound) {
        self.mailbox.lock().items.push_front(item);
    }

    fn kicked(&self) -> Option<CloseCode> {
        match self.mailbox.kick.load(Ordering::Acquire) {
            0 => None,
            code => Some(CloseCode::from_code(code).unwrap_or(CloseCode::SlowConsumer)),
        }
    }
}

impl Drop for OutboxReader {
    fn drop(&mut self) {
        let (items, waiting) = {
            let mut queue = self.mailbox.lock();
            queue.closed = true;
            (std::mem::take(&mut queue.items), queue.waiting.take())
        };
        // Dropped outside the lock: the last reference to a parked
        // connection's state may go with the waker.
        drop((items, waiting));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn revoke(id: &str) -> Outbound {
        Outbound::Revoke(ChannelName::parse(&format!("user:{id}")).unwrap())
    }

    fn channel_of(next: Option<Outbound>) -> String {
        match next {
            Some(Outbound::Revoke(channel)) => channel.to_string(),
            other => panic!("expected a revoke, got {other:?}"),
        }
    }

    #[test]
    fn items_come_out_in_order_and_a_full_queue_refuses_without_queuing() {
        let (outbox, reader) = outbox(2);
        assert_eq!(outbox.try_send(revoke("a")), Ok(()));
        assert_eq!(outbox.try_send(revoke("b")), Ok(()));
        assert_eq!(outbox.try_send(revoke("c")), Err(Refused::Full));
        assert_eq!(outbox.queued(), 2);
        assert_eq!(channel_of(reader.try_next()), "user:a");
        assert_eq!(channel_of(reader.try_next()), "user:b");
        assert!(reader.try_next().is_none());
        assert_eq!(outbox.try_send(revoke("d")), Ok(()));
        assert_eq!(channel_of(reader.try_next()), "user:d");
    }

    #[test]
    fn an_item_put_back_is_read_first_even_in_a_full_queue() {
        let (outbox, reader) = outbox(2);
        outbox.try_send(revoke("a")).unwrap();
        outbox.try_send(revoke("b")).unwrap();
        let first = reader.try_next().unwrap();
        outbox.try_send(revoke("c")).unwrap();
        reader.put_back(first);
        assert_eq!(outbox.queued(), 3);
        assert_eq!(channel_of(reader.try_next()), "user:a");
        assert_eq!(channel_of(reader.try_next()), "user:b");
        assert_eq!(channel_of(reader.try_next()), "user:c");
    }

    #[test]
    fn a_dropped_reader_closes_the_outbox() {
        let (outbox, reader) = outbox(4);
        outbox.try_send(revoke("a")).unwrap();
        drop(reader);
        assert_eq!(outbox.try_send(revoke("b")), Err(Refused::Closed));
        assert_eq!(outbox.queued(), 0, "what was queued is freed with the reader");
    }

    #[tokio::test]
    async fn a_reader_going_idle_gives_the_queue_memory_back() {
        let (outbox, reader) = outbox(256);
        for i in 0..200 {
            outbox.try_send(revoke(&i.to_string())).unwrap();
        }
        while reader.try_next().is_some() {}
        assert!(reader.mailbox.lock().items.capacity() >= 200, "draining alone keeps the buffer");
        let idle = tokio::time::timeout(Duration::from_millis(10), reader.next()).await;
        assert!(idle.is_err(), "nothing to read");
        assert_eq!(reader.mailbox.lock().items.capacity(), 0);
    }

    #[tokio::test]
    async fn a_kick_stops_a_batch_and_wakes_a_waiting_reader() {
        let (outbox, reader) = outbox(4);
        outbox.try_send(revoke("a")).unwrap();
        outbox.kick(CloseCode::SlowConsumer);
        assert!(reader.try_next().is_none(), "a batch being written stops at the kick");

        let (outbox, reader) = super::outbox(4);
        let waiting = tokio::spawn(async move { reader.next().await });
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        outbox.kick(CloseCode::Reconnect);
        let next = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("reader woke").unwrap();
        assert!(matches!(next, Next::Kicked(CloseCode::Reconnect)));
    }

    #[tokio::test]
    async fn the_first_kick_wins_over_queued_items_and_later_kicks() {
        let (outbox, reader) = outbox(4);
        outbox.try_send(revoke("a")).unwrap();
        outbox.kick(CloseCode::SlowConsumer);
        outbox.kick(CloseCode::Reconnect);
        assert!(matches!(reader.next().await, Next::Kicked(CloseCode::SlowConsumer)));
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_a_push_from_another_task() {
        let (outbox, reader) = outbox(4);
        let waiting = tokio::spawn(async move {
            match reader.next().await {
                Next::Item(item) => channel_of(Some(item)),
                Next::Kicked(code) => panic!("kicked with {code:?}"),
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        outbox.try_send(revoke("late")).unwrap();
        let channel =
            tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("reader woke").unwrap();
        assert_eq!(channel, "user:late");
    }
}
