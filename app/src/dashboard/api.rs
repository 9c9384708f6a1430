//! The dashboards HTTP API as the pages call it. Like chat data, it loads in
//! the browser; on the server these never finish, so pages render their
//! loading state there and hydrate from it.

use protocol::dashboard::{
    DashboardInvite, DashboardInvitePreview, DashboardSummary, DashboardView, Op, OpsOutcome, Role,
};
use serde_json::json;

pub use crate::chat::api::CallError;
use crate::chat::api::{get, post};

pub async fn list() -> Result<Vec<DashboardSummary>, CallError> {
    get("/api/dashboards").await
}

pub async fn create(title: String) -> Result<DashboardView, CallError> {
    post("/api/dashboards", &json!({ "title": title })).await
}

pub async fn view(id: String) -> Result<DashboardView, CallError> {
    get(&format!("/api/dashboards/{id}")).await
}

/// Ops over HTTP (no socket): applied in order, each answered.
pub async fn submit(id: String, ops: Vec<Op>) -> Result<OpsOutcome, CallError> {
    post(&format!("/api/dashboards/{id}/ops"), &json!({ "ops": ops })).await
}

pub async fn invite(id: String, role: Role) -> Result<DashboardInvite, CallError> {
    post(&format!("/api/dashboards/{id}/invites"), &json!({ "role": role })).await
}

pub async fn preview(token: String) -> Result<DashboardInvitePreview, CallError> {
    get(&format!("/api/dashboard-invites/{token}")).await
}

pub async fn accept(token: String) -> Result<DashboardInvitePreview, CallError> {
    post(&format!("/api/dashboard-invites/{token}/accept"), &json!({})).await
}
