//! The application state every handler receives: cheap to clone, no globals.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

#[cfg(feature = "dev-agent")]
use crate::agent::dev::DevAgent;
use crate::auth::token::TokenKeys;
use crate::chat::Chat;
use crate::cluster::leader::Leadership;
use crate::cluster::redis::RedisNode;
use crate::config::{Config, Secret};
use crate::flow::ConnectFlow;
use crate::guard::Guards;
use crate::hub::Hub;
use crate::hub::connection::ConnectionContext;
use crate::inbox::Inbox;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub hub: Hub,
    pub keys: TokenKeys,
    pub leptos_options: LeptosOptions,
    pub started_at: Instant,
    /// Which node this is, and whether it runs the background jobs.
    pub node: NodeInfo,
    pub flow: ConnectFlow,
    pub webhooks: WebhookAuth,
    /// The notification inbox.
    pub inbox: Inbox,
    /// Conversations.
    pub chat: Chat,
    /// Live dashboards.
    pub dashboards: crate::dashboard::Dashboards,
    /// What every WebSocket's task shares.
    pub sockets: Arc<ConnectionContext>,
    /// Per-address and whole-server abuse limits.
    pub guards: Guards,
    /// Present when the built-in dev agent stands in for the platform.
    #[cfg(feature = "dev-agent")]
    pub dev_agent: Option<DevAgent>,
}

/// This node in the cluster (a cluster of one without Redis).
#[derive(Clone)]
pub struct NodeInfo {
    pub id: String,
    pub leadership: Leadership,
    pub redis: Option<RedisNode>,
}

/// What incoming platform webhooks must present.
#[derive(Clone, Debug)]
pub struct WebhookAuth {
    pub secret: Secret,
    pub org_id: String,
}

impl AppState {
    /// Whether the built-in dev agent is serving (pages show a ribbon then).
    pub fn dev_agent_active(&self) -> bool {
        #[cfg(feature = "dev-agent")]
        return self.dev_agent.is_some();
        #[cfg(not(feature = "dev-agent"))]
        false
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
