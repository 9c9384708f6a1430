//! The platform calls a session's state calls for: the proof request once the
//! connection completes, and verification once the holder presents.
//!
//! Each call is claimed first (a compare-and-set on the session), so webhooks,
//! the poller and retries never make it twice at once. A claim is a lease: it
//! records when it was taken, and a claim older than the lease that made no
//! progress (the server died between claim and call, or the call hung) is
//! taken back by the stall poller and the call is made again.

use std::sync::atomic::Ordering;

use protocol::connect::SessionStatus;

use super::states::{ConnectionState, ProofState};
use super::{ConnectFlow, FlowError};
use crate::store::now_ms;
use crate::store::sessions::ConnectSession;
use crate::webhook::Observation;

/// Which follow-up a session is ready for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    ProofRequest,
    Verification,
}

/// Whether a claim stamped `claimed_at` has run out at `now`.
fn lapsed(claimed_at: i64, now: i64, lease_ms: i64) -> bool {
    claimed_at <= now.saturating_sub(lease_ms)
}

/// The follow-ups `session` is ready for at `now`: unclaimed, or claimed
/// longer than the lease ago without progress.
fn due(session: &ConnectSession, now: i64, lease_ms: i64) -> Vec<Due> {
    let mut due = Vec::new();
    if session.status.is_terminal() {
        return due;
    }
    let proof_free = !session.proof_requested || lapsed(session.proof_claimed_at, now, lease_ms);
    if session.connection_state == Some(ConnectionState::Completed)
        && session.proof_id.is_none()
        && proof_free
    {
        due.push(Due::ProofRequest);
    }
    let presented = session.proof_state.is_some_and(ProofState::presented);
    let verify_free = !session.verification_started || lapsed(session.verify_claimed_at, now, lease_ms);
    if presented && session.status == SessionStatus::Verifying && verify_free {
        due.push(Due::Verification);
    }
    due
}

impl ConnectFlow {
    fn lease_ms(&self) -> i64 {
        self.settings().claim_lease.as_millis().min(i64::MAX as u128) as i64
    }

    /// Starts the platform calls a session's state calls for, each in its own task.
    pub(super) fn follow_up(&self, session: &ConnectSession) {
        for due in due(session, now_ms(), self.lease_ms()) {
            let flow = self.clone();
            let id = session.id.clone();
            self.inner.hub.tasks().spawn(async move {
                match due {
                    Due::ProofRequest => flow.request_proof(&id).await,
                    Due::Verification => flow.verify(&id).await,
                }
            });
        }
    }

    /// Claims `due` on the session; returns the claimed session, or `None`
    /// when someone else holds it (or it is no longer due). A failed claim is
    /// logged: the poller retries the session.
    async fn claim(&self, session_id: &str, want: Due) -> Option<ConnectSession> {
        let lease_ms = self.lease_ms();
        let mut retaken = false;
        let claimed = self
            .store()
            .update_session(session_id, |s| {
                let now = now_ms();
                if !due(s, now, lease_ms).contains(&want) {
                    return false;
                }
                match want {
                    Due::ProofRequest => {
                        retaken = s.proof_requested;
                        s.proof_requested = true;
                        s.proof_claimed_at = now;
                    }
                    Due::Verification => {
                        retaken = s.verification_started;
                        s.verification_started = true;
                        s.verify_claimed_at = now;
                    }
                }
                true
            })
            .await;
        match claimed {
            Ok(Some(session)) => {
                if retaken {
                    self.inner.metrics.claims_taken_back.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(session = session_id, step = ?want, "claim lease ran out; trying again");
                }
                Some(session)
            }
            Ok(None) => None,
            Err(err) => {
                tracing::error!(session = session_id, step = ?want, error = %err, "claiming a follow-up failed");
                None
            }
        }
    }

