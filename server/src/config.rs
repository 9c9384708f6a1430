//! Configuration from the environment (`BEACON_*`, plus `DATABASE_URL`), each
//! field with its default and the reason for it, validated at start: a value
//! that cannot work is an error naming its variable, never a surprise later.
//!
//! - [`secret`]: the [`Secret`] type that never prints, and `data/beacon.secret`.
//! - [`abuse`]: limits by client address and for the whole server.
//! - [`agent`]: which identity platform, and the dev agent's guard rails.
//! - [`net`]: address ranges (trusted proxies).
//! - [`cluster`]: one node or several (bus, Redis, leases).
//! - `env`: typed readers over the environment.

pub mod abuse;
pub mod agent;
pub mod chat;
pub mod cluster;
mod env;
pub mod net;
pub mod secret;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use protocol::limits;

pub use abuse::AbuseLimits;
pub use agent::{AgentMode, ConfirmdConfig, DEV_AGENT_BUILT, DevAgentOptions};
pub use net::IpNet;
pub use secret::{MIN_SECRET_LEN, Secret};

use env::{Env, invalid};

/// Longest any plain HTTP request may take. Long-polls must answer well
/// before it (see [`LONG_POLL_MARGIN`]); upgraded WebSockets are not affected.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(35);
/// Room a long-poll leaves between its wait and the request timeout, for the
/// database reads around the wait.
pub const LONG_POLL_MARGIN: Duration = Duration::from_secs(5);

