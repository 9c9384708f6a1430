//! The platform's record states, typed: parsed once at the edge (webhooks,
//! platform reads, the database) and compared as enums everywhere else. Their
//! order is the order a record goes through; `Abandoned` ends a record.

use std::fmt;
use std::str::FromStr;

/// An unknown state string (the platform has more states than Beacon acts on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state `{0}`")]
pub struct UnknownState(pub String);

/// A DIDComm connection's state, in protocol order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnectionState {
    /// `start` or `invitation-sent`: nobody answered yet.
    Invited,
    RequestReceived,
    ResponseSent,
    Completed,
    Abandoned,
}

/// A proof exchange's state, in protocol order; `Done` and `Abandoned` end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProofState {
    RequestSent,
    PresentationReceived,
    Done,
    Abandoned,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invitation-sent",
            Self::RequestReceived => "request-received",
            Self::ResponseSent => "response-sent",
            Self::Completed => "completed",
            Self::Abandoned => "abandoned",
        }
    }
}

impl FromStr for ConnectionState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "start" | "invitation-sent" => Self::Invited,
            "request-received" => Self::RequestReceived,
            "response-sent" => Self::ResponseSent,
            "completed" => Self::Completed,
            "abandoned" => Self::Abandoned,
            other => return Err(UnknownState(other.to_owned())),
        })
    }
}

impl ProofState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestSent => "request-sent",
            Self::PresentationReceived => "presentation-received",
            Self::Done => "done",
            Self::Abandoned => "abandoned",
        }
    }

    /// Whether the exchange is over (nothing more will come from the platform).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Abandoned)
    }

    /// Whether the holder presented (the proof can be verified).
    pub fn presented(self) -> bool {
        matches!(self, Self::PresentationReceived | Self::Done)
    }

    /// Position in the exchange: `Done` and `Abandoned` are both the end.
    pub fn rank(self) -> u8 {
        match self {
            Self::RequestSent => 1,
            Self::PresentationReceived => 2,
            Self::Done | Self::Abandoned => 3,
        }
    }
}

impl FromStr for ProofState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "request-sent" => Self::RequestSent,
            "presentation-received" => Self::PresentationReceived,
            "done" => Self::Done,
            "abandoned" => Self::Abandoned,
            other => return Err(UnknownState(other.to_owned())),
        })
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ProofState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_unknown_ones_are_errors() {
        for state in [
            ConnectionState::Invited,
            ConnectionState::RequestReceived,
            ConnectionState::ResponseSent,
            ConnectionState::Completed,
            ConnectionState::Abandoned,
        ] {
            assert_eq!(state.as_str().parse::<ConnectionState>(), Ok(state));
        }
        assert_eq!("start".parse::<ConnectionState>(), Ok(ConnectionState::Invited));
        for state in [
            ProofState::RequestSent,
            ProofState::PresentationReceived,
            ProofState::Done,
            ProofState::Abandoned,
        ] {
            assert_eq!(state.to_string().parse::<ProofState>(), Ok(state));
        }
        assert!("dancing".parse::<ProofState>().is_err());
        assert!(ConnectionState::Completed > ConnectionState::ResponseSent);
    }
}
