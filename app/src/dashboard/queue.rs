//! A dashboard as one browser sees it: the confirmed board (what the server
//! applied, from the snapshot and the channel's events) and the queue of this
//! browser's ops not yet confirmed. What the page shows is the board with the
//! queued ops laid over it, so an edit shows at once and a server update to
//! a field with an unconfirmed change of mine does not make it flicker.
//!
//! Ops go out one at a time in the order they were made; each keeps its op
//! seq for every attempt (a resend is answered as before, never applied
//! twice). A conflict parks the op for the person to resolve without
//! blocking the ones after it; other permanent refusals drop it; retryable
//! ones wait and go again. Pure state, tested on the host; the page drives
//! it and persists it.

use protocol::ErrorCode;
use protocol::dashboard::board::Board;
use protocol::dashboard::{
    DashboardEvent, Field, FieldConflict, MAX_PENDING_OPS, OP_TIMEOUT_MS, Op, OpKind, RETRY_AFTER_MS,
};
use serde::{Deserialize, Serialize};

mod rewrite;

pub use rewrite::mine_of;
use rewrite::{bases, drop_field, overlay, rebase, rebase_to_conflicts};

/// Where a queued op stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OpState {
    /// Waiting for its turn or a connection.
    Queued,
    /// Sent at this time (ms); waiting for the answer.
    Sending { since: f64 },
    /// Refused with a retryable code; goes again after this time (ms).
    Waiting { until: f64 },
    /// Refused as a conflict: the person chooses, field by field.
    Conflict { conflicts: Vec<FieldConflict> },
    /// Applied at `version`, its event not here yet: still laid over the
    /// board (the answer usually beats the event), never sent again.
    Acked { version: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedOp {
    pub op: Op,
    pub state: OpState,
    /// Bumped by every change this tab makes to the entry (its state, a
    /// rebase): when tabs' copies differ, the most changed one is newest.
    #[serde(default)]
    pub rev: u64,
}

/// Why an edit was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueFull {
    Full,
}

/// What answering an op did, for the page to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    Confirmed,
    /// Refused for good and dropped; the change is undone on screen.
    Dropped {
        message: String,
    },
    Conflict,
    WillRetry,
    /// Not an op of this queue (answered already, or another tab's).
    Unknown,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub confirmed: Board,
    pub queue: Vec<QueuedOp>,
}

impl Model {
    pub fn new(confirmed: Board) -> Self {
        Self { confirmed, queue: Vec::new() }
    }

    /// The board as the page shows it: confirmed, with every queued op that
    /// is not in conflict laid over it.
    pub fn view(&self) -> Board {
        let mut board = self.confirmed.clone();
        for queued in self.queue.iter().filter(|q| !matches!(q.state, OpState::Conflict { .. })) {
            overlay(&mut board, &queued.op.op);
        }
        board
    }

    /// The version an edit of `field` builds on: the confirmed one (0 for a
    /// widget only my queue has added yet).
    pub fn base_of(&self, widget_id: &str, field: Field) -> u64 {
        self.confirmed.widgets.get(widget_id).map_or(0, |w| w.version_of(field))
    }

    /// The confirmed version of a whole widget (for deleting it).
    pub fn widget_base(&self, widget_id: &str) -> u64 {
        self.confirmed.widgets.get(widget_id).map_or(0, |w| w.version())
    }

    pub fn enqueue(&mut self, op: Op) -> Result<(), QueueFull> {
        if self.queue.len() >= MAX_PENDING_OPS {
            return Err(QueueFull::Full);
        }
        self.queue.push(QueuedOp { op, state: OpState::Queued, rev: 0 });
        Ok(())
    }

    /// The next op to send at `now`: the oldest one, unless one is in
    /// flight or waiting to be retried (order is kept). A send older than
    /// the op timeout counts as lost and goes again.
    pub fn next_to_send(&mut self, now: f64) -> Option<Op> {
        self.next_batch(now, 1).pop()
    }

    /// Up to `max` ops to send at `now`, oldest first, marked as sent (over
    /// HTTP several go at once: the server applies them in order). A batch
    /// ends before an op on a widget an earlier op of it touches: that one
    /// builds on the earlier one's version, known only from its answer.
    pub fn next_batch(&mut self, now: f64, max: usize) -> Vec<Op> {
        let mut batch = Vec::new();
        let mut touched = std::collections::BTreeSet::new();
        for queued in &mut self.queue {
            if batch.len() >= max {
                break;
            }
            match queued.state {
                OpState::Sending { since } if now - since < OP_TIMEOUT_MS as f64 => break,
                OpState::Waiting { until } if now < until => break,
                OpState::Conflict { .. } | OpState::Acked { .. } => continue,
                OpState::Sending { .. } | OpState::Waiting { .. } | OpState::Queued => {}
            }
            let widgets = queued.op.op.widget_ids();
            if !batch.is_empty() && widgets.iter().any(|w| touched.contains(*w)) {
                break;
            }
            touched.extend(widgets.into_iter().map(str::to_owned));
            queued.state = OpState::Sending { since: now };
            queued.rev += 1;
            batch.push(queued.op.clone());
        }
        batch
    }

