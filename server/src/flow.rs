//! The wallet-connect flow: connect sessions from QR to registration.
//!
//! - [`machine`]: the forward-only state machines, a pure function.
//! - this file: creating sessions with the agent, ingesting webhooks (store
//!   first, dedupe, correlate exactly, apply), the follow-up calls (proof request
//!   once per session, verification), the stall poller that recovers lost
//!   webhooks by reading the platform, expiry, and registration.
//!
//! Every change is published on the session's channel, so every tab watching
//! it moves at once.

pub mod machine;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use protocol::connect::{SessionStatus, SessionUpdate};
use protocol::{ChannelKind, ChannelName};

use crate::agent::{Agent, AgentError};
use crate::hub::Hub;
use crate::store::sessions::ConnectSession;
use crate::store::webhooks::Outcome;
use crate::store::{Store, StoreError, now_ms};
use crate::webhook::{Observation, RecordKind, normalize};

/// Sessions the stall poller looks at per round, oldest first.
const STALL_BATCH: usize = 50;
/// Longest wait between two polls of one quiet session: an open QR page nobody
/// scans costs the platform one request a minute, not one per poll round.
const POLL_BACKOFF_CAP_MS: i64 = 60_000;

/// Timing of the flow.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    /// How long a QR stays valid.
    pub session_ttl: Duration,
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

/// What became of a webhook, as answered to the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ingested {
    Applied,
    Duplicate,
    Unmatched,
    Ignored,
    Unclassified,
}

#[derive(Debug, Default)]
pub struct FlowMetrics {
    pub webhooks: AtomicU64,
    pub duplicates: AtomicU64,
    pub unmatched: AtomicU64,
    pub recovered_by_polling: AtomicU64,
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
}

/// The channel of a session.
pub fn session_channel(id: &str) -> Result<ChannelName, FlowError> {
    ChannelName::new(ChannelKind::Session, id).map_err(|e| FlowError::Invalid(e.to_string()))
}

impl ConnectFlow {
    pub fn new(store: Store, hub: Hub, agent: Arc<dyn Agent>, settings: FlowSettings) -> Self {
        Self { inner: Arc::new(Inner { store, hub, agent, settings, metrics: FlowMetrics::default() }) }
    }

