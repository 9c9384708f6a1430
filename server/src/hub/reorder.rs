//! Puts a channel's live events back in seq order before fan-out.
//!
//! Concurrent publishers append in seq order but reach the bus in whatever
//! order their tasks run, so event 6 can arrive before event 5. Handed on as
//! they come, every socket on the channel would see a gap at 6 and read 5
//! from the database itself: one query per socket for each reordering (seen
//! as most of the CPU of a 19,000-socket fan-out). Held back here for a
//! moment instead, 5 arrives and both go out in order. An event that does
//! not arrive (lost by a lossy bus) releases the ones behind it after
//! [`WAIT`]; the sockets then fill the gap themselves, as before.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Longest an event waits for the ones before it. Under load a publisher's
/// task can sit a long time between its append and its hand-over to the bus:
/// with 20 ms, a 19,000-socket fan-out still released early events often
/// enough to cost 8.8 ms of CPU per 1,000 deliveries; with 250 ms, 3.0 ms
/// (docs/PERFORMANCE.md). The wait only delays events behind one that never
/// comes (its publisher was cancelled in between, or the bus lost it).
pub const WAIT: Duration = Duration::from_millis(250);
/// Most events held per channel; a fuller buffer is released at once.
/// Bounds memory per channel whatever the bus does.
pub const MAX_HELD: usize = 64;

#[derive(Debug)]
pub struct Reorder<T> {
    /// Newest seq handed on (0: nothing yet, so the first event goes straight on).
    delivered: u64,
    /// Events waiting for the ones before them; boxed, and only while there
    /// are some: every channel with a listener keeps a `Reorder`, and almost
    /// none holds anything (docs/PERFORMANCE.md, step 27).
    #[allow(
        clippy::box_collection,
        reason = "a map's 24 bytes in every channel's entry, for what almost none holds"
    )]
    held: Option<Box<BTreeMap<u64, (Instant, T)>>>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Self { delivered: 0, held: None }
    }
}

impl<T> Reorder<T> {
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Nothing handed on yet: start counting after `head` (the log's head as
    /// read by a channel's first subscriber, whose replay covers up to it).
    pub fn start_after(&mut self, head: u64) {
        if self.delivered == 0 && self.held.is_none() {
            self.delivered = head;
        }
    }

    pub fn held(&self) -> usize {
        self.held.as_ref().map_or(0, |held| held.len())
    }

    /// Event `seq` arrived; returns what to hand on now, in seq order. An
    /// event at or below what was handed on is a duplicate (the bus and the
    /// gap fill both brought it) and is dropped.
    pub fn offer(&mut self, seq: u64, item: T, now: Instant) -> Vec<(u64, T)> {
        if self.delivered != 0 && seq <= self.delivered {
            return Vec::new();
        }
        if self.delivered != 0 && seq > self.delivered + 1 {
            let held = self.held.get_or_insert_with(Box::default);
            held.insert(seq, (now, item));
            if held.len() > MAX_HELD {
                return self.release_all();
            }
            return Vec::new();
        }
        self.delivered = seq;
        let mut out = vec![(seq, item)];
        let Some(held) = &mut self.held else { return out };
        while let Some(entry) = held.first_entry() {
            if *entry.key() != self.delivered + 1 {
                break;
            }
            let (seq, (_, item)) = entry.remove_entry();
            self.delivered = seq;
            out.push((seq, item));
        }
        if held.is_empty() {
            self.held = None;
        }
        out
    }

    /// Releases everything held once its oldest event has waited [`WAIT`].
    pub fn expire(&mut self, now: Instant) -> Vec<(u64, T)> {
        let oldest = self.held.as_ref().and_then(|held| held.values().map(|(since, _)| *since).min());
        let overdue = oldest.is_some_and(|oldest| now >= oldest + WAIT);
        if overdue { self.release_all() } else { Vec::new() }
    }

    fn release_all(&mut self) -> Vec<(u64, T)> {
        let held = self.held.take().map(|held| *held).unwrap_or_default();
        let out: Vec<(u64, T)> = held.into_iter().map(|(seq, (_, item))| (seq, item)).collect();
        if let Some((last, _)) = out.last() {
            self.delivered = self.delivered.max(*last);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(out: Vec<(u64, &str)>) -> Vec<u64> {
        out.into_iter().map(|(seq, _)| seq).collect()
    }

    #[test]
    fn an_early_event_waits_for_the_one_before_it() {
        let now = Instant::now();
        let mut order = Reorder::default();
        assert_eq!(seqs(order.offer(4, "d", now)), vec![4], "the first event goes straight on");
        assert_eq!(seqs(order.offer(6, "f", now)), Vec::<u64>::new());
        assert_eq!(seqs(order.offer(7, "g", now)), Vec::<u64>::new());
        assert_eq!(seqs(order.offer(5, "e", now)), vec![5, 6, 7]);
        assert!(order.held.is_none(), "nothing held, nothing allocated");
        assert_eq!(order.delivered(), 7);
        assert_eq!(seqs(order.offer(6, "f", now)), Vec::<u64>::new(), "a duplicate is dropped");
        assert_eq!(seqs(order.offer(8, "h", now)), vec![8]);
    }

    #[test]
    fn a_missing_event_releases_the_rest_after_the_wait() {
        let now = Instant::now();
        let mut order = Reorder::default();
        order.start_after(10);
        assert_eq!(seqs(order.offer(12, "l", now)), Vec::<u64>::new());
        assert_eq!(seqs(order.expire(now + WAIT / 2)), Vec::<u64>::new());
        assert_eq!(seqs(order.expire(now + WAIT)), vec![12]);
        assert_eq!(order.delivered(), 12);
        // 11 after all: too late, the sockets already filled it from the log.
        assert_eq!(seqs(order.offer(11, "k", now)), Vec::<u64>::new());
    }

    #[test]
    fn the_buffer_is_bounded() {
        let now = Instant::now();
        let mut order = Reorder::default();
        order.start_after(1);
        for seq in 3..3 + MAX_HELD as u64 {
            assert!(order.offer(seq, "x", now).is_empty());
        }
        let out = seqs(order.offer(3 + MAX_HELD as u64, "x", now));
        assert_eq!(out.len(), MAX_HELD + 1, "a full buffer goes out at once, in order");
        assert!(out.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(order.held(), 0);
        assert!(order.held.is_none(), "nothing held, nothing allocated");
    }

    #[test]
    fn start_after_only_sets_an_unknown_position() {
        let mut order: Reorder<&str> = Reorder::default();
        order.start_after(5);
        order.start_after(9);
        assert_eq!(order.delivered(), 5);
    }
}