    fn position(&self, client_id: &str, op_seq: u64) -> Option<usize> {
        self.queue.iter().position(|q| q.op.client_id == client_id && q.op.op_seq == op_seq)
    }

    /// The op was applied at `version`: later ops built on the same bases
    /// now build on it, and it leaves the queue once the board has its event.
    pub fn acked(&mut self, client_id: &str, op_seq: u64, version: u64) -> Answered {
        let Some(at) = self.position(client_id, op_seq) else { return Answered::Unknown };
        if !matches!(self.queue[at].state, OpState::Acked { .. }) {
            self.queue[at].state = OpState::Acked { version };
            self.queue[at].rev += 1;
            let mut confirmed = Vec::new();
            bases(&self.queue[at].op.op, &mut confirmed);
            for later in &mut self.queue[at + 1..] {
                rebase(&mut later.op.op, &confirmed, version, &self.confirmed);
                later.rev += 1;
            }
        }
        self.settle();
        Answered::Confirmed
    }

    /// Drops the acknowledged ops the confirmed board already includes.
    fn settle(&mut self) {
        let confirmed = self.confirmed.version;
        self.queue.retain(|q| !matches!(q.state, OpState::Acked { version } if version <= confirmed));
    }

    /// The op was refused with `code`.
    pub fn nacked(
        &mut self,
        client_id: &str,
        op_seq: u64,
        code: ErrorCode,
        message: String,
        conflicts: Vec<FieldConflict>,
        now: f64,
    ) -> Answered {
        let Some(at) = self.position(client_id, op_seq) else { return Answered::Unknown };
        if code == ErrorCode::Conflict && !conflicts.is_empty() {
            self.queue[at].state = OpState::Conflict { conflicts };
            self.queue[at].rev += 1;
            Answered::Conflict
        } else if code.retryable() {
            self.queue[at].state = OpState::Waiting { until: now + RETRY_AFTER_MS as f64 };
            self.queue[at].rev += 1;
            Answered::WillRetry
        } else {
            self.queue.remove(at);
            Answered::Dropped { message }
        }
    }

    /// The connection ended before the answer: the op goes again, first.
    pub fn disconnected(&mut self) {
        for queued in &mut self.queue {
            if matches!(queued.state, OpState::Sending { .. }) {
                queued.state = OpState::Queued;
                queued.rev += 1;
            }
        }
    }

    /// An event of the dashboard's channel: applied to the confirmed board;
    /// if it confirms a queued op (its answer was lost, or another tab sent
    /// it), that op is done.
    pub fn on_event(&mut self, event: &DashboardEvent) {
        if let DashboardEvent::Applied { client_id, op_seq, version, changes } = event {
            self.confirmed.apply_changes(*version, changes);
            self.acked(client_id, *op_seq, *version);
            self.settle();
        }
    }

    /// A fresh snapshot (after a reset): the queue stays and is laid over it.
    pub fn replace_confirmed(&mut self, board: Board) {
        self.confirmed = board;
        self.settle();
    }

    /// "Keep mine": the conflicted op is made again as `op_seq` of
    /// `client_id`, each field on the version the conflict named.
    pub fn keep_mine(&mut self, client_id: &str, op_seq: u64, new_client_id: &str, new_op_seq: u64) {
        let Some(at) = self.position(client_id, op_seq) else { return };
        let OpState::Conflict { conflicts } = &self.queue[at].state else { return };
        let conflicts = conflicts.clone();
        self.carry_forward(at, &conflicts);
        let mut op = self.queue[at].op.op.clone();
        rebase_to_conflicts(&mut op, &conflicts);
        self.queue[at] = QueuedOp {
            op: Op { client_id: new_client_id.to_owned(), op_seq: new_op_seq, op },
            state: OpState::Queued,
            rev: 0,
        };
    }

