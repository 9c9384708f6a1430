//! Which identity platform Beacon talks to, and the guard rails of the dev
//! agent: it hands out a verified test identity, so it must never run where
//! strangers reach it by accident.

use std::net::SocketAddr;

use super::env::{Env, invalid};
use super::{ConfigError, MIN_SECRET_LEN, Secret};

/// Which identity platform Beacon talks to.
#[derive(Debug, Clone)]
pub enum AgentMode {
    /// The built-in dev agent on this server.
    Dev(DevAgentOptions),
    /// A ConfirmD deployment.
    Confirmd(Box<ConfirmdConfig>),
}

/// Settings of the built-in dev agent.
#[derive(Debug, Clone)]
pub struct DevAgentOptions {
    /// `BEACON_DEV_AGENT_ALLOW_REMOTE`, default false: the dev agent hands a
    /// verified fixture identity to whoever opens its wallet page, so it refuses
    /// to start on a non-loopback address unless this says it is meant.
    pub allow_remote: bool,
    /// `BEACON_DEV_AGENT_TOKEN` (at least 32 characters): the control API's
    /// token. Default: random per start, printed in the start-up warning.
    pub control_token: Option<Secret>,
    /// `BEACON_DEV_AGENT_DELAY_MS`, default `200-800`: the pause before each
    /// webhook, like the platform's.
    pub delay_ms: (u64, u64),
    /// `BEACON_DEV_AGENT_SHARED`: for trying several nodes against one dev
    /// agent, as they would share one platform. Default unset: random
    /// credentials, webhooks to this server.
    pub shared: Option<SharedDevAgent>,
}

/// One dev agent serving several nodes: the others run with
/// `BEACON_AGENT=confirmd` pointed at it, with these credentials.
#[derive(Debug, Clone)]
pub struct SharedDevAgent {
    /// `BEACON_DEV_AGENT_CLIENT_SECRET` (at least 32 characters).
    pub client_secret: Secret,
    /// `BEACON_DEV_AGENT_WEBHOOK_SECRET` (at least 32 characters).
    pub webhook_secret: Secret,
    /// `BEACON_DEV_AGENT_WEBHOOK_URL`: where its webhooks go (a load
    /// balancer, or another node); loopback only, like the agent itself
    /// unless remote is allowed.
    pub webhook_url: String,
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

/// Whether this build contains the dev agent (cargo feature `dev-agent`).
pub const DEV_AGENT_BUILT: bool = cfg!(feature = "dev-agent");

/// Reads `BEACON_AGENT` and what the chosen agent needs.
pub(super) fn from_env<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    bind: SocketAddr,
) -> Result<AgentMode, ConfigError> {
    match env.get("BEACON_AGENT").as_deref() {
        None | Some("dev") => {
            if !DEV_AGENT_BUILT {
                return Err(invalid(
                    "BEACON_AGENT",
                    "this build has no dev agent (feature `dev-agent`): set BEACON_AGENT=confirmd",
                ));
            }
            let allow_remote = env.flag("BEACON_DEV_AGENT_ALLOW_REMOTE")?;
            if !bind.ip().is_loopback() && !allow_remote {
                return Err(invalid(
                    "BEACON_BIND",
                    format!(
                        "{bind} is reachable from the network, and the dev agent gives a verified test \
                         identity to anyone who can reach it. Bind 127.0.0.1, set BEACON_AGENT=confirmd, \
                         or set BEACON_DEV_AGENT_ALLOW_REMOTE=true if that is what you want"
                    ),
                ));
            }
            let control_token = match env.get("BEACON_DEV_AGENT_TOKEN") {
                Some(token) if token.len() < MIN_SECRET_LEN => {
                    return Err(invalid(
                        "BEACON_DEV_AGENT_TOKEN",
                        format!("must be at least {MIN_SECRET_LEN} characters"),
                    ));
                }
                token => token.map(Secret::new),
            };
            let delay_ms = match env.get("BEACON_DEV_AGENT_DELAY_MS") {
                None => (200, 800),
                Some(v) => {
                    let bad = || {
                        invalid(
                            "BEACON_DEV_AGENT_DELAY_MS",
                            format!("`{v}` is not `<min>-<max>` milliseconds"),
                        )
                    };
                    let (low, high) = v.split_once('-').ok_or_else(bad)?;
                    let low: u64 = low.trim().parse().map_err(|_| bad())?;
                    let high: u64 = high.trim().parse().map_err(|_| bad())?;
                    if low > high || high > 60_000 {
                        return Err(bad());
                    }
                    (low, high)
                }
            };
            let shared = shared_dev_agent(env, allow_remote)?;
            Ok(AgentMode::Dev(DevAgentOptions { allow_remote, control_token, delay_ms, shared }))
        }
        Some("confirmd") => {
            let required = |name: &'static str| {
                env.get(name).ok_or_else(|| invalid(name, "required with BEACON_AGENT=confirmd"))
            };
            Ok(AgentMode::Confirmd(Box::new(ConfirmdConfig {
                base_url: required("CONFIRMD_BASE_URL")?,
                auth_url: required("CONFIRMD_AUTH_URL")?,
                client_id: required("CONFIRMD_CLIENT_ID")?,
                client_secret: Secret::new(required("CONFIRMD_CLIENT_SECRET")?),
                org_id: required("CONFIRMD_ORG_ID")?,
                webhook_secret: Secret::new(required("CONFIRMD_WEBHOOK_SECRET")?),
                attributes: env
                    .get("CONFIRMD_ATTRIBUTES")
                    .unwrap_or_else(|| "given_name,surname,email".into())
                    .split(',')
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect(),
                schema_id: required("CONFIRMD_SCHEMA_ID")?,
                cred_def_id: required("CONFIRMD_CRED_DEF_ID")?,
            })))
        }
        Some(other) => Err(invalid("BEACON_AGENT", format!("`{other}` is neither `dev` nor `confirmd`"))),
    }
}

fn shared_dev_agent<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    allow_remote: bool,
) -> Result<Option<SharedDevAgent>, ConfigError> {
    if !env.flag("BEACON_DEV_AGENT_SHARED")? {
        return Ok(None);
    }
    let secret = |name: &'static str| match env.get(name) {
        Some(value) if value.len() >= MIN_SECRET_LEN => Ok(Secret::new(value)),
        _ => Err(invalid(
            name,
            format!("required with BEACON_DEV_AGENT_SHARED, at least {MIN_SECRET_LEN} characters"),
        )),
    };
    let webhook_url = env
        .get("BEACON_DEV_AGENT_WEBHOOK_URL")
        .ok_or_else(|| invalid("BEACON_DEV_AGENT_WEBHOOK_URL", "required with BEACON_DEV_AGENT_SHARED"))?;
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|p| webhook_url.starts_with(p));
    if !loopback && !allow_remote {
        return Err(invalid(
            "BEACON_DEV_AGENT_WEBHOOK_URL",
            "must be a loopback http:// address unless BEACON_DEV_AGENT_ALLOW_REMOTE=true",
        ));
    }
    Ok(Some(SharedDevAgent {
        client_secret: secret("BEACON_DEV_AGENT_CLIENT_SECRET")?,
        webhook_secret: secret("BEACON_DEV_AGENT_WEBHOOK_SECRET")?,
        webhook_url,
    }))
}
