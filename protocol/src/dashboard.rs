//! Live dashboards: widgets on a grid that several people edit at once.
//!
//! Every change is an [`Op`] carrying its client id, a per-client `op_seq`
//! (the correlation id: a replay gets the first answer again) and the base
//! version of each field it changes. The server applies it with
//! [`board::apply`] in one transaction: acknowledged with the new version, or
//! refused with a code that says whether retrying can help; a stale base is a
//! **conflict** carrying the current value, never a silent overwrite. Every
//! applied op is one [`DashboardEvent::Applied`] on `dashboard:<id>`,
//! including the sender's own. docs/DASHBOARD.md shows the JSON.

pub mod api;
pub mod board;

pub use api::{
    CreateDashboard, CreateDashboardInvite, DashboardChanges, DashboardInvite, DashboardInvitePreview,
    DashboardSummary, DashboardView, OpOutcome, OpsOutcome, SubmitOps,
};

use serde::{Deserialize, Serialize};

/// Most widgets on one dashboard (deleted ones do not count).
pub const MAX_WIDGETS: usize = 48;
/// Most ops in one batch, and in one `POST .../ops` request.
pub const MAX_BATCH: usize = 20;
/// Grid columns; `x` is 0 to `GRID_COLUMNS - 1`, `w` 1 to `GRID_COLUMNS`.
pub const GRID_COLUMNS: u32 = 12;
/// Rows a widget may start on (`y` below this).
pub const MAX_ROW: u32 = 100;
/// Tallest widget, in rows.
pub const MAX_HEIGHT: u32 = 8;
/// Longest widget or dashboard title, in characters.
pub const MAX_TITLE_CHARS: usize = 80;
/// Longest widget body, in characters. With [`MAX_BATCH`] it keeps an op
/// well inside one WebSocket frame (`limits::MAX_FRAME_BYTES`).
pub const MAX_BODY_CHARS: usize = 500;
/// Longest client id (per tab), in bytes; `A-Z a-z 0-9 - _` only.
pub const MAX_CLIENT_ID_BYTES: usize = 64;
/// Longest widget id, in bytes (chosen by the client that adds it, so ops
/// made offline can name a widget before the server has seen it).
pub const MAX_WIDGET_ID_BYTES: usize = 40;

// The client's op queue (the seed's numbers, kept).
/// Most ops waiting in a browser's queue; beyond it an edit is refused locally.
pub const MAX_PENDING_OPS: usize = 100;
/// An op without an answer this long is sent again (same op seq: applied once).
pub const OP_TIMEOUT_MS: u64 = 30_000;
/// Wait before sending an op refused with a retryable code again.
pub const RETRY_AFTER_MS: u64 = 5_000;

/// Whether an id (client or widget) is usable: 1 to `max` bytes of `A-Z a-z 0-9 - _`.
pub fn valid_id(id: &str, max: usize) -> bool {
    !id.is_empty()
        && id.len() <= max
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Edits, and invites others.
    Owner,
    Editor,
    /// Reads only.
    Viewer,
}

impl Role {
    pub fn may_write(self) -> bool {
        matches!(self, Self::Owner | Self::Editor)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "owner" => Self::Owner,
            "editor" => Self::Editor,
            "viewer" => Self::Viewer,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WidgetKind {
    /// Text: the body is the note.
    Note,
    /// A live value from `source`; the body is its caption.
    Metric,
}

impl WidgetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Note => "note",
            Self::Metric => "metric",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "note" => Self::Note,
            "metric" => Self::Metric,
            _ => return None,
        })
    }
}

/// Where a metric widget's live value comes from (pushed as a signal on the
/// dashboard's channel, once a second, only while someone has it open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricSource {
    /// Open WebSockets on the serving node.
    Connections,
    /// Events published per second on the serving node.
    EventsPerSecond,
    /// Identity-platform webhooks received since the node started.
    Webhooks,
    /// A demo wave, 0 to 100.
    Demo,
}