/// Why the environment does not describe a runnable server.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Everything the server needs to run; built once at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `BEACON_BIND`, default `127.0.0.1:3000`: loopback only, so a fresh checkout is
    /// not reachable from the network. `0.0.0.0:3000` lets a phone on the LAN reach it.
    pub bind: SocketAddr,
    /// `BEACON_API_BIND`, unset by default: a second listener for the
    /// server-to-server routes only (publish, notifications, grants, admin,
    /// webhooks, health, metrics), with an accept queue of its own that a
    /// storm of reconnecting sockets on `BEACON_BIND` cannot fill.
    pub api_bind: Option<SocketAddr>,
    /// `DATABASE_URL`, default `sqlite://data/beacon.db` (created and migrated at
    /// start). A `postgres://` URL selects Postgres.
    pub database_url: String,
    /// `BEACON_DB_MAX_CONNECTIONS`, default 10 (1..=1000): enough for the event
    /// log's short transactions; SQLite serializes writers anyway. PostgreSQL
    /// keeps up to half as many again for the log's appends
    /// ([`crate::store::log_write_connections`]).
    pub db_max_connections: u32,
    /// `BEACON_SECRET` (at least 32 characters): signs visitor cookies and
    /// connect tokens. Every node of a deployment needs the same one. Default: a
    /// random secret kept in `data/beacon.secret` (mode 0600), so restarts keep
    /// visitors signed in.
    pub secret: Secret,
    /// `BEACON_PUBLISH_KEY` (at least 32 characters): the API key of
    /// `POST /api/realtime/publish` and the grants API. Unset: 401 to everyone.
    pub publish_key: Option<Secret>,
    /// `BEACON_ADMIN_KEY` (at least 32 characters): the API key of `/api/admin/*`.
    /// Unset: 401 to everyone.
    pub admin_key: Option<Secret>,
    /// Derived from `BEACON_PUBLIC_URL`: served over HTTPS, so cookies are
    /// `Secure` with the `__Host-` prefix and responses carry HSTS.
    pub https: bool,
    /// `BEACON_ALLOWED_ORIGINS`, comma-separated, default empty: WebSocket upgrades
    /// with an `Origin` header must come from the server's own host or from one of
    /// these (cross-site WebSocket hijacking).
    pub allowed_origins: Vec<String>,
    /// `BEACON_TRUSTED_PROXIES`, comma-separated addresses or ranges, default
    /// empty: only a request arriving from one of these may name the client's
    /// address in `X-Forwarded-For`. Anyone else could write any address there.
    pub trusted_proxies: Vec<IpNet>,
    /// `BEACON_TOKEN_TTL_SECS`, default 300: short, since the client refreshes it
    /// on the open socket without reconnecting.
    pub token_ttl: Duration,
    /// `BEACON_HEARTBEAT_SECS` (or `_MS`), default 25, not zero.
    pub heartbeat_interval: Duration,
    /// `BEACON_HEARTBEAT_GRACE_SECS` (or `_MS`), default 10, not zero.
    pub heartbeat_grace: Duration,
    /// `BEACON_SOCKET_PARK_AFTER_MS`, default 1000: a socket with nothing to
    /// do for this long (one to two times it) gives up its task and waits
    /// parked, until its client, its queue or its timer wakes it (see
    /// `hub::connection::park`). A delivery less than this long after it
    /// parked gives it its task back for at least as long: a socket in a
    /// flow of events (a conversation) does not take a new task per event.
    /// Shorter keeps fewer idle sockets' tasks at once; longer keeps busier
    /// ones running.
    pub socket_park_after: Duration,
    /// `BEACON_SOCKET_INLINE_MAX_LISTENERS`, default 8, at most 64: a
    /// parked socket's delivery is written on the thread that queued it,
    /// with no task started, when the channel has at most this many
    /// listeners here (see `hub::connection::inline`). Wider fan-outs start
    /// tasks, so the sockets' threads share the writing. 0 writes every
    /// delivery from a task.
    pub socket_inline_max_listeners: usize,
    /// `BEACON_SOCKET_HEARTBEAT_ON_TASK`, default false: a parked socket's
    /// heartbeat (its ping due, its client's pong) is handled on the thread
    /// that its timer or its bytes woke, with no task started (see
    /// `hub::connection::inline::heartbeat`). True starts a task for each,
    /// as every other wake does.
    pub socket_heartbeat_on_task: bool,
    /// `BEACON_AUTH_TIMEOUT_SECS`, default 10: a socket that does not authenticate
    /// by then holds a file descriptor for nothing.
    pub auth_timeout: Duration,
    /// `BEACON_OUTBOUND_QUEUE`, default 256 messages per connection: a burst of
    /// events for a healthy client fits; a client that cannot keep up is closed
    /// with `slow_consumer` and resumes from its last seq instead of growing memory.
    pub outbound_queue: usize,
    /// `BEACON_MAX_FRAME_BYTES`, default 16 KiB: client messages are small.
    pub max_frame_bytes: usize,
    /// `BEACON_MAX_CHANNELS_PER_CONNECTION`, default 64.
    pub max_channels_per_connection: usize,
    /// `BEACON_MAX_CONNECTIONS_PER_PRINCIPAL`, default 32: many tabs, not a botnet.
    pub max_connections_per_principal: usize,
    /// `BEACON_INBOUND_RATE`, default 20 messages per second sustained per connection,
    /// with a burst of twice that.
    pub inbound_rate_per_sec: u32,
    /// Per-address and whole-server caps; see [`AbuseLimits`].
    pub abuse: AbuseLimits,
    /// `BEACON_LONG_POLL_SECS` (or `_MS`), default 25 (see `protocol::limits`);
    /// at most the request timeout minus [`LONG_POLL_MARGIN`].
    pub long_poll_wait: Duration,
    /// `BEACON_RETENTION_EVENTS`, default 1000 newest events per channel.
    pub retention_events: u64,
    /// `BEACON_RETENTION_SECS`, default 86400: a day covers any realistic reconnect.
    pub retention_age: Duration,
    /// `BEACON_RETENTION_EVERY_SECS`, default 60: how often retention runs.
    pub retention_every: Duration,
    /// `BEACON_HISTORY_DAYS`, default 30: finished connect sessions, stored
    /// webhooks and ended sign-ins older than this are deleted (users stay).
    pub history_retention: Duration,
    /// `BEACON_SHUTDOWN_DRAIN_SECS`, default 10: how long in-flight HTTP may finish.
    pub shutdown_drain: Duration,
    /// `LEPTOS_SITE_ROOT`, default `target/site`: the built WASM, JS and CSS.
    pub site_root: PathBuf,
    /// `BEACON_PUBLIC_URL` (`http://` or `https://`, no path): the base URL
    /// phones and browsers reach this server at, used in invitation links.
    /// Default: `http://` + the bound address (set it to the LAN address, e.g.
    /// `http://192.168.1.20:3000`, for a phone).
    pub public_url: Option<String>,
    /// `BEACON_AGENT`: `confirmd` talks to the real platform configured by the
    /// `CONFIRMD_*` variables; `dev` (the default in builds with the `dev-agent`
    /// feature) starts the built-in stand-in for the platform and the wallet.
    pub agent: AgentMode,
    /// `BEACON_CONNECT_TTL_SECS`, default 300: how long a QR stays valid.
    pub connect_ttl: Duration,
    /// `BEACON_SHARE_DEADLINE_SECS`, default 900: a session connected but never
    /// shared (or stuck verifying) expires this long after it was created.
    pub share_deadline: Duration,
    /// `BEACON_REGISTER_DEADLINE_SECS`, default 1800: a verified session nobody
    /// registered with expires this long after it was created.
    pub register_deadline: Duration,
    /// `BEACON_CLAIM_LEASE_SECS`, default 30: a "proof requested" or
    /// "verification started" claim older than this without progress is taken
    /// back by the stall poller (the server may have died mid-call).
    pub claim_lease: Duration,
    /// `BEACON_STALL_AFTER_MS`, default 10000: a session unchanged this long is
    /// advanced by reading the platform (which sends each webhook once).
    pub stall_after: Duration,
    /// `BEACON_STALL_POLL_MS`, default 5000 (at least 50): how often stalled
    /// sessions are polled.
    pub stall_poll_every: Duration,
    /// `BEACON_WEBHOOK_REPLAY_WINDOW_SECS`, default 300: signed webhooks older
    /// (or newer) than this are refused.
    pub webhook_replay_window: Duration,
    /// `BEACON_NOTIFICATION_CATEGORIES`, comma-separated, default
    /// `mention,comment,chat,system,security`: the categories every person sees in
    /// their preferences (backends may send others; those can be muted too).
    pub notification_categories: Vec<String>,
    /// `BEACON_CRITICAL_CATEGORIES`, default `security`: categories nobody can mute.
    pub critical_categories: Vec<String>,
    /// Conversations; see [`chat::ChatSettings`].
    pub chat: chat::ChatSettings,
    /// One node or several: see [`cluster`].
    pub cluster: cluster::ClusterSettings,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can pass their own values.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);

        let bind = env.address("BEACON_BIND")?.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 3000)));
        let api_bind = env.address("BEACON_API_BIND")?;
        if api_bind == Some(bind) {
            return Err(invalid("BEACON_API_BIND", "must differ from BEACON_BIND"));
        }
        let database_url = env.get("DATABASE_URL").unwrap_or_else(|| "sqlite://data/beacon.db".into());
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(invalid("DATABASE_URL", "must start with sqlite: or postgres://"));
        }
        let key = |name: &'static str| -> Result<Option<Secret>, ConfigError> {
            match env.get(name) {
                Some(value) if value.len() < MIN_SECRET_LEN => {
                    Err(invalid(name, format!("must be at least {MIN_SECRET_LEN} characters")))
                }
                value => Ok(value.map(Secret::new)),
            }
        };
        if env.get("BEACON_SECURE_COOKIES").is_some() {
            return Err(invalid(
                "BEACON_SECURE_COOKIES",
                "no longer read: cookies are Secure whenever BEACON_PUBLIC_URL is https://",
            ));
        }
        let public_url = env.get("BEACON_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url {
            let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
            if rest.is_none_or(|host| host.is_empty() || host.contains(['/', '?', '#', ' '])) {
                return Err(invalid("BEACON_PUBLIC_URL", format!("`{url}` is not http(s)://host[:port]")));
            }
        }
        let long_poll_wait = env.ms_or_secs(
            "BEACON_LONG_POLL_MS",
            "BEACON_LONG_POLL_SECS",
            Duration::from_millis(limits::LONG_POLL_WAIT_MS),
        )?;
        if long_poll_wait + LONG_POLL_MARGIN > REQUEST_TIMEOUT {
            let most = (REQUEST_TIMEOUT - LONG_POLL_MARGIN).as_secs();
            return Err(invalid(
                "BEACON_LONG_POLL_SECS",
                format!(
                    "at most {most} s: the {} s request timeout would cut a longer wait",
                    REQUEST_TIMEOUT.as_secs()
                ),
            ));
        }

        let cluster = cluster::from_env(&env, &database_url)?;
        let config = Self {
            bind,
            api_bind,
            database_url,
            db_max_connections: env.ranged("BEACON_DB_MAX_CONNECTIONS", 10, 1, 1000)? as u32,
            secret: key("BEACON_SECRET")?.unwrap_or_else(|| Secret::new(String::new())),
            publish_key: key("BEACON_PUBLISH_KEY")?,
            admin_key: key("BEACON_ADMIN_KEY")?,
            https: public_url.as_deref().is_some_and(|u| u.starts_with("https://")),
            allowed_origins: env
                .get("BEACON_ALLOWED_ORIGINS")
                .map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
                .unwrap_or_default(),
            trusted_proxies: match env.get("BEACON_TRUSTED_PROXIES") {
                None => Vec::new(),
                Some(list) => list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        IpNet::parse(s).ok_or_else(|| {
                            invalid("BEACON_TRUSTED_PROXIES", format!("`{s}` is not an address or range"))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            },
            token_ttl: nonzero("BEACON_TOKEN_TTL_SECS", env.secs("BEACON_TOKEN_TTL_SECS", 300)?)?,
            heartbeat_interval: env.ms_or_secs(
                "BEACON_HEARTBEAT_MS",
                "BEACON_HEARTBEAT_SECS",
                Duration::from_millis(limits::HEARTBEAT_INTERVAL_MS),
            )?,
            heartbeat_grace: env.ms_or_secs(
                "BEACON_HEARTBEAT_GRACE_MS",
                "BEACON_HEARTBEAT_GRACE_SECS",
                Duration::from_millis(limits::HEARTBEAT_GRACE_MS),
            )?,
            socket_park_after: nonzero(
                "BEACON_SOCKET_PARK_AFTER_MS",
                env.millis("BEACON_SOCKET_PARK_AFTER_MS", 1000)?,
            )?,
            socket_inline_max_listeners: env.ranged("BEACON_SOCKET_INLINE_MAX_LISTENERS", 8, 0, 64)? as usize,
            socket_heartbeat_on_task: env.flag("BEACON_SOCKET_HEARTBEAT_ON_TASK")?,
            auth_timeout: nonzero("BEACON_AUTH_TIMEOUT_SECS", env.secs("BEACON_AUTH_TIMEOUT_SECS", 10)?)?,
            outbound_queue: env.ranged("BEACON_OUTBOUND_QUEUE", 256, 1, 1 << 20)? as usize,
            max_frame_bytes: env.ranged(
                "BEACON_MAX_FRAME_BYTES",
                limits::MAX_FRAME_BYTES as u64,
                256,
                1 << 20,
            )? as usize,
            max_channels_per_connection: env.ranged("BEACON_MAX_CHANNELS_PER_CONNECTION", 64, 1, 4096)?
                as usize,
            max_connections_per_principal: env.ranged(
                "BEACON_MAX_CONNECTIONS_PER_PRINCIPAL",
                32,
                1,
                1 << 20,
            )? as usize,
            inbound_rate_per_sec: env.ranged("BEACON_INBOUND_RATE", 20, 1, 100_000)? as u32,
            abuse: abuse::from_env(&env)?,
            long_poll_wait,
            retention_events: env.ranged("BEACON_RETENTION_EVENTS", 1000, 1, i64::MAX as u64 / 2)?,
            retention_age: env.secs("BEACON_RETENTION_SECS", 86_400)?,
            retention_every: env.secs("BEACON_RETENTION_EVERY_SECS", 60)?.max(Duration::from_secs(1)),
            history_retention: env.days("BEACON_HISTORY_DAYS", 30)?,
            shutdown_drain: env.secs("BEACON_SHUTDOWN_DRAIN_SECS", 10)?,
            site_root: env.get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()).into(),
            agent: agent::from_env(&env, bind)?,
            public_url,
            connect_ttl: nonzero("BEACON_CONNECT_TTL_SECS", env.secs("BEACON_CONNECT_TTL_SECS", 300)?)?,
            share_deadline: env.secs("BEACON_SHARE_DEADLINE_SECS", 900)?,
            register_deadline: env.secs("BEACON_REGISTER_DEADLINE_SECS", 1800)?,
            claim_lease: nonzero("BEACON_CLAIM_LEASE_SECS", env.secs("BEACON_CLAIM_LEASE_SECS", 30)?)?,
            stall_after: env.millis("BEACON_STALL_AFTER_MS", 10_000)?,
            stall_poll_every: env.millis("BEACON_STALL_POLL_MS", 5_000)?.max(Duration::from_millis(50)),
            webhook_replay_window: env.secs("BEACON_WEBHOOK_REPLAY_WINDOW_SECS", 300)?,
            notification_categories: categories(
                &env,
                "BEACON_NOTIFICATION_CATEGORIES",
                "mention,comment,chat,system,security",
            )?,
            critical_categories: categories(&env, "BEACON_CRITICAL_CATEGORIES", "security")?,
            chat: chat::from_env(&env)?,
            cluster,
        };
        if config.share_deadline < config.connect_ttl || config.register_deadline < config.share_deadline {
            return Err(invalid(
                "BEACON_SHARE_DEADLINE_SECS",
                "deadlines must grow: connect TTL <= share deadline <= register deadline",
            ));
        }
        Ok(config)
    }

    /// Fills an unset secret from `data/beacon.secret`, creating it once.
    pub fn ensure_secret(&mut self) -> anyhow::Result<()> {
        if self.secret.expose().is_empty() {
            self.secret = secret::load_or_create(std::path::Path::new("data/beacon.secret"))?;
        }
        Ok(())
    }

    /// Whether the database is Postgres (otherwise SQLite).
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    /// The dev agent's settings, when it is the identity platform.
    pub fn dev_agent(&self) -> Option<&DevAgentOptions> {
        match &self.agent {
            AgentMode::Dev(options) => Some(options),
            AgentMode::Confirmd(_) => None,
        }
    }
}

/// A comma-separated list of notification categories.
fn categories<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    name: &'static str,
    default: &str,
) -> Result<Vec<String>, ConfigError> {
    env.get(name)
        .unwrap_or_else(|| default.to_owned())
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            if protocol::inbox::valid_category(c) {
                Ok(c.to_owned())
            } else {
                Err(invalid(name, format!("`{c}` is not a category (1-32 of a-z 0-9 _ -)")))
            }
        })
        .collect()
}

fn nonzero(name: &'static str, value: Duration) -> Result<Duration, ConfigError> {
    if value.is_zero() { Err(invalid(name, "must be greater than zero")) } else { Ok(value) }
}

#[cfg(test)]
mod tests;
