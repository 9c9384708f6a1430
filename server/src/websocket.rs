//! The WebSocket protocol (RFC 6455) as the hub speaks it, on the accepted TCP
//! stream itself.
//!
//! An idle socket is the common case (a tab left open), so an idle socket holds
//! no buffer: bytes are read into the reading call's own stack and only the
//! part of a frame that has not fully arrived is kept; what is written is
//! buffered only until it is flushed. A general-purpose WebSocket library keeps
//! a read and a write buffer, two wakers and the HTTP upgrade's boxed stream per
//! socket for the socket's whole life (docs/PERFORMANCE.md, step 25).
//!
//! What the hub needs and nothing more: text messages (binary ones are read and
//! refused by the connection), pings answered, the closing handshake, no
//! extensions and no subprotocols.
//!
//! - `handshake`: the HTTP upgrade, checked and answered.
//! - `frame`: one frame's header, read from a client and written by the server.
//! - `socket`: a connection's frames in and out.

mod frame;
mod handshake;
mod socket;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;

pub use self::handshake::{HandshakeError, UpgradedSocket, accept, socket};
pub use self::socket::{Received, WebSocket};

/// A whole message from the client (fragments joined).
#[derive(Debug)]
pub enum Message {
    Text(Utf8Bytes),
    Binary(Bytes),
    /// Already answered with a pong (flushed with the caller's next flush).
    Ping,
    Pong,
    /// The client's close; ours in answer is already on its way.
    Close(Option<CloseFrame>),
}

/// A close frame's code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

/// Why a socket cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("message larger than {0} bytes")]
    TooBig(usize),
    #[error("WebSocket protocol violation: {0}")]
    Protocol(&'static str),
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
    #[error("the socket is closed for writing")]
    Closed,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