    /// Decides one conflicted field: keep mine (it goes again on the version
    /// the conflict named) or take theirs (my edit of it is dropped). Once
    /// every conflicted field of the op is decided, what is kept goes again
    /// as `new_op_seq` of `new_client_id`; if nothing is kept, the op is
    /// gone. A delete is decided whole. Returns whether `new_op_seq` was used.
    #[allow(clippy::too_many_arguments)]
    pub fn resolve(
        &mut self,
        client_id: &str,
        op_seq: u64,
        widget_id: &str,
        field: Field,
        keep: bool,
        new_client_id: &str,
        new_op_seq: u64,
    ) -> bool {
        let Some(at) = self.position(client_id, op_seq) else { return false };
        if matches!(self.queue[at].op.op, OpKind::Delete { .. }) {
            if keep {
                self.keep_mine(client_id, op_seq, new_client_id, new_op_seq);
            } else {
                self.queue.remove(at);
            }
            return keep;
        }
        let OpState::Conflict { conflicts } = &mut self.queue[at].state else { return false };
        let Some(i) = conflicts.iter().position(|c| c.widget_id == widget_id && c.field == field) else {
            return false;
        };
        let decided = conflicts.remove(i);
        let left = conflicts.is_empty();
        self.queue[at].rev += 1;
        if keep {
            self.carry_forward(at, std::slice::from_ref(&decided));
        }
        let op = &mut self.queue[at].op.op;
        if keep {
            rebase_to_conflicts(op, std::slice::from_ref(&decided));
        } else if !drop_field(op, widget_id, field) {
            // Nothing of the op is left to send.
            self.queue.remove(at);
            return false;
        }
        if !left {
            return false;
        }
        let queued = &mut self.queue[at];
        queued.op.client_id = new_client_id.to_owned();
        queued.op.op_seq = new_op_seq;
        queued.state = OpState::Queued;
        queued.rev += 1;
        true
    }

    /// My later queued edits of a field I keep build on the version the
    /// conflict named, as the kept edit now does (else they would conflict
    /// with my own resent edit).
    fn carry_forward(&mut self, at: usize, conflicts: &[FieldConflict]) {
        let mut old = Vec::new();
        bases(&self.queue[at].op.op, &mut old);
        for conflict in conflicts {
            let Some(&(_, _, base)) =
                old.iter().find(|(w, f, _)| *w == conflict.widget_id && *f == conflict.field)
            else {
                continue;
            };
            let was = [(conflict.widget_id.clone(), conflict.field, base)];
            for later in &mut self.queue[at + 1..] {
                rebase(&mut later.op.op, &was, conflict.version, &self.confirmed);
                later.rev += 1;
            }
        }
    }

    /// "Take theirs": the conflicted op is dropped.
    pub fn take_theirs(&mut self, client_id: &str, op_seq: u64) {
        if let Some(at) = self.position(client_id, op_seq) {
            self.queue.remove(at);
        }
    }

    /// Ops not yet applied and not waiting on the person.
    pub fn pending(&self) -> usize {
        self.queue
            .iter()
            .filter(|q| !matches!(q.state, OpState::Conflict { .. } | OpState::Acked { .. }))
            .count()
    }

    pub fn conflicted(&self) -> impl Iterator<Item = (&Op, &[FieldConflict])> {
        self.queue.iter().filter_map(|q| match &q.state {
            OpState::Conflict { conflicts } => Some((&q.op, conflicts.as_slice())),
            _ => None,
        })
    }
}

/// The identity of an op: its client id and op seq.
pub type OpId = (String, u64);

/// The browser's shared queue as another tab stored it, merged with this
/// tab's copy: every op either has (stored order first, then this tab's new
/// ones), less the ops some tab finished. Where both have an op, the copy
/// changed most recently (higher `rev`) wins, a tie going to the stored one.
/// So two tabs writing at once lose neither's new ops nor the sender's
/// rebases and answers, and an op one tab finished does not come back from
/// another's older copy.
pub fn merge(
    stored: &[QueuedOp],
    local: &[QueuedOp],
    finished: &std::collections::BTreeSet<OpId>,
) -> Vec<QueuedOp> {
    let id = |q: &QueuedOp| (q.op.client_id.clone(), q.op.op_seq);
    let mut merged: Vec<QueuedOp> = stored
        .iter()
        .map(|s| match local.iter().find(|l| id(l) == id(s)) {
            Some(l) if l.rev > s.rev => l.clone(),
            _ => s.clone(),
        })
        .collect();
    merged.extend(local.iter().filter(|l| !stored.iter().any(|s| id(s) == id(l))).cloned());
    merged.retain(|q| !finished.contains(&id(q)));
    merged
}

#[cfg(test)]
mod tests;
