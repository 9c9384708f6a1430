//! Defaults shared by server and client. The server's configuration may override
//! the server-side ones; the client learns the heartbeat interval from `welcome`.

/// How often the server pings an idle connection. Below common proxy idle
/// timeouts (often 60 s) with room for one lost ping.
pub const HEARTBEAT_INTERVAL_MS: u64 = 25_000;

/// How long after a ping the server waits for any frame before closing with
/// [`crate::CloseCode::HeartbeatTimeout`]; the client allows the same grace on
/// top of the interval before it calls the link dead.
pub const HEARTBEAT_GRACE_MS: u64 = 10_000;

/// Longest a long-poll request waits for an event before answering empty.
/// Under the 30 s that many proxies allow an idle response.
pub const LONG_POLL_WAIT_MS: u64 = 25_000;

/// Largest text frame the server reads; larger ones close the connection.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

/// Largest publish request body (channel + payload). Events are notifications,
/// not file transfers; the bound also caps what one socket may have to buffer.
pub const MAX_PUBLISH_BYTES: usize = 64 * 1024;

/// Most events returned by one replay or one long-poll answer; the client asks
/// again with the last seq to get the rest.
pub const MAX_REPLAY_BATCH: usize = 500;
