//! The wallet-connect flow: connect sessions from QR to registration.
//!
//! - [`states`]: the platform's connection and proof states, typed.
//! - [`machine`]: the forward-only state machines, a pure function.
//! - [`start`]: creating a session with the agent (or showing the visitor's open one).
//! - [`ingest`]: webhooks: store first, dedupe, correlate exactly, apply.
//! - [`follow_up`]: the platform calls a new state calls for (proof request,
//!   verification), each claimed with a lease so a crash never strands a session.
//! - [`sweeper`]: the stall poller that recovers lost webhooks by reading the
//!   platform, and the deadlines that end every open session.
//! - [`register`]: turning a verified session into a user and a sign-in.
//!
//! Every change is published on the session's channel, so every tab watching
//! it moves at once.

pub mod follow_up;
pub mod ingest;
pub mod machine;
pub mod register;
pub mod start;
pub mod states;
pub mod sweeper;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use protocol::connect::{SessionStatus, SessionUpdate};
use protocol::{ChannelKind, ChannelName};

use crate::agent::{Agent, AgentError};
use crate::cluster::leader::Leadership;
use crate::hub::Hub;
use crate::store::sessions::ConnectSession;
use crate::store::{Store, StoreError};

pub use ingest::Ingested;
pub use register::Registered;

/// Timing of the flow.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    /// How long a QR stays valid.
    pub session_ttl: Duration,
    /// How long after creation a session may be connecting, sharing or verifying.
    pub share_deadline: Duration,
    /// How long after creation a verified session may wait for registration.
    pub register_deadline: Duration,
    /// How long a follow-up claim holds before the poller may take it back.
    pub claim_lease: Duration,
    /// A session unchanged for this long is advanced by polling the platform.
    pub stall_after: Duration,
    /// How often the stall poller and the expiry sweep run.
    pub poll_every: Duration,
}

/// Why a flow request failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("no such session")]
    NotFound,
    #[error("the session is not verified yet")]
    NotVerified,
    #[error("{0}")]
    Invalid(String),
    #[error("this visitor is already registered")]
    AlreadyRegistered,
    #[error("identity platform: {0}")]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default)]
pub struct FlowMetrics {
    pub webhooks: AtomicU64,
    pub duplicates: AtomicU64,
    pub unmatched: AtomicU64,
    pub recovered_by_polling: AtomicU64,
    pub claims_taken_back: AtomicU64,
    pub expired_by_deadline: AtomicU64,
    /// Stall-poller rounds this node ran (zero on nodes that do not lead).
    pub sweep_rounds: AtomicU64,
}

#[derive(Clone)]
pub struct ConnectFlow {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    hub: Hub,
    agent: Arc<dyn Agent>,
    settings: FlowSettings,
    metrics: FlowMetrics,
    /// The stall poller and deadlines run only on the background-jobs leader.
    leadership: Leadership,
}

/// The channel of a session.
pub fn session_channel(id: &str) -> Result<ChannelName, FlowError> {
    ChannelName::new(ChannelKind::Session, id).map_err(|e| FlowError::Invalid(e.to_string()))
}

impl ConnectFlow {
    pub fn new(
        store: Store,
        hub: Hub,
        agent: Arc<dyn Agent>,
        settings: FlowSettings,
        leadership: Leadership,
    ) -> Self {
        let metrics = FlowMetrics::default();
        Self { inner: Arc::new(Inner { store, hub, agent, settings, metrics, leadership }) }
    }

    pub fn metrics(&self) -> &FlowMetrics {
        &self.inner.metrics
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn settings(&self) -> &FlowSettings {
        &self.inner.settings
    }

    /// Moves a session to `status` if that is forward, and announces it.
    async fn move_to(&self, session_id: &str, status: SessionStatus) -> Result<(), FlowError> {
        let moved = self
            .store()
            .update_session(session_id, |s| {
                let forward = s.status.can_become(status);
                if forward {
                    s.status = status;
                }
                forward
            })
            .await?;
        if let Some(session) = moved {
            self.announce(&session).await;
        }
        Ok(())
    }

    /// Publishes the session's status on its channel.
    async fn announce(&self, session: &ConnectSession) {
        let Ok(channel) = session_channel(&session.id) else { return };
        let update = SessionUpdate { status: session.status, wallet_label: session.wallet_label.clone() };
        let payload = serde_json::to_value(&update).expect("session updates serialize");
        if let Err(err) = self.inner.hub.publish(&channel, payload).await {
            tracing::error!(session = %session.id, error = %err, "publishing a session update failed");
        }
    }
}
