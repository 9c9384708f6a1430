//! Webhooks in: stored first, deduplicated by (kind, record, state), matched
//! to a session by exact keys only (never "the most recent"), then applied.

use std::sync::atomic::Ordering;

use super::{ConnectFlow, FlowError, machine};
use crate::store::StoreError;
use crate::store::sessions::ConnectSession;
use crate::store::webhooks::Outcome;
use crate::webhook::{Observation, RecordKind, normalize};

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

impl ConnectFlow {
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
    pub(super) async fn apply(&self, session_id: &str, obs: &Observation) -> Result<bool, FlowError> {
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
}
