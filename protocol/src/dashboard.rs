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
mod op;

pub use api::{
    CreateDashboard, CreateDashboardInvite, DashboardChanges, DashboardInvite, DashboardInvitePreview,
    DashboardSummary, DashboardView, OpOutcome, OpsOutcome, SubmitOps,
};

pub use op::{Change, DashboardEvent, FieldChange, FieldConflict, LayoutItem, Op, OpKind};
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

/// One live value (a signal, not in the log).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    pub source: MetricSource,
    pub value: f64,
}

#[cfg(test)]
mod tests;
