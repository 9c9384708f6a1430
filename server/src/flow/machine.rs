//! The forward-only state machines of a connect session, as a pure function of
//! the stored session and one observation. Order and repetition of observations
//! do not matter: a state only ever moves forward, terminal states stick.

use protocol::connect::SessionStatus;

use super::states::{ConnectionState, ProofState};
use crate::store::sessions::ConnectSession;
use crate::webhook::{Observation, RecordKind};

/// What an observation did to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The session changed.
    Advanced,
    /// Nothing new: a repeated or older state, or an unknown one.
    Stale,
    /// The session had already finished; the observation is only recorded.
    Finished,
}

/// Applies `obs` to `session` in place.
pub fn apply(session: &mut ConnectSession, obs: &Observation) -> Effect {
    if session.status.is_terminal() {
        return Effect::Finished;
    }
    let before = session.clone();
    match obs.kind {
        RecordKind::Connection => apply_connection(session, obs),
        RecordKind::Proof => apply_proof(session, obs),
    }
    if *session == before { Effect::Stale } else { Effect::Advanced }
}

fn advance_status(session: &mut ConnectSession, next: SessionStatus) {
    if session.status.can_become(next) {
        session.status = next;
    }
}

fn apply_connection(session: &mut ConnectSession, obs: &Observation) {
    let Ok(new) = obs.state.parse::<ConnectionState>() else { return };
    let current = session.connection_state.unwrap_or(ConnectionState::Invited);
    if current == ConnectionState::Abandoned {
        return;
    }
    // A different connection id for the same invitation is the wallet reusing an
    // old connection: it replaces the one we knew.
    let same_connection = session.connection_id.as_deref().is_none_or(|id| id == obs.record_id);
    if same_connection && new <= current {
        return;
    }
    // Another connection for the same invitation (a reused one) may replace the
    // known one only by going forward, and never fails the session.
    if !same_connection && (new < current || new == ConnectionState::Abandoned) {
        return;
    }
    session.connection_id = Some(obs.record_id.clone());
    session.connection_state = Some(new);
    if let Some(label) = &obs.their_label {
        session.wallet_label = Some(label.clone());
    }
    match new {
        ConnectionState::RequestReceived | ConnectionState::ResponseSent => {
            advance_status(session, SessionStatus::Connecting)
        }
        ConnectionState::Completed => advance_status(session, SessionStatus::AwaitingShare),
        ConnectionState::Abandoned => advance_status(session, SessionStatus::ConnectionFailed),
        ConnectionState::Invited => {}
    }
}

