//! Configuration from the environment (`BEACON_*`, plus `DATABASE_URL`), each
//! field with its default and the reason for it. Secrets live in [`Secret`],
//! which never prints.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use protocol::limits;

/// A value that must not reach logs: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

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
    /// `DATABASE_URL`, default `sqlite://data/beacon.db` (created and migrated at
    /// start). A `postgres://` URL selects Postgres.
    pub database_url: String,
    /// `BEACON_DB_MAX_CONNECTIONS`, default 10: enough for the event log's short
    /// transactions; SQLite serializes writers anyway.
    pub db_max_connections: u32,
    /// `BEACON_SECRET`: signs visitor cookies and connect tokens. Every node of a
    /// deployment needs the same one. Default: a random secret kept in
    /// `data/beacon.secret`, so restarts keep visitors signed in.
    pub secret: Secret,
    /// `BEACON_PUBLISH_KEY`: the API key of `POST /api/realtime/publish` and the
    /// grants API. Unset: those APIs answer 401 to everyone.
    pub publish_key: Option<Secret>,
    /// `BEACON_ADMIN_KEY`: the API key of `/api/admin/*`. Unset: 401 to everyone.
    pub admin_key: Option<Secret>,
    /// `BEACON_SECURE_COOKIES`, default false: set true behind HTTPS.
    pub secure_cookies: bool,
    /// `BEACON_ALLOWED_ORIGINS`, comma-separated, default empty: WebSocket upgrades
    /// with an `Origin` header must come from the server's own host or from one of
    /// these (cross-site WebSocket hijacking).
    pub allowed_origins: Vec<String>,
    /// `BEACON_TOKEN_TTL_SECS`, default 300: short, since the client refreshes it
    /// on the open socket without reconnecting.
    pub token_ttl: Duration,
    /// `BEACON_HEARTBEAT_SECS`, default 25.
    pub heartbeat_interval: Duration,
    /// `BEACON_HEARTBEAT_GRACE_SECS`, default 10.
    pub heartbeat_grace: Duration,
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
    /// `BEACON_LONG_POLL_SECS`, default 25 (see `protocol::limits`).
    pub long_poll_wait: Duration,
    /// `BEACON_RETENTION_EVENTS`, default 1000 newest events per channel.
    pub retention_events: u64,
    /// `BEACON_RETENTION_SECS`, default 86400: a day covers any realistic reconnect.
    pub retention_age: Duration,
    /// `BEACON_RETENTION_EVERY_SECS`, default 60: how often retention runs.
    pub retention_every: Duration,
    /// `BEACON_HISTORY_DAYS`, default 30: finished connect sessions and stored
    /// webhooks older than this are deleted (registered users stay).
    pub history_retention: Duration,
    /// `BEACON_SHUTDOWN_DRAIN_SECS`, default 10: how long in-flight HTTP may finish.
    pub shutdown_drain: Duration,
    /// `LEPTOS_SITE_ROOT`, default `target/site`: the built WASM, JS and CSS.
    pub site_root: PathBuf,
    /// `BEACON_PUBLIC_URL`: the base URL phones and browsers reach this server at,
    /// used in invitation links. Default: `http://` + the bound address (set it
    /// to the LAN address, e.g. `http://192.168.1.20:3000`, for a phone).
    pub public_url: Option<String>,
    /// `BEACON_AGENT`, default `dev`: the built-in dev agent stands in for the
    /// identity platform and the wallet. `confirmd` talks to the real platform
    /// configured by the `CONFIRMD_*` variables.
    pub agent: AgentMode,
    /// `BEACON_CONNECT_TTL_SECS`, default 300: how long a QR stays valid.
    pub connect_ttl: Duration,
    /// `BEACON_STALL_AFTER_MS`, default 10000: a session unchanged this long is
    /// advanced by reading the platform (which sends each webhook once).
    pub stall_after: Duration,
    /// `BEACON_STALL_POLL_MS`, default 5000: how often stalled sessions are polled.
    pub stall_poll_every: Duration,
    /// `BEACON_WEBHOOK_REPLAY_WINDOW_SECS`, default 300: signed webhooks older
    /// (or newer) than this are refused.
    pub webhook_replay_window: Duration,
    /// `BEACON_DEV_AGENT_DELAY_MS`, default `200-800`: the dev agent's pause
    /// before each webhook, like the platform's.
    pub dev_agent_delay_ms: (u64, u64),
}

