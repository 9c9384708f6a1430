//! What changes a dashboard: an [`Op`] as a client sends it, what it does
//! ([`OpKind`]), why a field could not be changed ([`FieldConflict`]), and the
//! durable [`DashboardEvent`] an applied op becomes.

use serde::{Deserialize, Serialize};

use super::{Field, FieldValue, NewWidget, Pos, Role, Size, Widget};

/// One field set, on top of the version the client saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    #[serde(flatten)]
    pub value: FieldValue,
    pub base: u64,
}

/// One widget's place in a layout snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutItem {
    pub widget_id: String,
    pub pos: Pos,
    pub size: Size,
    pub pos_base: u64,
    pub size_base: u64,
}

/// What an op does. A batch applies all of its ops or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OpKind {
    Add {
        widget: NewWidget,
    },
    /// Sets title, body or source (`pos` and `size` too, though `move` and
    /// `resize` say it better).
    Update {
        widget_id: String,
        changes: Vec<FieldChange>,
    },
    Move {
        widget_id: String,
        pos: Pos,
        base: u64,
    },
    Resize {
        widget_id: String,
        size: Size,
        base: u64,
    },
    /// `base`: the widget's version (its newest field) the client saw; any
    /// later change to it is a conflict rather than lost with the widget.
    Delete {
        widget_id: String,
        base: u64,
    },
    /// Puts every listed widget back where a saved layout had it.
    RestoreLayout {
        items: Vec<LayoutItem>,
    },
    Batch {
        ops: Vec<OpKind>,
    },
}

impl OpKind {
    /// Every widget the op names.
    pub fn widget_ids(&self) -> std::collections::BTreeSet<&str> {
        let mut ids = std::collections::BTreeSet::new();
        self.collect_widget_ids(&mut ids);
        ids
    }

    fn collect_widget_ids<'a>(&'a self, out: &mut std::collections::BTreeSet<&'a str>) {
        match self {
            Self::Add { widget } => {
                out.insert(&widget.id);
            }
            Self::Update { widget_id, .. }
            | Self::Move { widget_id, .. }
            | Self::Resize { widget_id, .. }
            | Self::Delete { widget_id, .. } => {
                out.insert(widget_id);
            }
            Self::RestoreLayout { items } => out.extend(items.iter().map(|i| i.widget_id.as_str())),
            Self::Batch { ops } => ops.iter().for_each(|op| op.collect_widget_ids(out)),
        }
    }
}

/// An op as sent: over the socket (`{"type": "op", ...}`) or in `POST .../ops`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    /// The tab that made it (random per tab and page load).
    pub client_id: String,
    /// Increasing per client id; with it, the op's identity: a replay is
    /// answered with the first answer and changes nothing.
    pub op_seq: u64,
    pub op: OpKind,
}

/// Why a field could not be changed: someone else changed it after `base`.
/// Carries what it is now, for the person to choose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldConflict {
    pub widget_id: String,
    pub field: Field,
    /// The current value; `None` when the widget was deleted.
    pub theirs: Option<FieldValue>,
    /// The current version (resend on this base to keep yours).
    pub version: u64,
}

/// One effect of an applied op, as the event carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Added {
        widget: Widget,
    },
    Set {
        widget_id: String,
        #[serde(flatten)]
        value: FieldValue,
        version: u64,
    },
    Deleted {
        widget_id: String,
        version: u64,
    },
}

/// The durable events of a `dashboard:` channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DashboardEvent {
    /// An op was applied: the sender matches `client_id` and `op_seq` to
    /// confirm its optimistic change; everyone applies `changes`.
    Applied {
        client_id: String,
        op_seq: u64,
        version: u64,
        changes: Vec<Change>,
    },
    MemberJoined {
        role: Role,
    },
}
