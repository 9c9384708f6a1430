//! Limits that hold however many cookies a client mints: by client address
//! (IPv6 by /64, the unit one subscriber controls) and for the whole server.

use super::ConfigError;
use super::env::Env;

/// See the module's documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    /// `BEACON_MAX_SOCKETS_PER_IP`, default 256: a household or office behind
    /// one NAT, with many tabs each.
    pub sockets_per_ip: usize,
    /// `BEACON_MAX_LONG_POLLS_PER_IP`, default 64.
    pub long_polls_per_ip: usize,
    /// `BEACON_MAX_LONG_POLLS_PER_PRINCIPAL`, default 8: a tab polls a few
    /// channels; more would let one cookie hold the database pool.
    pub long_polls_per_principal: usize,
    /// `BEACON_CONNECT_SESSIONS_PER_IP_PER_MIN`, default 10: each one costs a
    /// platform call; a person needs one or two.
    pub connect_sessions_per_ip_per_min: u32,
    /// `BEACON_TOKEN_REQUESTS_PER_IP_PER_MIN`, default 600: every reconnect of
    /// every tab behind the address fetches one.
    pub token_requests_per_ip_per_min: u32,
    /// `BEACON_MAX_SOCKETS`, default 20000: below the process's file limit, so
    /// the listener keeps descriptors for HTTP and the database.
    pub max_sockets: usize,
    /// `BEACON_MAX_LONG_POLLS`, default 4096.
    pub max_long_polls: usize,
}

pub(super) fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<AbuseLimits, ConfigError> {
    Ok(AbuseLimits {
        sockets_per_ip: env.ranged("BEACON_MAX_SOCKETS_PER_IP", 256, 1, 1 << 20)? as usize,
        long_polls_per_ip: env.ranged("BEACON_MAX_LONG_POLLS_PER_IP", 64, 1, 1 << 20)? as usize,
        long_polls_per_principal: env.ranged("BEACON_MAX_LONG_POLLS_PER_PRINCIPAL", 8, 1, 1024)? as usize,
        connect_sessions_per_ip_per_min: env.ranged(
            "BEACON_CONNECT_SESSIONS_PER_IP_PER_MIN",
            10,
            1,
            1 << 20,
        )? as u32,
        token_requests_per_ip_per_min: env.ranged("BEACON_TOKEN_REQUESTS_PER_IP_PER_MIN", 600, 1, 1 << 24)?
            as u32,
        max_sockets: env.ranged("BEACON_MAX_SOCKETS", 20_000, 1, 1 << 24)? as usize,
        max_long_polls: env.ranged("BEACON_MAX_LONG_POLLS", 4096, 1, 1 << 24)? as usize,
    })
}
