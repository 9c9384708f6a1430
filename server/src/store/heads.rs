//! SQLite only: each channel's log bounds kept in memory, so a subscribe or a
//! poll with nothing to replay costs no query. A reconnect storm is thousands
//! of those at once, all reading the pool while publishers wait for the same
//! two cores (docs/PERFORMANCE.md, step 9).
//!
//! The cache is exact, not merely recent: with SQLite this process is the
//! log's only writer (one node by construction), and every write announces
//! itself twice:
//!
//! - [`LogHeads::begin_write`] when it has taken a seq (`events::next_seq`,
//!   or the log writer's group in `appender::group`), before its
//!   transaction commits: from then on the channel's entry is not
//!   trusted (and if the seq names another epoch of the log, what was read of
//!   the old one is dropped);
//! - [`LogHeads::end_write`] when the committed event is handed to the bus
//!   (`Hub::broadcast`): the entry's head moves to its seq and, once no other
//!   write is in flight, the entry is trusted again. A write known to be rolled
//!   back ends with [`LogHeads::abandon_write`] instead, and moves nothing
//!   (the log writer's one-statement appends, when a head had moved).
//!
//! So a trusted entry's head is the newest committed seq, as a database read
//! at that moment would give. An entry is filled by a database read; a read
//! that raced an invalidation of its kind of channel ([`LogHeads::forget`])
//! is not kept. A write that never ends (its transaction failed, or its task
//! was cancelled between commit and broadcast) leaves its channel untrusted:
//! the channel is read from the database until [`LogHeads::sweep`] drops
//! the entry, when the write is long finished either way.
//!
//! `first_retained` is as of the database read; retention may have removed
//! more since. That is safe: a reader whose events are gone finds the hole in
//! its read (`resume::check`) and resets, as it would had the read come a
//! moment before the retention run.
//!
//! Bounded: at most [`MAX_CHANNELS`] entries. When full, every entry without
//! a write in flight is dropped at once (they are read again on demand).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::{ChannelKind, ChannelName};

use self::epoch::Epoch;
use super::events::LogBounds;

mod epoch;

/// Channels remembered at most; an entry is a few dozen bytes beside the name.
pub const MAX_CHANNELS: usize = 100_000;
/// A write in flight longer than this has finished one way or the other (a
/// SQLite transaction waits 5 s at most for the lock): its entry is read again.
pub const STUCK_WRITE: Duration = Duration::from_secs(60);

/// What is known of one channel's log. An entry lives as long as the
/// channel's subscribers, so it is kept small: 48 bytes, no allocation.
#[derive(Debug)]
struct Entry {
    /// As read from the database (`None`: only writes seen so far).
    read: Option<Read>,
    /// Newest committed seq: the read's head, or a later write's that ended here.
    head: u64,
    /// Writes that took a seq and have not ended.
    in_flight: u32,
    /// When `in_flight` last went from 0 to 1, in seconds since [`Heads::started`].
    busy_since: u32,
}

/// What a database read gave beside the head (kept in [`Entry::head`]).
#[derive(Debug)]
struct Read {
    first_retained: u64,
    epoch: Epoch,
}

#[derive(Debug)]
struct Heads {
    entries: HashMap<ChannelName, Entry>,
    /// Per kind of channel, bumped by every invalidation that may touch that
    /// kind; a database read started before it is not kept. Per kind, so that
    /// forgetting finished sessions does not throw away reads of inboxes.
    generations: [u64; KINDS],
    /// What [`Entry::busy_since`] counts from.
    started: Instant,
}

impl Default for Heads {
    fn default() -> Self {
        Self { entries: HashMap::new(), generations: [0; KINDS], started: Instant::now() }
    }
}

/// How many kinds of channel there are (the length of [`Heads::generations`]).
const KINDS: usize = 4;

fn kind_index(kind: ChannelKind) -> usize {
    match kind {
        ChannelKind::Session => 0,
        ChannelKind::User => 1,
        ChannelKind::Conversation => 2,
        ChannelKind::Dashboard => 3,
    }
}

/// The cache, or nothing (Postgres: other nodes write the log too).
#[derive(Clone, Debug, Default)]
pub struct LogHeads {
    inner: Option<Arc<Mutex<Heads>>>,
    reads: Arc<Reads>,
}

/// How log bounds were answered, for `/metrics`.
#[derive(Debug, Default)]
pub struct Reads {
    pub from_memory: AtomicU64,
    pub from_database: AtomicU64,
}

/// Taken before a database read of a channel's bounds; hands the read to [`LogHeads::fill`].
#[derive(Debug, Clone, Copy)]
pub struct ReadTicket {
    /// The generation of the channel's kind when the read started.
    generation: u64,
}

impl LogHeads {
    /// A cache for a log this process alone writes.
    pub fn sole_writer() -> Self {
        Self { inner: Some(Arc::default()), reads: Arc::default() }
    }

    /// No cache: every lookup misses.
    pub fn disabled() -> Self {
        Self::default()
    }

    pub fn reads(&self) -> &Reads {
        &self.reads
    }

    fn with<R>(&self, f: impl FnOnce(&mut Heads) -> R) -> Option<R> {
        let inner = self.inner.as_ref()?;
        let mut heads = inner.lock().expect("log heads lock poisoned");
        Some(f(&mut heads))
    }

