//! Error codes carried by `nack` messages and by HTTP error bodies (`{"error": code, "message": ...}`).

use serde::{Deserialize, Serialize};

/// Why a request was refused. Stable strings on the wire; clients switch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON, or not a known message shape.
    MalformedMessage,
    /// JSON with a `type` this server does not know.
    UnknownType,
    /// A channel name that does not parse.
    InvalidChannel,
    /// The principal may not use this channel.
    Forbidden,
    /// The connection already has the maximum number of subscriptions.
    TooManyChannels,
    /// Too many messages per second.
    RateLimited,
    /// A message other than `auth` before authentication.
    NotAuthenticated,
    /// A second `auth` on an authenticated connection (use `refresh_token`).
    AlreadyAuthenticated,
    /// The token is malformed, forged or expired.
    BadToken,
    /// The token names a different principal than the connection's.
    PrincipalMismatch,
    /// Unsubscribe from a channel the connection is not subscribed to.
    NotSubscribed,
    /// A payload that is not what the channel takes (a conversation takes `{"text": ...}`).
    InvalidPayload,
    /// A message longer than the channel allows.
    TooLarge,
    /// A dashboard op based on a version that is no longer current; the
    /// refusal carries the current values.
    Conflict,
    /// An HTTP request with missing or bad fields.
    BadRequest,
    /// Missing or wrong credentials on an HTTP API.
    Unauthorized,
    /// The resource does not exist (or is not the caller's to see).
    NotFound,
    /// The database is unreachable.
    Unavailable,
    /// Something unexpected; the server logged the cause.
    Internal,
}

impl ErrorCode {
    /// Whether sending the same request again later may succeed. Clients
    /// retry only these, so a queue never waits forever on a permanent refusal.
    pub fn retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable | Self::Internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_strings() {
        assert_eq!(serde_json::to_string(&ErrorCode::TooManyChannels).unwrap(), "\"too_many_channels\"");
        assert_eq!(serde_json::from_str::<ErrorCode>("\"rate_limited\"").unwrap(), ErrorCode::RateLimited);
    }

    #[test]
    fn only_transient_refusals_are_retryable() {
        for code in [ErrorCode::RateLimited, ErrorCode::Unavailable, ErrorCode::Internal] {
            assert!(code.retryable(), "{code:?}");
        }
        for code in
            [ErrorCode::Conflict, ErrorCode::Forbidden, ErrorCode::InvalidPayload, ErrorCode::TooLarge]
        {
            assert!(!code.retryable(), "{code:?}");
        }
    }
}
