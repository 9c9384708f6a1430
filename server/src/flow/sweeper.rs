//! The stall poller and the deadlines. The platform sends each webhook once,
//! so a session unchanged for a while is advanced by reading the platform; and
//! every open session ends: unscanned QRs at their expiry, sessions connected
//! but never shared (or stuck verifying) at the share deadline, verified ones
//! nobody registered with at the register deadline.
//!
//! A round takes due sessions soonest-due first, polls a few at once, and
//! starts no new poll after its time budget: a thousand abandoned pages (each
//! backed off to a poll a minute) never delay the recovery of a live session,
//! and a hanging platform call holds one slot, not the round.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use protocol::connect::SessionStatus;

use super::states::{ConnectionState, ProofState};
use super::{ConnectFlow, FlowError};
use crate::store::now_ms;
use crate::store::sessions::{ConnectSession, SessionDeadlines};
use crate::webhook::Observation;

/// Sessions the stall poller takes per round.
const ROUND_BATCH: usize = 100;
/// Platform reads in flight at once during a round.
const ROUND_CONCURRENCY: usize = 8;
/// No new poll starts after this much of a round; the rest wait for the next
/// round, where they come first (they are the soonest due).
const ROUND_BUDGET: Duration = Duration::from_secs(2);
/// Longest wait between two polls of one quiet session: an open QR page nobody
/// scans costs the platform one request a minute, not one per poll round.
const POLL_BACKOFF_CAP_MS: i64 = 60_000;

fn ms(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128) as i64
}

impl ConnectFlow {
    fn deadlines(&self) -> SessionDeadlines {
        SessionDeadlines {
            share_ms: ms(self.settings().share_deadline),
            register_ms: ms(self.settings().register_deadline),
        }
    }

    /// Whether `session` is past the deadline of its current stage at `now`.
    fn past_deadline(&self, session: &ConnectSession, now: i64) -> bool {
        let deadlines = self.deadlines();
        let age = now.saturating_sub(session.created_at);
        match session.status {
            SessionStatus::AwaitingScan => now >= session.expires_at,
            SessionStatus::Connecting | SessionStatus::AwaitingShare | SessionStatus::Verifying => {
                age >= deadlines.share_ms
            }
            SessionStatus::Verified => age >= deadlines.register_ms,
            _ => false,
        }
    }

    /// Runs the stall poller and the deadlines until shutdown.
    pub fn spawn_background(&self) {
        let flow = self.clone();
        let shutdown = self.inner.hub.shutdown_token().clone();
        self.inner.hub.tasks().spawn(async move {
            let mut every = tokio::time::interval(flow.settings().poll_every);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = every.tick() => {}
                }
                if !flow.inner.leadership.is_leader() {
                    continue; // another node runs the poller
                }
                flow.inner.metrics.sweep_rounds.fetch_add(1, Ordering::Relaxed);
                if let Err(err) = flow.sweep().await {
                    tracing::warn!(error = %err, "stall sweep failed");
                }
            }
        });
    }

    /// One round: end sessions past their deadline, and read the platform for
    /// sessions whose webhooks seem lost.
    pub async fn sweep(&self) -> Result<(), FlowError> {
        let started = Instant::now();
        let stall_before = now_ms().saturating_sub(ms(self.settings().stall_after));
        let due = self.store().due_sessions(stall_before, self.deadlines(), ROUND_BATCH).await?;
        futures_util::stream::iter(due)
            .for_each_concurrent(ROUND_CONCURRENCY, |session| async move {
                // Started polls run to the end: cancelling one between its
                // update and its announcement would hide a change from the page.
                if started.elapsed() < ROUND_BUDGET {
                    self.poll_one(&session).await;
                }
            })
            .await;
        Ok(())
    }

    async fn poll_one(&self, session: &ConnectSession) {
        if let Err(err) = self.advance_stalled(session).await {
            tracing::debug!(session = %session.id, error = %err, "polling the platform failed");
        }
        // No-op when the poll changed the session (the update reset the schedule).
        let poll_ms = ms(self.settings().poll_every);
        let unchanged = match self.store().connect_session(&session.id).await {
            Ok(current) => current.is_some_and(|s| s.version == session.version),
            Err(err) => {
                tracing::warn!(session = %session.id, error = %err, "re-reading a polled session failed");
                return;
            }
        };
        if unchanged
            && let Err(err) = self.store().poll_later(&session.id, poll_ms, POLL_BACKOFF_CAP_MS).await
        {
            tracing::warn!(session = %session.id, error = %err, "scheduling the next poll failed");
        }
    }

    async fn advance_stalled(&self, session: &ConnectSession) -> Result<(), FlowError> {
        if self.past_deadline(session, now_ms()) {
            self.inner.metrics.expired_by_deadline.fetch_add(1, Ordering::Relaxed);
            tracing::info!(session = %session.id, status = session.status.as_str(), "session passed its deadline");
            return self.move_to(&session.id, SessionStatus::Expired).await;
        }
        let agent = &self.inner.agent;
        let connected = session.connection_state == Some(ConnectionState::Completed);
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
            && !session.proof_state.is_some_and(ProofState::is_final)
        {
            let proof = agent.proof(proof_id).await?;
            let observation = Observation::of_proof(proof, session.connection_id.clone());
            if self.apply(&session.id, &observation).await? {
                self.inner.metrics.recovered_by_polling.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        // Retry follow-ups whose platform call failed earlier or whose claim lapsed.
        self.follow_up(session);
        Ok(())
    }
}