    pub fn metrics(&self) -> &FlowMetrics {
        &self.inner.metrics
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// A new session for `owner` with a fresh single-use invitation.
    #[tracing::instrument(skip(self))]
    pub async fn start_session(&self, owner: &str) -> Result<ConnectSession, FlowError> {
        let ttl = self.inner.settings.session_ttl.as_millis() as i64;
        let session = self.store().create_connect_session(owner, ttl).await?;
        let invitation = self.inner.agent.create_invitation(&session.id).await?;
        let updated = self
            .store()
            .update_session(&session.id, |s| {
                s.invitation_url = Some(invitation.url.clone());
                s.record_id = Some(invitation.record_id.clone());
                true
            })
            .await?;
        updated.ok_or(FlowError::NotFound)
    }

    /// Stores, deduplicates, correlates and applies one authenticated webhook.
    #[tracing::instrument(skip_all)]
    pub async fn ingest(&self, raw: &str) -> Result<Ingested, FlowError> {
        self.inner.metrics.webhooks.fetch_add(1, Ordering::Relaxed);
        let body: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| FlowError::Invalid(format!("not JSON: {e}")))?;
        let observation = match normalize(&body) {
            Ok(observation) => observation,
            Err(err) => {
                // Kept for inspection under a unique key so repeats are still deduplicated.
                let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(raw.as_bytes()));
                if let Some(id) = self.store().insert_webhook("unknown", &key, "unknown", raw).await? {
                    self.store().set_webhook_outcome(&id, Outcome::Unclassified, None).await?;
                }
                tracing::warn!(error = %err, "webhook not understood; stored");
                return Ok(Ingested::Unclassified);
            }
        };
        let kind = observation.kind.as_str();
        let Some(webhook_id) =
            self.store().insert_webhook(kind, &observation.record_id, &observation.state, raw).await?
        else {
            self.inner.metrics.duplicates.fetch_add(1, Ordering::Relaxed);
            return Ok(Ingested::Duplicate);
        };
        match self.process(&webhook_id, &observation).await {
            Ok(outcome) => Ok(outcome),
            Err(err) => {
                // Not applied: forget it, so the platform's retry is processed
                // instead of being answered as a duplicate.
                let _ = self.store().delete_webhook(&webhook_id).await;
                Err(err)
            }
        }
    }

    /// Correlates and applies a stored webhook.
    async fn process(&self, webhook_id: &str, observation: &Observation) -> Result<Ingested, FlowError> {
        let kind = observation.kind.as_str();
        let Some(session) = self.correlate(observation).await? else {
            self.inner.metrics.unmatched.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                kind,
                record = %observation.record_id,
                state = %observation.state,
                "webhook matches no session; stored, not guessed"
            );
            self.store().set_webhook_outcome(webhook_id, Outcome::Unmatched, None).await?;
            return Ok(Ingested::Unmatched);
        };
        let applied = self.apply(&session.id, observation).await?;
        let outcome = if applied { Outcome::Applied } else { Outcome::Ignored };
        self.store().set_webhook_outcome(webhook_id, outcome, Some(&session.id)).await?;
        Ok(if applied { Ingested::Applied } else { Ingested::Ignored })
    }

    /// Finds the session an observation belongs to, by exact keys only.
    async fn correlate(&self, obs: &Observation) -> Result<Option<ConnectSession>, StoreError> {
        let store = self.store();
        match obs.kind {
            RecordKind::Connection => {
                for record in [&obs.out_of_band_id, &obs.reused_out_of_band_id].into_iter().flatten() {
                    if let Some(session) = store.session_by_record(record).await? {
                        return Ok(Some(session));
                    }
                }
                if let Some(alias) = &obs.alias
                    && let Some(session) = store.connect_session(alias).await?
                {
                    return Ok(Some(session));
                }
                store.session_by_connection(&obs.record_id).await
            }
            RecordKind::Proof => {
                if let Some(session) = store.session_by_proof(&obs.record_id).await? {
                    return Ok(Some(session));
                }
                // The request-sent webhook can beat the answer to our proof request:
                // a session that asked for a proof on this connection and has no
                // proof id yet is the one.
                let Some(connection_id) = &obs.connection_id else { return Ok(None) };
                let session = store.session_by_connection(connection_id).await?;
                Ok(session.filter(|s| s.proof_requested && s.proof_id.is_none()))
            }
        }
    }

    /// Applies an observation and runs what follows from it. Returns whether
    /// the session changed.
    async fn apply(&self, session_id: &str, obs: &Observation) -> Result<bool, FlowError> {
        let mut effect = machine::Effect::Stale;
        let mut shown_before = None;
        let updated = self
            .store()
            .update_session(session_id, |s| {
                shown_before = Some((s.status, s.wallet_label.clone()));
                effect = machine::apply(s, obs);
                effect == machine::Effect::Advanced
            })
            .await?;
        let Some(session) = updated else {
            if effect == machine::Effect::Finished {
                tracing::info!(session = session_id, state = %obs.state, "late webhook for a finished session");
            }
            return Ok(false);
        };
        // Only what a person sees is announced; internal record states are not.
        if shown_before != Some((session.status, session.wallet_label.clone())) {
            self.announce(&session).await;
        }
        self.follow_up(&session);
        Ok(true)
    }

    /// Starts the platform calls a session's new state calls for.
    fn follow_up(&self, session: &ConnectSession) {
        if session.status.is_terminal() {
            return;
        }
        if session.connection_state.as_deref() == Some("completed") && !session.proof_requested {
            let flow = self.clone();
            let id = session.id.clone();
            self.inner.hub.tasks().spawn(async move { flow.request_proof(&id).await });
        }
        let presented = matches!(session.proof_state.as_deref(), Some("presentation-received" | "done"));
        if presented && !session.verification_started && session.status == SessionStatus::Verifying {
            let flow = self.clone();
            let id = session.id.clone();
            self.inner.hub.tasks().spawn(async move { flow.verify(&id).await });
        }
    }

    /// Sends the proof request, once per session.
    async fn request_proof(&self, session_id: &str) {
        let claimed = self
            .store()
            .update_session(session_id, |s| {
                let ready = !s.proof_requested && s.connection_state.as_deref() == Some("completed");
                if ready {
                    s.proof_requested = true;
                }
                ready
            })
            .await;
        let Ok(Some(session)) = claimed else { return };
        let Some(connection_id) = session.connection_id.clone() else { return };
        match self.inner.agent.send_proof_request(&connection_id).await {
            Ok(proof) => {
                let observation = Observation::of_proof(proof, Some(connection_id));
                if let Err(err) = self.apply(session_id, &observation).await {
                    tracing::warn!(session = session_id, error = %err, "recording the proof request failed");
                }
            }
            Err(err) => {
                tracing::warn!(session = session_id, error = %err, "proof request failed; the poller retries");
                let _ =
                    self.store().update_session(session_id, |s| std::mem::take(&mut s.proof_requested)).await;
            }
        }
    }

    /// Re-reads the proof, requires `isVerified`, verifies it, reads the
    /// attributes and marks the session verified. Once per session.
    async fn verify(&self, session_id: &str) {
        let claimed = self
            .store()
            .update_session(session_id, |s| {
                let ready = !s.verification_started && s.proof_id.is_some();
                if ready {
                    s.verification_started = true;
                }
                ready
            })
            .await;
        let Ok(Some(session)) = claimed else { return };
        let Some(proof_id) = session.proof_id.clone() else { return };
        if let Err(err) = self.verify_proof(session_id, &proof_id).await {
            tracing::warn!(session = session_id, error = %err, "verification failed; the poller retries");
            let _ = self
                .store()
                .update_session(session_id, |s| std::mem::take(&mut s.verification_started))
                .await;
        }
    }

    async fn verify_proof(&self, session_id: &str, proof_id: &str) -> Result<(), FlowError> {
        let agent = &self.inner.agent;
        let proof = agent.proof(proof_id).await?;
        if proof.is_verified != Some(true) {
            self.move_to(session_id, SessionStatus::Failed).await?;
            return Ok(());
        }
        if proof.state == "presentation-received" {
            agent.verify(proof_id).await?;
        }
        let attributes = agent.verified_attributes(proof_id).await?;
        let attributes_json =
            serde_json::to_string(&attributes).map_err(|e| FlowError::Invalid(e.to_string()))?;
        let verified = self
            .store()
            .update_session(session_id, |s| {
                let ok = s.status.can_become(SessionStatus::Verified);
                if ok {
                    s.status = SessionStatus::Verified;
                    s.proof_state = Some("done".into());
                    s.attributes = Some(attributes_json.clone());
                }
                ok
            })
            .await?;
        if let Some(session) = verified {
            self.announce(&session).await;
        }
        Ok(())
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

    /// Runs the stall poller and the expiry sweep until shutdown.
    pub fn spawn_background(&self) {
        let flow = self.clone();
        let shutdown = self.inner.hub.shutdown_token().clone();
        self.inner.hub.tasks().spawn(async move {
            let mut every = tokio::time::interval(flow.inner.settings.poll_every);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = every.tick() => {}
                }
                if let Err(err) = flow.sweep().await {
                    tracing::warn!(error = %err, "stall sweep failed");
                }
            }
        });
    }

    /// One round: expire unscanned sessions past their time, and read the
    /// platform for sessions whose webhooks seem lost (it sends each only once).
    pub async fn sweep(&self) -> Result<(), FlowError> {
        let stall_ms = self.inner.settings.stall_after.as_millis() as i64;
        let stalled = self.store().stalled_sessions(now_ms() - stall_ms, STALL_BATCH).await?;
        let poll_ms = self.inner.settings.poll_every.as_millis() as i64;
        for session in stalled {
            if let Err(err) = self.advance_stalled(&session).await {
                tracing::debug!(session = %session.id, error = %err, "polling the platform failed");
            }
            // No-op when the poll changed the session (the update reset the schedule).
            let unchanged = self
                .store()
                .connect_session(&session.id)
                .await?
                .is_some_and(|s| s.version == session.version);
            if unchanged {
                self.store().poll_later(&session.id, poll_ms, POLL_BACKOFF_CAP_MS).await?;
            }
        }
        Ok(())
    }

    async fn advance_stalled(&self, session: &ConnectSession) -> Result<(), FlowError> {
        if session.status == SessionStatus::AwaitingScan && now_ms() >= session.expires_at {
            self.move_to(&session.id, SessionStatus::Expired).await?;
            return Ok(());
        }
        let agent = &self.inner.agent;
        let connected = session.connection_state.as_deref() == Some("completed");
        if !connected && let Some(record_id) = &session.record_id {
            if let Some(connection) = agent.connection_by_record(record_id).await? {
                let observation = Observation::of_connection(connection, record_id);
                if self.apply(&session.id, &observation).await? {
                    self.inner.metrics.recovered_by_polling.fetch_add(1, Ordering::Relaxed);
                }
            }
            return Ok(());
        }
        if let Some(proof_id) = &session.proof_id
            && !matches!(session.proof_state.as_deref(), Some("done" | "abandoned"))
        {
            let proof = agent.proof(proof_id).await?;
            let observation = Observation::of_proof(proof, session.connection_id.clone());
            if self.apply(&session.id, &observation).await? {
                self.inner.metrics.recovered_by_polling.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        // Retry follow-ups whose platform call failed earlier.
        self.follow_up(session);
        Ok(())
    }

    /// Registers the verified visitor `owner` from `session_id`.
    pub async fn register(
        &self,
        owner: &str,
        session_id: &str,
        display_name: &str,
        email: &str,
    ) -> Result<(), FlowError> {
        let display_name = display_name.trim();
        let email = email.trim();
        if display_name.is_empty() || display_name.chars().count() > 100 {
            return Err(FlowError::Invalid("name must be 1 to 100 characters".into()));
        }
        let email_ok = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if !email_ok {
            return Err(FlowError::Invalid("email must look like name@example.org".into()));
        }
        let session = self.store().connect_session(session_id).await?.ok_or(FlowError::NotFound)?;
        if session.owner != owner {
            return Err(FlowError::NotFound);
        }
        if session.status != SessionStatus::Verified {
            return Err(FlowError::NotVerified);
        }
        let attributes = session.attributes.clone().unwrap_or_else(|| "{}".into());
        if !self.store().create_user(owner, display_name, email, &attributes, session_id).await? {
            return Err(FlowError::AlreadyRegistered);
        }
        self.move_to(session_id, SessionStatus::Registered).await
    }
}
