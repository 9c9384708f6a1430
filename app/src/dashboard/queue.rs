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
    DashboardEvent, Field, FieldConflict, FieldValue, MAX_PENDING_OPS, OP_TIMEOUT_MS, Op, OpKind,
    RETRY_AFTER_MS,
};
use serde::{Deserialize, Serialize};

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedOp {
    pub op: Op,
    pub state: OpState,
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

/// The (widget, field, base) each edit of an op is based on; an add counts
/// as every field of the new widget on base 0.
fn bases(op: &OpKind, out: &mut Vec<(String, Field, u64)>) {
    match op {
        OpKind::Add { widget } => out.extend(Field::ALL.map(|f| (widget.id.clone(), f, 0))),
        OpKind::Update { widget_id, changes } => {
            out.extend(changes.iter().map(|c| (widget_id.clone(), c.value.field(), c.base)))
        }
        OpKind::Move { widget_id, base, .. } => out.push((widget_id.clone(), Field::Pos, *base)),
        OpKind::Resize { widget_id, base, .. } => out.push((widget_id.clone(), Field::Size, *base)),
        OpKind::Delete { .. } => {}
        OpKind::RestoreLayout { items } => {
            for item in items {
                out.push((item.widget_id.clone(), Field::Pos, item.pos_base));
                out.push((item.widget_id.clone(), Field::Size, item.size_base));
            }
        }
        OpKind::Batch { ops } => ops.iter().for_each(|op| bases(op, out)),
    }
}

/// Moves the bases of `op` that were the same as an op just confirmed at
/// `version` onto that version: my second edit of a field builds on my first.
fn rebase(op: &mut OpKind, confirmed: &[(String, Field, u64)], version: u64) {
    let was = |widget: &str, field: Field, base: u64| {
        confirmed.iter().any(|(w, f, b)| w == widget && *f == field && *b == base)
    };
    match op {
        OpKind::Add { .. } => {}
        OpKind::Update { widget_id, changes } => {
            for change in changes.iter_mut().filter(|c| was(widget_id, c.value.field(), c.base)) {
                change.base = version;
            }
        }
        OpKind::Move { widget_id, base, .. } if was(widget_id, Field::Pos, *base) => *base = version,
        OpKind::Resize { widget_id, base, .. } if was(widget_id, Field::Size, *base) => *base = version,
        OpKind::Delete { widget_id, base } => {
            let mine = confirmed.iter().filter(|(w, _, _)| w == widget_id).map(|(_, _, b)| *b).max();
            if mine.is_some_and(|newest| *base >= newest) {
                *base = version;
            }
        }
        OpKind::RestoreLayout { items } => {
            for item in items {
                if was(&item.widget_id, Field::Pos, item.pos_base) {
                    item.pos_base = version;
                }
                if was(&item.widget_id, Field::Size, item.size_base) {
                    item.size_base = version;
                }
            }
        }
        OpKind::Batch { ops } => ops.iter_mut().for_each(|op| rebase(op, confirmed, version)),
        OpKind::Move { .. } | OpKind::Resize { .. } => {}
    }
}

/// Lays an op over a board as if applied, whatever its bases (the screen
/// shows what the person did; the server decides).
fn overlay(board: &mut Board, op: &OpKind) {
    let set = |board: &mut Board, widget_id: &str, value: FieldValue| {
        if let Some(widget) = board.widgets.get_mut(widget_id) {
            let version = widget.version_of(value.field());
            widget.set(value, version);
        }
    };
    match op {
        OpKind::Add { widget } => {
            board.widgets.entry(widget.id.clone()).or_insert_with(|| widget.at(0));
        }
        OpKind::Update { widget_id, changes } => {
            changes.iter().for_each(|c| set(board, widget_id, c.value.clone()));
        }
        OpKind::Move { widget_id, pos, .. } => set(board, widget_id, FieldValue::Pos(*pos)),
        OpKind::Resize { widget_id, size, .. } => set(board, widget_id, FieldValue::Size(*size)),
        OpKind::Delete { widget_id, .. } => {
            board.widgets.remove(widget_id);
        }
        OpKind::RestoreLayout { items } => {
            for item in items {
                set(board, &item.widget_id, FieldValue::Pos(item.pos));
                set(board, &item.widget_id, FieldValue::Size(item.size));
            }
        }
        OpKind::Batch { ops } => ops.iter().for_each(|op| overlay(board, op)),
    }
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
        self.queue.push(QueuedOp { op, state: OpState::Queued });
        Ok(())
    }

    /// The next op to send at `now`: the oldest one, unless one is in
    /// flight or waiting to be retried (order is kept). A send older than
    /// the op timeout counts as lost and goes again.
    pub fn next_to_send(&mut self, now: f64) -> Option<Op> {
        self.next_batch(now, 1).pop()
    }

    /// Up to `max` ops to send at `now`, oldest first, marked as sent (over
    /// HTTP several go at once: the server applies them in order).
    pub fn next_batch(&mut self, now: f64, max: usize) -> Vec<Op> {
        let mut batch = Vec::new();
        for queued in &mut self.queue {
            if batch.len() >= max {
                break;
            }
            match queued.state {
                OpState::Sending { since } if now - since < OP_TIMEOUT_MS as f64 => break,
                OpState::Waiting { until } if now < until => break,
                OpState::Conflict { .. } => continue,
                OpState::Sending { .. } | OpState::Waiting { .. } | OpState::Queued => {}
            }
            queued.state = OpState::Sending { since: now };
            batch.push(queued.op.clone());
        }
        batch
    }

    fn position(&self, client_id: &str, op_seq: u64) -> Option<usize> {
        self.queue.iter().position(|q| q.op.client_id == client_id && q.op.op_seq == op_seq)
    }

    /// The op was applied at `version`: it leaves the queue, and later ops
    /// built on the same bases now build on it.
    pub fn acked(&mut self, client_id: &str, op_seq: u64, version: u64) -> Answered {
        let Some(at) = self.position(client_id, op_seq) else { return Answered::Unknown };
        let done = self.queue.remove(at);
        let mut confirmed = Vec::new();
        bases(&done.op.op, &mut confirmed);
        for later in &mut self.queue {
            rebase(&mut later.op.op, &confirmed, version);
        }
        Answered::Confirmed
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
            Answered::Conflict
        } else if code.retryable() {
            self.queue[at].state = OpState::Waiting { until: now + RETRY_AFTER_MS as f64 };
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
        }
    }

    /// A fresh snapshot (after a reset): the queue stays and is laid over it.
    pub fn replace_confirmed(&mut self, board: Board) {
        self.confirmed = board;
    }

    /// "Keep mine": the conflicted op is made again as `op_seq` of
    /// `client_id`, each field on the version the conflict named.
    pub fn keep_mine(&mut self, client_id: &str, op_seq: u64, new_client_id: &str, new_op_seq: u64) {
        let Some(at) = self.position(client_id, op_seq) else { return };
        let OpState::Conflict { conflicts } = &self.queue[at].state else { return };
        let mut op = self.queue[at].op.op.clone();
        rebase_to_conflicts(&mut op, conflicts);
        self.queue[at] = QueuedOp {
            op: Op { client_id: new_client_id.to_owned(), op_seq: new_op_seq, op },
            state: OpState::Queued,
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
        true
    }

    /// "Take theirs": the conflicted op is dropped.
    pub fn take_theirs(&mut self, client_id: &str, op_seq: u64) {
        if let Some(at) = self.position(client_id, op_seq) {
            self.queue.remove(at);
        }
    }

    /// Ops not yet confirmed and not waiting on the person.
    pub fn pending(&self) -> usize {
        self.queue.iter().filter(|q| !matches!(q.state, OpState::Conflict { .. })).count()
    }

    pub fn conflicted(&self) -> impl Iterator<Item = (&Op, &[FieldConflict])> {
        self.queue.iter().filter_map(|q| match &q.state {
            OpState::Conflict { conflicts } => Some((&q.op, conflicts.as_slice())),
            _ => None,
        })
    }
}