    /// Gives a claim back after its call failed, so the next poll retries at
    /// once instead of waiting out the lease. Only our own claim (same stamp).
    async fn release(&self, session_id: &str, want: Due, stamp: i64) {
        let released = self
            .store()
            .update_session(session_id, |s| match want {
                Due::ProofRequest if s.proof_claimed_at == stamp && s.proof_id.is_none() => {
                    std::mem::take(&mut s.proof_requested)
                }
                Due::Verification if s.verify_claimed_at == stamp => {
                    std::mem::take(&mut s.verification_started)
                }
                _ => false,
            })
            .await;
        if let Err(err) = released {
            tracing::error!(session = session_id, step = ?want, error = %err, "releasing a claim failed; the lease will lapse");
        }
    }

    /// Sends the proof request, once per session (per lease).
    async fn request_proof(&self, session_id: &str) {
        let Some(session) = self.claim(session_id, Due::ProofRequest).await else { return };
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
                self.release(session_id, Due::ProofRequest, session.proof_claimed_at).await;
            }
        }
    }

    /// Re-reads the proof, requires `isVerified`, verifies it, reads the
    /// attributes and marks the session verified. Once per session (per lease).
    async fn verify(&self, session_id: &str) {
        let Some(session) = self.claim(session_id, Due::Verification).await else { return };
        let Some(proof_id) = session.proof_id.clone() else { return };
        if let Err(err) = self.verify_proof(session_id, &proof_id).await {
            tracing::warn!(session = session_id, error = %err, "verification failed; the poller retries");
            self.release(session_id, Due::Verification, session.verify_claimed_at).await;
        }
    }

    async fn verify_proof(&self, session_id: &str, proof_id: &str) -> Result<(), FlowError> {
        let agent = &self.inner.agent;
        let proof = agent.proof(proof_id).await?;
        if proof.is_verified != Some(true) {
            self.move_to(session_id, SessionStatus::Failed).await?;
            return Ok(());
        }
        if proof.state.parse::<ProofState>() == Ok(ProofState::PresentationReceived) {
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
                    s.proof_state = Some(ProofState::Done);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected() -> ConnectSession {
        ConnectSession {
            id: "s".into(),
            owner: "o".into(),
            status: SessionStatus::AwaitingShare,
            created_at: 0,
            expires_at: 1,
            updated_at: 0,
            version: 0,
            invitation_url: None,
            record_id: Some("oob".into()),
            connection_id: Some("c".into()),
            connection_state: Some(ConnectionState::Completed),
            wallet_label: None,
            proof_requested: false,
            proof_id: None,
            proof_state: None,
            verification_started: false,
            proof_claimed_at: 0,
            verify_claimed_at: 0,
            attributes: None,
        }
    }

    #[test]
    fn a_claim_holds_for_its_lease_then_lapses() {
        let mut s = connected();
        assert_eq!(due(&s, 10_000, 1_000), vec![Due::ProofRequest]);
        s.proof_requested = true;
        s.proof_claimed_at = 9_500;
        assert!(due(&s, 10_000, 1_000).is_empty(), "held");
        assert_eq!(due(&s, 10_500, 1_000), vec![Due::ProofRequest], "lapsed: taken back");
        s.proof_id = Some("p".into());
        assert!(due(&s, 99_999, 1_000).is_empty(), "progress: the proof exists");
    }

    #[test]
    fn verification_is_due_once_presented_and_its_claim_lapses_too() {
        let mut s = connected();
        s.proof_requested = true;
        s.proof_id = Some("p".into());
        s.proof_state = Some(ProofState::PresentationReceived);
        s.status = SessionStatus::Verifying;
        assert_eq!(due(&s, 10_000, 1_000), vec![Due::Verification]);
        s.verification_started = true;
        s.verify_claimed_at = 9_999;
        assert!(due(&s, 10_000, 1_000).is_empty());
        assert_eq!(due(&s, 11_000, 1_000), vec![Due::Verification]);
        s.status = SessionStatus::Failed;
        assert!(due(&s, 99_999, 1_000).is_empty(), "terminal: nothing");
    }
}
