//! WebSocket close codes, in two ranges the client acts on without reading the reason:
//!
//! - 4000-4099 reconnect allowed: the client reconnects with backoff and resumes.
//! - 4100-4199 terminal: reconnecting would fail the same way; the client stops and
//!   shows the reason (it may fetch a fresh token and try once more for `BadToken`).

/// A close code Beacon sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum CloseCode {
    /// The server is shutting down or restarting.
    Shutdown = 4000,
    /// The outbound queue filled up; resume from the last seq seen.
    SlowConsumer = 4001,
    /// No frame arrived within the heartbeat deadline.
    HeartbeatTimeout = 4002,
    /// The connect token expired and was not refreshed in time.
    TokenExpired = 4003,
    /// No `auth` message arrived in time after the upgrade.
    AuthTimeout = 4004,
    /// An operator asked this connection to reconnect (rebalancing, session revoked).
    Reconnect = 4005,
    /// The connect token is malformed, forged or for another server.
    BadToken = 4100,
    /// The connection tried something its principal may not do, repeatedly.
    Forbidden = 4101,
    /// A frame that is not a protocol message (binary, wrong order, repeated garbage).
    ProtocolViolation = 4102,
    /// The principal already holds the maximum number of connections.
    TooManyConnections = 4103,
    /// Too many messages per second, after a `rate_limited` nack.
    RateLimited = 4104,
    /// A frame larger than the maximum frame size.
    MessageTooBig = 4105,
}

impl CloseCode {
    pub const ALL: [CloseCode; 12] = [
        Self::Shutdown,
        Self::SlowConsumer,
        Self::HeartbeatTimeout,
        Self::TokenExpired,
        Self::AuthTimeout,
        Self::Reconnect,
        Self::BadToken,
        Self::Forbidden,
        Self::ProtocolViolation,
        Self::TooManyConnections,
        Self::RateLimited,
        Self::MessageTooBig,
    ];

    pub fn code(self) -> u16 {
        self as u16
    }

    /// The code for a number, if it is one of Beacon's.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Whether the client should reconnect (with backoff) after this close.
    pub fn reconnect_allowed(self) -> bool {
        (4000..4100).contains(&self.code())
    }

    /// Short reason sent in the close frame (at most 123 bytes by RFC 6455).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Shutdown => "server shutting down",
            Self::SlowConsumer => "slow consumer",
            Self::HeartbeatTimeout => "heartbeat timeout",
            Self::TokenExpired => "token expired",
            Self::AuthTimeout => "auth timeout",
            Self::Reconnect => "reconnect requested",
            Self::BadToken => "bad token",
            Self::Forbidden => "forbidden",
            Self::ProtocolViolation => "protocol violation",
            Self::TooManyConnections => "too many connections",
            Self::RateLimited => "rate limited",
            Self::MessageTooBig => "message too big",
        }
    }
}

/// Whether a close code not sent by Beacon (network loss 1006, going away 1001,
/// ...) allows reconnecting: everything except Beacon's terminal range does.
pub fn code_allows_reconnect(code: u16) -> bool {
    CloseCode::from_code(code).is_none_or(CloseCode::reconnect_allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_as_documented() {
        for c in CloseCode::ALL {
            assert_eq!(CloseCode::from_code(c.code()), Some(c));
            assert!(c.reason().len() <= 123);
            let in_reconnect_range = (4000..4100).contains(&c.code());
            let in_terminal_range = (4100..4200).contains(&c.code());
            assert!(in_reconnect_range || in_terminal_range, "{c:?}");
            assert_eq!(c.reconnect_allowed(), in_reconnect_range);
        }
        assert!(code_allows_reconnect(1006));
        assert!(code_allows_reconnect(4001));
        assert!(!code_allows_reconnect(4100));
    }
}