/// Which identity platform Beacon talks to.
#[derive(Debug, Clone)]
pub enum AgentMode {
    /// The built-in dev agent on this server.
    Dev,
    /// A ConfirmD deployment.
    Confirmd(Box<ConfirmdConfig>),
}

/// `CONFIRMD_*`: where the platform is and who Beacon is there.
#[derive(Debug, Clone)]
pub struct ConfirmdConfig {
    /// `CONFIRMD_BASE_URL`, e.g. `https://platform.example/api`.
    pub base_url: String,
    /// `CONFIRMD_AUTH_URL`: the Keycloak token endpoint.
    pub auth_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub org_id: String,
    /// `CONFIRMD_WEBHOOK_SECRET`: the `x-api-key` (or HMAC key) of webhooks.
    pub webhook_secret: Secret,
    /// `CONFIRMD_ATTRIBUTES`, default `given_name,surname,email`.
    pub attributes: Vec<String>,
    pub schema_id: String,
    pub cred_def_id: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can pass their own values.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let parse = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|e| ConfigError::Invalid {
                    name,
                    reason: format!("`{v}` is not a whole number ({e})"),
                }),
            }
        };
        let secs = |name, default| parse(name, default).map(Duration::from_secs);

        let bind = match var("BEACON_BIND") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(v) => v.parse().map_err(|e| ConfigError::Invalid {
                name: "BEACON_BIND",
                reason: format!("`{v}` is not host:port ({e})"),
            })?,
        };
        let database_url = var("DATABASE_URL").unwrap_or_else(|| "sqlite://data/beacon.db".into());
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(ConfigError::Invalid {
                name: "DATABASE_URL",
                reason: "must start with sqlite: or postgres://".into(),
            });
        }
        let secret = match var("BEACON_SECRET") {
            Some(s) if s.len() < 32 => {
                return Err(ConfigError::Invalid {
                    name: "BEACON_SECRET",
                    reason: "must be at least 32 characters".into(),
                });
            }
            Some(s) => Secret::new(s),
            None => Secret::new(String::new()), // filled in by `ensure_secret`
        };

        Ok(Self {
            bind,
            database_url,
            db_max_connections: parse("BEACON_DB_MAX_CONNECTIONS", 10)? as u32,
            secret,
            publish_key: var("BEACON_PUBLISH_KEY").map(Secret::new),
            admin_key: var("BEACON_ADMIN_KEY").map(Secret::new),
            secure_cookies: var("BEACON_SECURE_COOKIES").is_some_and(|v| v == "true" || v == "1"),
            allowed_origins: var("BEACON_ALLOWED_ORIGINS")
                .map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
                .unwrap_or_default(),
            token_ttl: secs("BEACON_TOKEN_TTL_SECS", 300)?,
            heartbeat_interval: Duration::from_millis(parse(
                "BEACON_HEARTBEAT_MS",
                parse("BEACON_HEARTBEAT_SECS", limits::HEARTBEAT_INTERVAL_MS / 1000)? * 1000,
            )?),
            heartbeat_grace: Duration::from_millis(parse(
                "BEACON_HEARTBEAT_GRACE_MS",
                parse("BEACON_HEARTBEAT_GRACE_SECS", limits::HEARTBEAT_GRACE_MS / 1000)? * 1000,
            )?),
            auth_timeout: secs("BEACON_AUTH_TIMEOUT_SECS", 10)?,
            outbound_queue: parse("BEACON_OUTBOUND_QUEUE", 256)?.max(1) as usize,
            max_frame_bytes: parse("BEACON_MAX_FRAME_BYTES", limits::MAX_FRAME_BYTES as u64)? as usize,
            max_channels_per_connection: parse("BEACON_MAX_CHANNELS_PER_CONNECTION", 64)? as usize,
            max_connections_per_principal: parse("BEACON_MAX_CONNECTIONS_PER_PRINCIPAL", 32)? as usize,
            inbound_rate_per_sec: parse("BEACON_INBOUND_RATE", 20)?.max(1) as u32,
            long_poll_wait: Duration::from_millis(parse(
                "BEACON_LONG_POLL_MS",
                parse("BEACON_LONG_POLL_SECS", limits::LONG_POLL_WAIT_MS / 1000)? * 1000,
            )?),
            retention_events: parse("BEACON_RETENTION_EVENTS", 1000)?.max(1),
            retention_age: secs("BEACON_RETENTION_SECS", 86_400)?,
            retention_every: secs("BEACON_RETENTION_EVERY_SECS", 60)?.max(Duration::from_secs(1)),
            history_retention: Duration::from_secs(parse("BEACON_HISTORY_DAYS", 30)? * 86_400),
            shutdown_drain: secs("BEACON_SHUTDOWN_DRAIN_SECS", 10)?,
            site_root: var("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()).into(),
            public_url: var("BEACON_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned()),
            agent: match var("BEACON_AGENT").as_deref() {
                None | Some("dev") => AgentMode::Dev,
                Some("confirmd") => {
                    let required = |name: &'static str| {
                        var(name).ok_or(ConfigError::Invalid {
                            name,
                            reason: "required with BEACON_AGENT=confirmd".into(),
                        })
                    };
                    AgentMode::Confirmd(Box::new(ConfirmdConfig {
                        base_url: required("CONFIRMD_BASE_URL")?,
                        auth_url: required("CONFIRMD_AUTH_URL")?,
                        client_id: required("CONFIRMD_CLIENT_ID")?,
                        client_secret: Secret::new(required("CONFIRMD_CLIENT_SECRET")?),
                        org_id: required("CONFIRMD_ORG_ID")?,
                        webhook_secret: Secret::new(required("CONFIRMD_WEBHOOK_SECRET")?),
                        attributes: var("CONFIRMD_ATTRIBUTES")
                            .unwrap_or_else(|| "given_name,surname,email".into())
                            .split(',')
                            .map(|a| a.trim().to_owned())
                            .filter(|a| !a.is_empty())
                            .collect(),
                        schema_id: required("CONFIRMD_SCHEMA_ID")?,
                        cred_def_id: required("CONFIRMD_CRED_DEF_ID")?,
                    }))
                }
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "BEACON_AGENT",
                        reason: format!("`{other}` is neither `dev` nor `confirmd`"),
                    });
                }
            },
            connect_ttl: secs("BEACON_CONNECT_TTL_SECS", 300)?,
            stall_after: Duration::from_millis(parse("BEACON_STALL_AFTER_MS", 10_000)?),
            stall_poll_every: Duration::from_millis(parse("BEACON_STALL_POLL_MS", 5_000)?.max(50)),
            webhook_replay_window: secs("BEACON_WEBHOOK_REPLAY_WINDOW_SECS", 300)?,
            dev_agent_delay_ms: match var("BEACON_DEV_AGENT_DELAY_MS") {
                None => (200, 800),
                Some(v) => {
                    let bad = || ConfigError::Invalid {
                        name: "BEACON_DEV_AGENT_DELAY_MS",
                        reason: format!("`{v}` is not `<min>-<max>` milliseconds"),
                    };
                    let (low, high) = v.split_once('-').ok_or_else(bad)?;
                    let low: u64 = low.trim().parse().map_err(|_| bad())?;
                    let high: u64 = high.trim().parse().map_err(|_| bad())?;
                    if low > high {
                        return Err(bad());
                    }
                    (low, high)
                }
            },
        })
    }

    /// Fills an unset secret from `data/beacon.secret`, creating it once.
    pub fn ensure_secret(&mut self) -> anyhow::Result<()> {
        use anyhow::Context;
        if !self.secret.expose().is_empty() {
            return Ok(());
        }
        let path = PathBuf::from("data/beacon.secret");
        if let Ok(existing) = std::fs::read_to_string(&path)
            && existing.trim().len() >= 32
        {
            self.secret = Secret::new(existing.trim());
            return Ok(());
        }
        let fresh = hex::encode(rand::random::<[u8; 32]>());
        std::fs::create_dir_all("data").context("creating data/")?;
        std::fs::write(&path, &fresh).context("writing data/beacon.secret")?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .context("restricting data/beacon.secret")?;
        }
        self.secret = Secret::new(fresh);
        Ok(())
    }

    /// Whether the database is Postgres (otherwise SQLite).
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_loopback_and_sqlite() {
        let c = config(&[]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url, "sqlite://data/beacon.db");
        assert_eq!(c.heartbeat_interval, Duration::from_secs(25));
        assert!(c.publish_key.is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("BEACON_BIND", "nowhere")]).unwrap_err().to_string();
        assert!(err.starts_with("BEACON_BIND"), "{err}");
        let err = config(&[("BEACON_OUTBOUND_QUEUE", "-1")]).unwrap_err().to_string();
        assert!(err.starts_with("BEACON_OUTBOUND_QUEUE"), "{err}");
        let err = config(&[("BEACON_SECRET", "short")]).unwrap_err().to_string();
        assert!(err.starts_with("BEACON_SECRET"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let c = config(&[("BEACON_PUBLISH_KEY", "hunter2hunter2")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
