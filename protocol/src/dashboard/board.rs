//! A dashboard's state and the op applier, as pure functions: the server runs
//! [`apply`] inside its transaction, and every client replays the resulting
//! [`Change`]s with [`Board::apply_changes`], so both hold the same state.
//!
//! Rules: an op applies whole or not at all; each field it sets must carry
//! the version it was based on, and a stale base is a conflict naming the
//! current value (different fields of one widget never conflict); a delete
//! conflicts with any change the deleter did not see. Applying changes is
//! idempotent and ignores anything older than what is there, so a replayed
//! or repeated event cannot undo a newer one.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Change, Field, FieldConflict, FieldValue, GRID_COLUMNS, MAX_BATCH, MAX_BODY_CHARS, MAX_HEIGHT, MAX_ROW,
    MAX_TITLE_CHARS, MAX_WIDGET_ID_BYTES, MAX_WIDGETS, NewWidget, OpKind, Widget, valid_id,
};
use crate::ErrorCode;

/// A dashboard's widgets at a version, and the widgets deleted (with the
/// version that deleted them) so late edits of them are told apart from
/// edits of widgets that never existed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Board {
    pub version: u64,
    pub widgets: BTreeMap<String, Widget>,
    pub deleted: BTreeMap<String, u64>,
}

/// Why an op was refused; nothing changed. None of these goes away by
/// sending the same op again (the retryable refusals come from the server
/// around the applier: rate limits, an unavailable database).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("changed by someone else since you saw it")]
    Conflict(Vec<FieldConflict>),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
}

impl Refusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Invalid(_) => ErrorCode::InvalidPayload,
            Self::TooLarge(_) => ErrorCode::TooLarge,
        }
    }

    pub fn conflicts(&self) -> &[FieldConflict] {
        match self {
            Self::Conflict(conflicts) => conflicts,
            _ => &[],
        }
    }
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal::Invalid(message.into())
}

