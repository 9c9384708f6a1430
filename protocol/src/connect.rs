//! The wallet-connect flow as pages and clients see it: the status of a connect
//! session, the event payload on its `session:<id>` channel, and the views the
//! registration pages render.

use serde::{Deserialize, Serialize};

/// Where a connect session stands. Forward only: a later status never goes back,
/// and the terminal ones stick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// The QR is shown; no wallet has answered.
    AwaitingScan,
    /// A wallet scanned the QR and is connecting ("approve in your wallet").
    Connecting,
    /// Connected; the proof request was sent ("share your data").
    AwaitingShare,
    /// The wallet shared a presentation; Beacon is verifying it.
    Verifying,
    /// Verified; the registration form can be filled in.
    Verified,
    /// The person registered. Terminal.
    Registered,
    /// The person declined to share. Terminal.
    Declined,
    /// The presentation did not verify. Terminal.
    Failed,
    /// The connection was abandoned. Terminal.
    ConnectionFailed,
    /// The attempt ran out of time: nobody scanned the QR in time, or the
    /// stage it reached has a deadline that passed (connected but never
    /// shared, verified but never registered). Terminal.
    Expired,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 10] = [
        Self::AwaitingScan,
        Self::Connecting,
        Self::AwaitingShare,
        Self::Verifying,
        Self::Verified,
        Self::Registered,
        Self::Declined,
        Self::Failed,
        Self::ConnectionFailed,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingScan => "awaiting_scan",
            Self::Connecting => "connecting",
            Self::AwaitingShare => "awaiting_share",
            Self::Verifying => "verifying",
            Self::Verified => "verified",
            Self::Registered => "registered",
            Self::Declined => "declined",
            Self::Failed => "failed",
            Self::ConnectionFailed => "connection_failed",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether nothing can change this status any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Registered | Self::Declined | Self::Failed | Self::ConnectionFailed | Self::Expired
        )
    }

    /// Position on the happy path; terminal failures rank above everything
    /// but are handled by [`SessionStatus::can_become`].
    fn rank(self) -> u8 {
        match self {
            Self::AwaitingScan => 0,
            Self::Connecting => 1,
            Self::AwaitingShare => 2,
            Self::Verifying => 3,
            Self::Verified => 4,
            Self::Registered => 5,
            Self::Declined | Self::Failed | Self::ConnectionFailed | Self::Expired => 6,
        }
    }

    /// Whether moving from `self` to `next` goes forward.
    pub fn can_become(self, next: SessionStatus) -> bool {
        if self.is_terminal() || self == next {
            return false;
        }
        match next {
            // Once verified, only registering finishes the session.
            Self::Declined | Self::Failed | Self::ConnectionFailed => self.rank() < Self::Verified.rank(),
            // Every open stage has a deadline.
            Self::Expired => true,
            _ => next.rank() > self.rank(),
        }
    }
}

/// The payload of every event on a `session:<id>` channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionUpdate {
    pub status: SessionStatus,
    /// The label the wallet gave when connecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet_label: Option<String>,
}

/// What the connect page renders: everything needed before any WASM loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectView {
    pub session_id: String,
    /// `session:<id>`, to subscribe to.
    pub channel: String,
    /// The short invitation URL, encoded in the QR.
    pub invitation_url: String,
    /// The QR as an SVG document, rendered on the server.
    pub qr_svg: String,
    /// Milliseconds since the Unix epoch.
    pub expires_at: i64,
    pub status: SessionStatus,
    pub wallet_label: Option<String>,
}

/// The registration form's starting point after verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationDraft {
    pub session_id: String,
    /// Verified attributes, name and value, sorted by name.
    pub attributes: Vec<(String, String)>,
    pub display_name: String,
}

/// A registered user, as the account page shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub display_name: String,
    pub email: String,
    pub attributes: Vec<(String, String)>,
    /// Milliseconds since the Unix epoch.
    pub registered_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward_and_terminals_stick() {
        use SessionStatus::*;
        assert!(AwaitingScan.can_become(Connecting));
        assert!(AwaitingScan.can_become(AwaitingShare), "a dropped state may be skipped");
        assert!(!AwaitingShare.can_become(Connecting));
        assert!(Verifying.can_become(Failed));
        assert!(!Verified.can_become(Declined));
        assert!(Verified.can_become(Registered));
        assert!(AwaitingScan.can_become(Expired));
        assert!(Connecting.can_become(Expired), "every open stage has a deadline");
        assert!(Verified.can_become(Expired));
        assert!(!Registered.can_become(Expired));
        for terminal in SessionStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for next in SessionStatus::ALL {
                assert!(!terminal.can_become(next), "{terminal:?} -> {next:?}");
            }
        }
        for status in SessionStatus::ALL {
            assert_eq!(SessionStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }
}
