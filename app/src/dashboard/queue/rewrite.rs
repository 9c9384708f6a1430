//! Rewriting queued ops: the bases an op builds on, moving them onto a
//! confirmed version or onto the versions a conflict named, dropping one
//! field's edit, and laying an op over a board for the screen.

use protocol::dashboard::board::Board;
use protocol::dashboard::{Field, FieldConflict, FieldValue, OpKind};

/// The (widget, field, base) each edit of an op is based on; an add counts
/// as every field of the new widget on base 0.
pub(super) fn bases(op: &OpKind, out: &mut Vec<(String, Field, u64)>) {
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
///
/// A delete moves only when nothing else of the widget changed after its
/// base: the confirmed op was mine, but another person's edit in between
/// must still stop the delete (as a conflict) rather than be deleted unseen.
pub(super) fn rebase(op: &mut OpKind, confirmed: &[(String, Field, u64)], version: u64, board: &Board) {
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
            let mine = |field: Field| confirmed.iter().any(|(w, f, _)| w == widget_id && *f == field);
            let touched_by_mine = Field::ALL.into_iter().any(mine);
            let unseen_by_others = board.widgets.get(widget_id.as_str()).is_some_and(|widget| {
                Field::ALL.into_iter().any(|field| !mine(field) && widget.version_of(field) > *base)
            });
            if touched_by_mine && !unseen_by_others {
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
        OpKind::Batch { ops } => ops.iter_mut().for_each(|op| rebase(op, confirmed, version, board)),
        OpKind::Move { .. } | OpKind::Resize { .. } => {}
    }
}

/// Lays an op over a board as if applied, whatever its bases (the screen
/// shows what the person did; the server decides).
pub(super) fn overlay(board: &mut Board, op: &OpKind) {
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

/// Removes the edit of one field from an op; false when nothing is left.
pub(super) fn drop_field(op: &mut OpKind, widget: &str, field: Field) -> bool {
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
pub(super) fn rebase_to_conflicts(op: &mut OpKind, conflicts: &[FieldConflict]) {
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
