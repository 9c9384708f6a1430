//! The bodies of the dashboards HTTP API (docs/DASHBOARD.md), and the
//! answer to an op, which the socket carries as `ack`/`nack`.

use serde::{Deserialize, Serialize};

use super::{FieldConflict, Op, Role, Widget};
use crate::ErrorCode;

/// `POST /api/dashboards`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDashboard {
    pub title: String,
}

/// A dashboard in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardSummary {
    pub id: String,
    pub title: String,
    pub role: Role,
    pub widgets: u64,
    pub members: u64,
}

/// `GET /api/dashboards/{id}`: the state as of `head_seq`; subscribe (or
/// sync) from there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardView {
    pub id: String,
    pub title: String,
    pub role: Role,
    /// The newest applied op's version.
    pub version: u64,
    pub widgets: Vec<Widget>,
    pub head_seq: u64,
    pub epoch: String,
}

/// `GET /api/dashboards/{id}?since=N&epoch=E`: the events after `since`, or
/// (when the log no longer has them, or the epoch changed) a fresh snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardChanges {
    pub events: Vec<crate::EventEnvelope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<DashboardView>,
    pub head_seq: u64,
    pub epoch: String,
}

/// `POST /api/dashboards/{id}/ops`: applied in order, each answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitOps {
    pub ops: Vec<Op>,
}

/// The answer to one op, the same over HTTP and (as `ack`/`nack`) on the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum OpOutcome {
    Ack {
        op_seq: u64,
        version: u64,
        /// The seq of the event that carries it.
        seq: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        duplicate: bool,
    },
    Nack {
        op_seq: u64,
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        conflicts: Vec<FieldConflict>,
    },
}

/// `POST /api/dashboards/{id}/ops` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpsOutcome {
    pub results: Vec<OpOutcome>,
}

/// `POST /api/dashboards/{id}/invites`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDashboardInvite {
    pub role: Role,
}

/// A share link for a dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardInvite {
    pub token: String,
    pub role: Role,
    /// The page that accepts it.
    pub path: String,
    pub expires_at: i64,
}

/// `GET /api/dashboard-invites/{token}` and what accepting answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardInvitePreview {
    pub dashboard_id: String,
    pub title: String,
    pub role: Role,
    /// The visitor is a member already (with this role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_as: Option<Role>,
}