impl MetricSource {
    pub const ALL: [Self; 4] = [Self::Connections, Self::EventsPerSecond, Self::Webhooks, Self::Demo];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connections => "connections",
            Self::EventsPerSecond => "events_per_second",
            Self::Webhooks => "webhooks",
            Self::Demo => "demo",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Connections => "Open connections",
            Self::EventsPerSecond => "Events per second",
            Self::Webhooks => "Webhooks received",
            Self::Demo => "Demo wave",
        }
    }
}

/// A widget's top-left cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pos {
    pub x: u32,
    pub y: u32,
}

/// A widget's size in cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Size {
    pub w: u32,
    pub h: u32,
}

/// The separately versioned fields of a widget: edits of different fields
/// never conflict (a move and a retitle of one widget both apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Title,
    Body,
    Source,
    Pos,
    Size,
}

impl Field {
    pub const ALL: [Self; 5] = [Self::Title, Self::Body, Self::Source, Self::Pos, Self::Size];
}

/// A value of one field: `{"field": "title", "value": "Sales"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    Title(String),
    Body(String),
    Source(MetricSource),
    Pos(Pos),
    Size(Size),
}

impl FieldValue {
    pub fn field(&self) -> Field {
        match self {
            Self::Title(_) => Field::Title,
            Self::Body(_) => Field::Body,
            Self::Source(_) => Field::Source,
            Self::Pos(_) => Field::Pos,
            Self::Size(_) => Field::Size,
        }
    }
}

/// A value and the dashboard version that last changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// A widget as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Widget {
    pub id: String,
    pub kind: WidgetKind,
    pub title: Versioned<String>,
    pub body: Versioned<String>,
    pub source: Versioned<MetricSource>,
    pub pos: Versioned<Pos>,
    pub size: Versioned<Size>,
}

impl Widget {
    /// A field's current value and version.
    pub fn get(&self, field: Field) -> (FieldValue, u64) {
        match field {
            Field::Title => (FieldValue::Title(self.title.value.clone()), self.title.version),
            Field::Body => (FieldValue::Body(self.body.value.clone()), self.body.version),
            Field::Source => (FieldValue::Source(self.source.value), self.source.version),
            Field::Pos => (FieldValue::Pos(self.pos.value), self.pos.version),
            Field::Size => (FieldValue::Size(self.size.value), self.size.version),
        }
    }

    pub fn version_of(&self, field: Field) -> u64 {
        self.get(field).1
    }

    /// Sets a field and its version.
    pub fn set(&mut self, value: FieldValue, version: u64) {
        match value {
            FieldValue::Title(v) => self.title = Versioned { value: v, version },
            FieldValue::Body(v) => self.body = Versioned { value: v, version },
            FieldValue::Source(v) => self.source = Versioned { value: v, version },
            FieldValue::Pos(v) => self.pos = Versioned { value: v, version },
            FieldValue::Size(v) => self.size = Versioned { value: v, version },
        }
    }

    /// The newest version of any of its fields.
    pub fn version(&self) -> u64 {
        Field::ALL.into_iter().map(|f| self.version_of(f)).max().unwrap_or(0)
    }
}

/// A widget an op adds, every field given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWidget {
    pub id: String,
    pub kind: WidgetKind,
    pub title: String,
    pub body: String,
    pub source: MetricSource,
    pub pos: Pos,
    pub size: Size,
}

impl NewWidget {
    /// The widget as stored at `version`.
    pub fn at(&self, version: u64) -> Widget {
        Widget {
            id: self.id.clone(),
            kind: self.kind,
            title: Versioned { value: self.title.clone(), version },
            body: Versioned { value: self.body.clone(), version },
            source: Versioned { value: self.source, version },
            pos: Versioned { value: self.pos, version },
            size: Versioned { value: self.size, version },
        }
    }
}

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

/// One live value (a signal, not in the log).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    pub source: MetricSource,
    pub value: f64,
}

#[cfg(test)]
mod tests;