fn apply_proof(session: &mut ConnectSession, obs: &Observation) {
    let Ok(new) = obs.state.parse::<ProofState>() else { return };
    if session.proof_id.as_deref().is_some_and(|id| id != obs.record_id) {
        return; // a proof of some other request
    }
    let current_rank = session.proof_state.map_or(0, ProofState::rank);
    if new.rank() <= current_rank {
        return;
    }
    session.proof_id = Some(obs.record_id.clone());
    session.proof_state = Some(new);
    // A proof can only exist on a completed connection, whatever webhooks were lost.
    if session.connection_state != Some(ConnectionState::Completed) && session.connection_id.is_some() {
        session.connection_state = Some(ConnectionState::Completed);
    }
    match new {
        ProofState::RequestSent => advance_status(session, SessionStatus::AwaitingShare),
        ProofState::PresentationReceived | ProofState::Done => {
            advance_status(session, SessionStatus::Verifying)
        }
        ProofState::Abandoned if obs.is_verified == Some(false) => {
            advance_status(session, SessionStatus::Failed)
        }
        ProofState::Abandoned => advance_status(session, SessionStatus::Declined),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> ConnectSession {
        ConnectSession {
            id: "s".into(),
            owner: "o".into(),
            status: SessionStatus::AwaitingScan,
            created_at: 0,
            expires_at: 1,
            updated_at: 0,
            version: 0,
            invitation_url: None,
            record_id: Some("oob".into()),
            connection_id: None,
            connection_state: None,
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

    fn conn(state: &str) -> Observation {
        Observation {
            kind: RecordKind::Connection,
            record_id: "c1".into(),
            state: state.into(),
            out_of_band_id: Some("oob".into()),
            reused_out_of_band_id: None,
            alias: None,
            connection_id: None,
            their_label: Some("Ada".into()),
            is_verified: None,
            error_message: None,
        }
    }

    fn proof(state: &str, verified: Option<bool>) -> Observation {
        Observation {
            kind: RecordKind::Proof,
            record_id: "p1".into(),
            state: state.into(),
            connection_id: Some("c1".into()),
            is_verified: verified,
            their_label: None,
            ..conn(state)
        }
    }

    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut all = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.to_vec();
            let first = rest.remove(i);
            for mut tail in permutations(&rest) {
                tail.insert(0, first.clone());
                all.push(tail);
            }
        }
        all
    }

    #[test]
    fn every_order_and_repetition_of_connection_states_ends_the_same() {
        let states = [conn("request-received"), conn("response-sent"), conn("completed")];
        for order in permutations(&states) {
            let mut s = session();
            // Each observation delivered twice, as a duplicating platform would.
            for obs in order.iter().flat_map(|o| [o, o]) {
                apply(&mut s, obs);
            }
            assert_eq!(s.status, SessionStatus::AwaitingShare, "{order:?}");
            assert_eq!(s.connection_state, Some(ConnectionState::Completed));
            assert_eq!(s.wallet_label.as_deref(), Some("Ada"));
        }
    }

    #[test]
    fn every_order_of_the_whole_flow_reaches_verifying() {
        let all = [
            conn("request-received"),
            conn("response-sent"),
            conn("completed"),
            proof("request-sent", None),
            proof("presentation-received", Some(true)),
            proof("done", Some(true)),
        ];
        for order in permutations(&all) {
            let mut s = session();
            for obs in &order {
                apply(&mut s, obs);
            }
            assert_eq!(s.status, SessionStatus::Verifying, "{order:?}");
            assert_eq!(s.proof_state, Some(ProofState::Done));
        }
    }

    #[test]
    fn terminal_states_stick_and_late_webhooks_are_finished() {
        let mut s = session();
        apply(&mut s, &conn("completed"));
        apply(&mut s, &proof("abandoned", None));
        assert_eq!(s.status, SessionStatus::Declined);
        assert_eq!(apply(&mut s, &proof("presentation-received", Some(true))), Effect::Finished);
        assert_eq!(s.status, SessionStatus::Declined);

        let mut s = session();
        apply(&mut s, &conn("completed"));
        apply(&mut s, &proof("abandoned", Some(false)));
        assert_eq!(s.status, SessionStatus::Failed);

        let mut s = session();
        apply(&mut s, &conn("abandoned"));
        assert_eq!(s.status, SessionStatus::ConnectionFailed);
        assert_eq!(apply(&mut s, &conn("completed")), Effect::Finished);
    }

    #[test]
    fn repeats_and_unknown_states_are_stale() {
        let mut s = session();
        assert_eq!(apply(&mut s, &conn("completed")), Effect::Advanced);
        assert_eq!(apply(&mut s, &conn("completed")), Effect::Stale);
        assert_eq!(apply(&mut s, &conn("response-sent")), Effect::Stale);
        assert_eq!(apply(&mut s, &conn("dancing")), Effect::Stale);
    }

    #[test]
    fn another_connection_never_fails_or_rewinds_the_session() {
        let mut s = session();
        apply(&mut s, &conn("completed"));
        let mut stale = conn("abandoned");
        stale.record_id = "old-connection".into();
        assert_eq!(apply(&mut s, &stale), Effect::Stale);
        let mut older = conn("request-received");
        older.record_id = "old-connection".into();
        assert_eq!(apply(&mut s, &older), Effect::Stale);
        assert_eq!(s.status, SessionStatus::AwaitingShare);
        assert_eq!(s.connection_id.as_deref(), Some("c1"));
    }

    #[test]
    fn a_reused_connection_replaces_the_known_one() {
        let mut s = session();
        apply(&mut s, &conn("request-received"));
        let mut reuse = conn("completed");
        reuse.record_id = "old-connection".into();
        assert_eq!(apply(&mut s, &reuse), Effect::Advanced);
        assert_eq!(s.connection_id.as_deref(), Some("old-connection"));
        assert_eq!(s.status, SessionStatus::AwaitingShare);
    }
}