    /// The channel's bounds, when known exactly.
    pub fn lookup(&self, channel: &ChannelName) -> Option<LogBounds> {
        let found = self.committed_head(channel);
        let counter = if found.is_some() { &self.reads.from_memory } else { &self.reads.from_database };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// As [`LogHeads::lookup`], not counted as a subscriber's read: for the
    /// log writer, which checks what it is told anyway.
    pub fn committed_head(&self, channel: &ChannelName) -> Option<LogBounds> {
        self.with(|heads| {
            let entry = heads.entries.get(channel)?;
            let read = entry.read.as_ref().filter(|_| entry.in_flight == 0)?;
            Some(LogBounds {
                head: entry.head,
                first_retained: read.first_retained,
                epoch: read.epoch.as_str().to_owned(),
            })
        })
        .flatten()
    }

    /// Before reading `channel`'s bounds from the database.
    pub fn ticket(&self, channel: &ChannelName) -> ReadTicket {
        let kind = kind_index(channel.kind());
        ReadTicket { generation: self.with(|heads| heads.generations[kind]).unwrap_or_default() }
    }

    /// Keeps what a database read found, unless an invalidation came after
    /// its ticket. Writes that ended meanwhile are merged in (heads only grow).
    pub fn fill(&self, channel: &ChannelName, ticket: ReadTicket, bounds: &LogBounds) {
        self.with(|heads| {
            if heads.generations[kind_index(channel.kind())] != ticket.generation {
                return;
            }
            if !heads.entries.contains_key(channel) {
                heads.make_room();
            }
            let entry = heads.entries.entry(channel.clone()).or_insert_with(Entry::idle);
            entry.head = entry.head.max(bounds.head);
            entry.read =
                Some(Read { first_retained: bounds.first_retained, epoch: Epoch::new(&bounds.epoch) });
        });
    }

    /// A write took `seq` of the log's epoch `epoch` on `channel` and has not
    /// committed yet.
    pub fn begin_write(&self, channel: &ChannelName, seq: u64, epoch: &str) {
        self.with(|heads| {
            if !heads.entries.contains_key(channel) {
                heads.make_room();
            }
            let started = heads.started;
            let entry = heads.entries.entry(channel.clone()).or_insert_with(Entry::idle);
            if entry.read.as_ref().is_some_and(|read| read.epoch.as_str() != epoch) || seq <= entry.head {
                // The log was started again behind our back (its head row deleted).
                entry.read = None;
                entry.head = 0;
            }
            if entry.in_flight == 0 {
                entry.busy_since = seconds_since(started);
            }
            entry.in_flight = entry.in_flight.saturating_add(1);
        });
    }

    /// The write of `seq` on `channel` committed.
    pub fn end_write(&self, channel: &ChannelName, seq: u64) {
        self.with(|heads| match heads.entries.get_mut(channel) {
            Some(entry) if entry.in_flight > 0 => {
                entry.in_flight -= 1;
                entry.head = entry.head.max(seq);
            }
            // Its entry was swept or dropped: whatever is cached was read
            // without this write in mind.
            _ => heads.invalidate(channel.kind(), |name| name == channel),
        });
    }

    /// A write announced with [`LogHeads::begin_write`] was rolled back:
    /// nothing of it was committed, so the head stays where it was.
    pub fn abandon_write(&self, channel: &ChannelName) {
        self.with(|heads| {
            if let Some(entry) = heads.entries.get_mut(channel) {
                entry.in_flight = entry.in_flight.saturating_sub(1);
            }
        });
    }

    /// Forgets the channels of `kind` (their heads were deleted).
    pub fn forget(&self, kind: ChannelKind) {
        self.with(|heads| heads.invalidate(kind, |name| name.kind() == kind));
    }

    /// Drops entries whose writes never ended (see the module comment).
    pub fn sweep(&self) {
        self.with(|heads| {
            let now = seconds_since(heads.started);
            let stuck = |entry: &Entry| {
                entry.in_flight > 0 && u64::from(now.saturating_sub(entry.busy_since)) > STUCK_WRITE.as_secs()
            };
            if heads.entries.values().any(stuck) {
                heads.entries.retain(|_, entry| !stuck(entry));
                heads.bump_all();
            }
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.with(|heads| heads.entries.len()).unwrap_or_default()
    }
}

impl Entry {
    fn idle() -> Self {
        Self { read: None, head: 0, in_flight: 0, busy_since: 0 }
    }
}

/// Whole seconds since `started`, as [`Entry::busy_since`] keeps them (a
/// `u32` lasts 136 years).
fn seconds_since(started: Instant) -> u32 {
    u32::try_from(started.elapsed().as_secs()).unwrap_or(u32::MAX)
}

impl Heads {
    /// Drops what was read of the channels that `matches` (all of `kind`).
    fn invalidate(&mut self, kind: ChannelKind, mut matches: impl FnMut(&ChannelName) -> bool) {
        // Writes in flight keep their count; only what was read goes.
        self.entries.retain(|name, entry| {
            if matches(name) {
                entry.read = None;
            }
            entry.in_flight > 0 || entry.read.is_some()
        });
        self.generations[kind_index(kind)] += 1;
    }

    fn bump_all(&mut self) {
        for generation in &mut self.generations {
            *generation += 1;
        }
    }

    /// Before adding an entry: when full, drop every entry without a write in flight.
    fn make_room(&mut self) {
        if self.entries.len() >= MAX_CHANNELS {
            self.entries.retain(|_, entry| entry.in_flight > 0);
            self.bump_all();
        }
    }
}

#[cfg(test)]
mod tests;
