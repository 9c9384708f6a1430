//! What the hub hands a connection: a bounded queue of outbound items, and the
//! kick that closes the connection when that queue is full.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use protocol::{ChannelName, CloseCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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

/// Tells a connection task to close itself with a code (used when its queue is full).
#[derive(Debug, Default)]
pub struct Kick {
    token: CancellationToken,
    code: AtomicU16,
}

impl Kick {
    pub(super) fn fire(&self, code: CloseCode) {
        // The first reason wins; later ones describe the same dead connection.
        let _ = self.code.compare_exchange(0, code.code(), Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    pub async fn fired(&self) -> CloseCode {
        self.token.cancelled().await;
        CloseCode::from_code(self.code.load(Ordering::Acquire)).unwrap_or(CloseCode::SlowConsumer)
    }
}

/// Where the hub puts items for one connection.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub queue: mpsc::Sender<Outbound>,
    pub kick: Arc<Kick>,
}