/// An op reduced to single edits.
enum Edit<'a> {
    Add(&'a NewWidget),
    Set { widget_id: &'a str, value: FieldValue, base: u64 },
    Delete { widget_id: &'a str, base: u64 },
}

fn flatten<'a>(op: &'a OpKind, in_batch: bool, out: &mut Vec<Edit<'a>>) -> Result<(), Refusal> {
    match op {
        OpKind::Add { widget } => out.push(Edit::Add(widget)),
        OpKind::Update { widget_id, changes } => {
            if changes.is_empty() {
                return Err(invalid("an update changes at least one field"));
            }
            for change in changes {
                out.push(Edit::Set { widget_id, value: change.value.clone(), base: change.base });
            }
        }
        OpKind::Move { widget_id, pos, base } => {
            out.push(Edit::Set { widget_id, value: FieldValue::Pos(*pos), base: *base })
        }
        OpKind::Resize { widget_id, size, base } => {
            out.push(Edit::Set { widget_id, value: FieldValue::Size(*size), base: *base })
        }
        OpKind::Delete { widget_id, base } => out.push(Edit::Delete { widget_id, base: *base }),
        OpKind::RestoreLayout { items } => {
            if items.is_empty() {
                return Err(invalid("a layout lists at least one widget"));
            }
            if items.len() > MAX_WIDGETS {
                return Err(Refusal::TooLarge(format!("a layout lists at most {MAX_WIDGETS} widgets")));
            }
            for item in items {
                let widget_id = item.widget_id.as_str();
                out.push(Edit::Set { widget_id, value: FieldValue::Pos(item.pos), base: item.pos_base });
                out.push(Edit::Set { widget_id, value: FieldValue::Size(item.size), base: item.size_base });
            }
        }
        OpKind::Batch { ops } => {
            if in_batch {
                return Err(invalid("a batch cannot hold a batch"));
            }
            if ops.is_empty() {
                return Err(invalid("a batch holds at least one op"));
            }
            if ops.len() > MAX_BATCH {
                return Err(Refusal::TooLarge(format!("a batch holds at most {MAX_BATCH} ops")));
            }
            for inner in ops {
                flatten(inner, true, out)?;
            }
        }
    }
    Ok(())
}

/// A single line of text of at most `max` characters.
fn check_line(what: &str, value: &str, max: usize) -> Result<(), Refusal> {
    if value.chars().count() > max {
        return Err(Refusal::TooLarge(format!("{what} is longer than {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!("{what} contains control characters")));
    }
    Ok(())
}

/// Whether a field's value is one the dashboard can hold.
pub fn check_value(value: &FieldValue) -> Result<(), Refusal> {
    match value {
        FieldValue::Title(title) => check_line("a title", title, MAX_TITLE_CHARS),
        FieldValue::Body(body) => {
            if body.chars().count() > MAX_BODY_CHARS {
                return Err(Refusal::TooLarge(format!("a body is longer than {MAX_BODY_CHARS} characters")));
            }
            if body.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(invalid("a body contains control characters"));
            }
            Ok(())
        }
        FieldValue::Source(_) => Ok(()),
        FieldValue::Pos(pos) if pos.x >= GRID_COLUMNS || pos.y >= MAX_ROW => {
            Err(invalid(format!("a position is x 0 to {} and y 0 to {}", GRID_COLUMNS - 1, MAX_ROW - 1)))
        }
        FieldValue::Size(size)
            if !(1..=GRID_COLUMNS).contains(&size.w) || !(1..=MAX_HEIGHT).contains(&size.h) =>
        {
            Err(invalid(format!("a size is w 1 to {GRID_COLUMNS} and h 1 to {MAX_HEIGHT}")))
        }
        FieldValue::Pos(_) | FieldValue::Size(_) => Ok(()),
    }
}

fn check_new(widget: &NewWidget) -> Result<(), Refusal> {
    if !valid_id(&widget.id, MAX_WIDGET_ID_BYTES) {
        return Err(invalid(format!("a widget id is 1 to {MAX_WIDGET_ID_BYTES} of A-Z a-z 0-9 - _")));
    }
    let values = [
        FieldValue::Title(widget.title.clone()),
        FieldValue::Body(widget.body.clone()),
        FieldValue::Pos(widget.pos),
        FieldValue::Size(widget.size),
    ];
    values.iter().try_for_each(check_value)
}

/// Applies `op` to `board` as the dashboard's next version: the changes it
/// makes, or why it was refused (every conflict at once, so the person sees
/// them all). `board` itself is not touched; apply the changes to keep it.
pub fn apply(board: &Board, op: &OpKind) -> Result<Vec<Change>, Refusal> {
    let mut edits = Vec::new();
    flatten(op, false, &mut edits)?;
    let version = board.version + 1;
    let mut live = board.widgets.len();
    let mut added = BTreeSet::new();
    let mut deleting = BTreeSet::new();
    let mut touched = BTreeSet::new();
    let mut conflicts = Vec::new();
    let mut changes = Vec::new();
    for edit in edits {
        match edit {
            Edit::Add(widget) => {
                check_new(widget)?;
                let id = widget.id.as_str();
                if board.widgets.contains_key(id) || board.deleted.contains_key(id) || !added.insert(id) {
                    return Err(invalid(format!("widget id `{id}` is taken")));
                }
                if live >= MAX_WIDGETS {
                    return Err(Refusal::TooLarge(format!(
                        "a dashboard holds at most {MAX_WIDGETS} widgets"
                    )));
                }
                live += 1;
                changes.push(Change::Added { widget: widget.at(version) });
            }
            Edit::Set { widget_id, value, base } => {
                check_value(&value)?;
                let field = value.field();
                if !touched.insert((widget_id, field)) || deleting.contains(widget_id) {
                    return Err(invalid("an op changes each field once, and not of a widget it deletes"));
                }
                if let Some(&deleted_at) = board.deleted.get(widget_id) {
                    conflicts.push(FieldConflict {
                        widget_id: widget_id.into(),
                        field,
                        theirs: None,
                        version: deleted_at,
                    });
                    continue;
                }
                let current = match board.widgets.get(widget_id) {
                    Some(widget) => Some(widget.get(field)),
                    // Its fields are given in the add; a second value in the same op
                    // would share the add's version and be skipped by every client.
                    None if added.contains(widget_id) => {
                        return Err(invalid("set a new widget's fields in its add, not in the same op"));
                    }
                    None => return Err(invalid(format!("no widget `{widget_id}`"))),
                };
                let before = current.as_ref().map_or(0, |(_, v)| *v);
                if base != before {
                    let theirs = current.map(|(value, _)| value);
                    conflicts.push(FieldConflict {
                        widget_id: widget_id.into(),
                        field,
                        theirs,
                        version: before,
                    });
                    continue;
                }
                changes.push(Change::Set { widget_id: widget_id.into(), value, version });
            }
            Edit::Delete { widget_id, base } => {
                if board.deleted.contains_key(widget_id) {
                    // Deleted by someone else already: what the person wanted is done.
                    continue;
                }
                let Some(widget) = board.widgets.get(widget_id) else {
                    return Err(invalid(format!("no widget `{widget_id}` (or added by this op)")));
                };
                if touched.iter().any(|(id, _)| *id == widget_id) || !deleting.insert(widget_id) {
                    return Err(invalid("an op changes each field once, and not of a widget it deletes"));
                }
                let unseen: Vec<_> = Field::ALL
                    .into_iter()
                    .filter(|&f| widget.version_of(f) > base)
                    .map(|field| {
                        let (value, version) = widget.get(field);
                        FieldConflict { widget_id: widget_id.into(), field, theirs: Some(value), version }
                    })
                    .collect();
                if unseen.is_empty() {
                    live -= 1;
                    changes.push(Change::Deleted { widget_id: widget_id.into(), version });
                } else {
                    conflicts.extend(unseen);
                }
            }
        }
    }
    if conflicts.is_empty() { Ok(changes) } else { Err(Refusal::Conflict(conflicts)) }
}

impl Board {
    /// Applies an applied op's changes. Anything not newer than what the
    /// board holds is skipped, so replays and repeats change nothing.
    pub fn apply_changes(&mut self, version: u64, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Added { widget } => {
                    if !self.widgets.contains_key(&widget.id) && !self.deleted.contains_key(&widget.id) {
                        self.widgets.insert(widget.id.clone(), widget.clone());
                    }
                }
                Change::Set { widget_id, value, version } => {
                    if let Some(widget) = self.widgets.get_mut(widget_id)
                        && *version > widget.version_of(value.field())
                    {
                        widget.set(value.clone(), *version);
                    }
                }
                Change::Deleted { widget_id, version } => {
                    self.widgets.remove(widget_id);
                    self.deleted.insert(widget_id.clone(), *version);
                }
            }
        }
        self.version = self.version.max(version);
    }

    /// A board holding `widgets` at `version` (a snapshot).
    pub fn from_snapshot(version: u64, widgets: impl IntoIterator<Item = Widget>) -> Self {
        Self {
            version,
            widgets: widgets.into_iter().map(|w| (w.id.clone(), w)).collect(),
            deleted: BTreeMap::new(),
        }
    }

    /// Widgets in reading order: by row, then column.
    pub fn in_order(&self) -> Vec<&Widget> {
        let mut list: Vec<_> = self.widgets.values().collect();
        list.sort_by(|a, b| {
            (a.pos.value.y, a.pos.value.x, &a.id).cmp(&(b.pos.value.y, b.pos.value.x, &b.id))
        });
        list
    }
}

#[cfg(test)]
mod tests;