/// Removes the edit of one field from an op; false when nothing is left.
fn drop_field(op: &mut OpKind, widget: &str, field: Field) -> bool {
    match op {
        OpKind::Update { widget_id, changes } => {
            if widget_id == widget {
                changes.retain(|c| c.value.field() != field);
            }
            !changes.is_empty()
        }
        OpKind::Move { widget_id, .. } => !(widget_id == widget && field == Field::Pos),
        OpKind::Resize { widget_id, .. } => !(widget_id == widget && field == Field::Size),
        OpKind::RestoreLayout { items } => {
            // A layout item moves and sizes together: taking theirs for either drops the item.
            items.retain(|i| !(i.widget_id == widget && matches!(field, Field::Pos | Field::Size)));
            !items.is_empty()
        }
        OpKind::Batch { ops } => {
            ops.retain_mut(|op| drop_field(op, widget, field));
            !ops.is_empty()
        }
        OpKind::Add { .. } | OpKind::Delete { .. } => true,
    }
}

/// Sets every base a conflict names to the version it reported.
fn rebase_to_conflicts(op: &mut OpKind, conflicts: &[FieldConflict]) {
    let now = |widget: &str, field: Field| {
        conflicts.iter().find(|c| c.widget_id == widget && c.field == field).map(|c| c.version)
    };
    match op {
        OpKind::Update { widget_id, changes } => {
            for change in changes {
                if let Some(v) = now(widget_id, change.value.field()) {
                    change.base = v;
                }
            }
        }
        OpKind::Move { widget_id, base, .. } => *base = now(widget_id, Field::Pos).unwrap_or(*base),
        OpKind::Resize { widget_id, base, .. } => *base = now(widget_id, Field::Size).unwrap_or(*base),
        OpKind::Delete { widget_id, base } => {
            let newest = conflicts.iter().filter(|c| c.widget_id == *widget_id).map(|c| c.version).max();
            *base = newest.unwrap_or(*base).max(*base);
        }
        OpKind::RestoreLayout { items } => {
            for item in items {
                item.pos_base = now(&item.widget_id, Field::Pos).unwrap_or(item.pos_base);
                item.size_base = now(&item.widget_id, Field::Size).unwrap_or(item.size_base);
            }
        }
        OpKind::Batch { ops } => ops.iter_mut().for_each(|op| rebase_to_conflicts(op, conflicts)),
        OpKind::Add { .. } => {}
    }
}

/// What `op` sets `field` of `widget_id` to (for "mine" beside "theirs").
pub fn mine_of(op: &OpKind, widget_id: &str, field: Field) -> Option<FieldValue> {
    match op {
        OpKind::Update { widget_id: w, changes } if w == widget_id => {
            changes.iter().find(|c| c.value.field() == field).map(|c| c.value.clone())
        }
        OpKind::Move { widget_id: w, pos, .. } if w == widget_id && field == Field::Pos => {
            Some(FieldValue::Pos(*pos))
        }
        OpKind::Resize { widget_id: w, size, .. } if w == widget_id && field == Field::Size => {
            Some(FieldValue::Size(*size))
        }
        OpKind::RestoreLayout { items } => {
            items.iter().find(|i| i.widget_id == widget_id).and_then(|i| match field {
                Field::Pos => Some(FieldValue::Pos(i.pos)),
                Field::Size => Some(FieldValue::Size(i.size)),
                _ => None,
            })
        }
        OpKind::Batch { ops } => ops.iter().find_map(|op| mine_of(op, widget_id, field)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
