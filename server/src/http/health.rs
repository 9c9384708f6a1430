//! `GET /health`: liveness and readiness in one answer; 503 when the database
//! does not answer, so a load balancer takes the node out. Redis being away
//! is reported but keeps the node in: it serves from the database meanwhile.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::state::AppState;

/// A database that takes longer than this counts as unreachable.
const DB_PING_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    uptime_secs: u64,
    open_sockets: usize,
    database: DatabaseHealth,
    node: NodeHealth,
}

#[derive(Serialize)]
struct NodeHealth {
    id: String,
    /// Whether this node runs the background jobs (stall poller, retention).
    background_jobs: bool,
    bus: crate::bus::BusStatus,
    /// Whether the last node-lease refresh reached Redis (absent on one node).
    redis_reachable: Option<bool>,
}

#[derive(Serialize)]
struct DatabaseHealth {
    backend: &'static str,
    reachable: bool,
    /// Whether an acknowledged event survives a power loss (see docs/SECURITY.md).
    durable_commits: Option<bool>,
}

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let reachable = tokio::time::timeout(DB_PING_TIMEOUT, state.store.ping()).await.unwrap_or(false);
    let durable_commits = match tokio::time::timeout(DB_PING_TIMEOUT, state.store.durable_commits()).await {
        Ok(Ok(durable)) => Some(durable),
        _ => None,
    };
    let status = if reachable { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Health {
        status: if reachable { "ok" } else { "unavailable" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started_at.elapsed().as_secs(),
        open_sockets: state.hub.connection_count(),
        database: DatabaseHealth { backend: state.store.backend().as_str(), reachable, durable_commits },
        node: NodeHealth {
            id: state.node.id.clone(),
            background_jobs: state.node.leadership.is_leader(),
            bus: state.hub.bus().status(),
            redis_reachable: state.node.redis.as_ref().map(|r| r.reachable()),
        },
    };
    (status, Json(body))
}
