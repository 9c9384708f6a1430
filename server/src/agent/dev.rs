//! The built-in dev agent: the identity platform and the wallet, in one.
//!
//! It serves the ConfirmD platform API under `/dev-agent` (token, invitations,
//! connections, proofs, verify, verified attributes), the short invitation URL
//! `/i/{code}` (the long URL as a JSON string for wallets, a wallet page for a
//! browser or a phone), and a control API for the wallet page and tests,
//! guarded by a per-start token.
//!
//! Compiled only with the `dev-agent` cargo feature, started only when
//! `BEACON_AGENT` is `dev`, and refused on a non-loopback bind unless
//! `BEACON_DEV_AGENT_ALLOW_REMOTE` says so (see `config::agent`). Wallet actions make it call
//! Beacon's webhook over real HTTP with the platform's envelopes, 200-800 ms
//! apart, with per-invitation fault switches.

mod platform;
mod wallet;
mod webhooks;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::task::TaskTracker;

use crate::agent::confirmd::{ConfirmdClient, ConfirmdSettings};
use crate::config::{DevAgentOptions, Secret};
use crate::state::WebhookAuth;

pub use wallet::CONTROL_TOKEN_HEADER;
pub use webhooks::EnvelopeStyle;

/// Invitations kept; the oldest is forgotten beyond this (a dev tool must not grow without bound).
const MAX_INVITATIONS: usize = 10_000;
/// Webhooks remembered per invitation for the control API.
const MAX_SENT_PER_INVITATION: usize = 64;

/// The attribute values the simulated wallet holds.
pub const WALLET_FIXTURE: [(&str, &str); 5] = [
    ("given_name", "Ada"),
    ("surname", "Lovelace"),
    ("email", "ada.lovelace@example.org"),
    ("student_id", "S-1815-12"),
    ("graduation_year", "2024"),
];

/// How the dev agent reaches Beacon and presents itself.
#[derive(Debug, Clone)]
pub struct DevAgentSettings {
    /// Where Beacon's webhook listens, e.g. `http://127.0.0.1:3000/api/webhooks/confirmd`.
    pub webhook_url: String,
    pub webhook_secret: Secret,
    /// Public base URL for short invitation links (the phone must reach it).
    pub public_url: String,
    pub org_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Pause before each webhook, chosen uniformly in this range (ms).
    pub delay_ms: (u64, u64),
    /// What the control API requires in `x-dev-agent-token`.
    pub control_token: Secret,
}

/// Misbehaviours the platform has been seen to show, switchable per invitation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Send an action's webhooks in random order.
    pub shuffle: bool,
    /// Send each webhook twice.
    pub duplicate: bool,
    /// Never send this state's webhook (the record still reaches the state).
    pub drop_state: Option<String>,
    /// Extra pause before each webhook (ms).
    pub delay_ms: u64,
    /// `_tags.state` shows the previous state, as the platform's lagging tags do.
    pub stale_tags: bool,
    /// The out-of-band id only inside `_tags`.
    pub oob_only_in_tags: bool,
    /// The wallet reuses an old connection: one `completed` webhook for a
    /// connection Beacon never saw, carrying `outOfBandRecord` and `reuseThreadId`.
    pub reuse: bool,
    pub envelope: EnvelopeStyle,
}

#[derive(Debug, Clone, Serialize)]
pub struct SentWebhook {
    pub kind: &'static str,
    pub state: String,
    /// HTTP status Beacon answered, or 0 when the webhook was dropped on purpose.
    pub status: u16,
}

#[derive(Debug, Clone)]
struct Connection {
    id: String,
    state: String,
    label: String,
}

#[derive(Debug, Clone)]
struct Proof {
    id: String,
    connection_id: String,
    state: String,
    is_verified: Option<bool>,
    error_message: Option<String>,
}

#[derive(Debug)]
struct InvitationState {
    code: String,
    record_id: String,
    alias: String,
    connection: Option<Connection>,
    proof: Option<Proof>,
    faults: Faults,
    sent: VecDeque<SentWebhook>,
    /// Proof requests Beacon sent on this invitation's connection (must be one).
    proof_requests: u32,
    /// Times Beacon asked for this invitation's connection (its stall poller).
    connection_reads: u32,
}

#[derive(Default)]
struct State {
    invitations: HashMap<String, InvitationState>,
    /// Codes in creation order, for eviction.
    order: VecDeque<String>,
    by_record: HashMap<String, String>,
    by_connection: HashMap<String, String>,
    by_proof: HashMap<String, String>,
    tokens: VecDeque<String>,
}

/// The dev agent's handle, shared by its routes.
#[derive(Clone)]
pub struct DevAgent {
    inner: Arc<Inner>,
}

struct Inner {
    settings: DevAgentSettings,
    state: Mutex<State>,
    http: reqwest::Client,
    tasks: TaskTracker,
}

/// What the control API and the wallet page show about an invitation.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationView {
    pub code: String,
    pub alias: String,
    pub connection_state: Option<String>,
    pub wallet_label: Option<String>,
    pub proof_state: Option<String>,
    pub requested: Vec<(String, String)>,
    pub faults: Faults,
    pub sent: Vec<SentWebhook>,
    pub proof_requests: u32,
    pub connection_reads: u32,
}

/// What starting the dev agent gives the application: the platform client
/// pointed at it, what its webhooks present, and the agent itself.
pub struct Started {
    pub client: ConfirmdClient,
    pub webhooks: WebhookAuth,
    pub agent: DevAgent,
}

/// Starts the dev agent for a server listening on `local_addr`, with random
/// platform credentials and (unless configured) a random control token, and
/// says loudly in the log that it is running.
pub fn start(
    options: &DevAgentOptions,
    public_url: Option<&str>,
    local_addr: std::net::SocketAddr,
    tasks: &TaskTracker,
) -> Started {
    let mut loopback = local_addr;
    if loopback.ip().is_unspecified() {
        loopback.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let internal = format!("http://{loopback}");
    let public_url = public_url.map_or_else(|| internal.clone(), str::to_owned);
    let random = || Secret::new(hex::encode(rand::random::<[u8; 24]>()));
    let (client_secret, webhook_secret, webhook_url) = match &options.shared {
        Some(shared) => {
            (shared.client_secret.clone(), shared.webhook_secret.clone(), shared.webhook_url.clone())
        }
        None => (random(), random(), format!("{internal}/api/webhooks/confirmd")),
    };
    let control_token = options.control_token.clone().unwrap_or_else(random);
    let org_id = "beacon-dev-org".to_owned();
    tracing::warn!(
        wallet_pages = %format!("{public_url}/i/<code>"),
        control_token = control_token.expose(),
        remote_allowed = options.allow_remote,
        "DEVELOPMENT IDENTITY AGENT ACTIVE: anyone who opens a wallet page gets a verified test \
         identity. Set BEACON_AGENT=confirmd for real people."
    );
    let agent = DevAgent::new(
        DevAgentSettings {
            webhook_url,
            webhook_secret: webhook_secret.clone(),
            public_url,
            org_id: org_id.clone(),
            client_id: "beacon-dev".into(),
            client_secret: client_secret.clone(),
            delay_ms: options.delay_ms,
            control_token,
        },
        tasks.clone(),
    );
    let client = ConfirmdClient::new(ConfirmdSettings {
        base_url: format!("{internal}/dev-agent"),
        auth_url: format!("{internal}/dev-agent/auth/token"),
        client_id: "beacon-dev".into(),
        client_secret,
        org_id: org_id.clone(),
        requested_attributes: vec!["given_name".into(), "surname".into(), "email".into()],
        schema_id: "dev:2:student:1.0".into(),
        cred_def_id: "dev:3:CL:1:student".into(),
    });
    Started { client, webhooks: WebhookAuth { secret: webhook_secret, org_id }, agent }
}

impl DevAgent {
    pub fn new(settings: DevAgentSettings, tasks: TaskTracker) -> Self {
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("static settings");
        Self { inner: Arc::new(Inner { settings, state: Mutex::new(State::default()), http, tasks }) }
    }

    /// The platform API, the short links and the control API.
    pub fn router(&self) -> Router {
        platform::router(self.clone()).merge(wallet::router(self.clone()))
    }

    /// The control API's token (the wallet page embeds it; tests are given it).
    pub fn control_token(&self) -> &Secret {
        &self.inner.settings.control_token
    }

    fn settings(&self) -> &DevAgentSettings {
        &self.inner.settings
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.inner.state.lock().expect("dev agent lock poisoned"))
    }

    pub fn view(&self, code: &str) -> Option<InvitationView> {
        self.with_state(|state| {
            let inv = state.invitations.get(code)?;
            Some(InvitationView {
                code: inv.code.clone(),
                alias: inv.alias.clone(),
                connection_state: inv.connection.as_ref().map(|c| c.state.clone()),
                wallet_label: inv.connection.as_ref().map(|c| c.label.clone()),
                proof_state: inv.proof.as_ref().map(|p| p.state.clone()),
                requested: WALLET_FIXTURE.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                faults: inv.faults.clone(),
                sent: inv.sent.iter().cloned().collect(),
                proof_requests: inv.proof_requests,
                connection_reads: inv.connection_reads,
            })
        })
    }

    fn create_invitation(&self, alias: &str) -> (String, String, String) {
        let code = uuid::Uuid::new_v4().simple().to_string();
        let id = uuid::Uuid::new_v4().to_string();
        let record_id = uuid::Uuid::new_v4().to_string();
        self.with_state(|state| {
            if state.order.len() >= MAX_INVITATIONS
                && let Some(oldest) = state.order.pop_front()
                && let Some(old) = state.invitations.remove(&oldest)
            {
                state.by_record.remove(&old.record_id);
                if let Some(c) = old.connection {
                    state.by_connection.remove(&c.id);
                }
                if let Some(p) = old.proof {
                    state.by_proof.remove(&p.id);
                }
            }
            state.order.push_back(code.clone());
            state.by_record.insert(record_id.clone(), code.clone());
            state.invitations.insert(
                code.clone(),
                InvitationState {
                    code: code.clone(),
                    record_id: record_id.clone(),
                    alias: alias.to_owned(),
                    connection: None,
                    proof: None,
                    faults: Faults::default(),
                    sent: VecDeque::new(),
                    proof_requests: 0,
                    connection_reads: 0,
                },
            );
        });
        (code, id, record_id)
    }

    fn short_url(&self, code: &str) -> String {
        format!("{}/i/{code}", self.settings().public_url.trim_end_matches('/'))
    }

    /// The long invitation URL: `?oob=` and the base64url out-of-band invitation.
    fn long_url(&self, code: &str) -> Option<String> {
        use base64::Engine;
        let record_id = self.with_state(|s| s.invitations.get(code).map(|i| i.record_id.clone()))?;
        let invitation = serde_json::json!({
            "@type": "https://didcomm.org/out-of-band/1.1/invitation",
            "@id": record_id,
            "label": "Beacon",
            "accept": ["didcomm/aip1", "didcomm/aip2;env=rfc19"],
            "handshake_protocols": ["https://didcomm.org/didexchange/1.1", "https://didcomm.org/connections/1.0"],
            "services": [{ "id": "#inline-0", "serviceEndpoint": self.settings().public_url, "type": "did-communication" }],
        });
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(invitation.to_string());
        Some(format!("{}?oob={encoded}", self.settings().public_url.trim_end_matches('/')))
    }

    pub fn set_faults(&self, code: &str, faults: Faults) -> bool {
        self.with_state(|s| s.invitations.get_mut(code).map(|i| i.faults = faults).is_some())
    }
}

/// The JSON of a connection record, as the platform stores it.
fn connection_json(conn: &Connection, alias: &str, record_id: &str) -> Value {
    serde_json::json!({
        "id": conn.id,
        "state": conn.state,
        "role": "responder",
        "theirLabel": conn.label,
        "theirDid": format!("did:peer:1z{}", &conn.id.replace('-', "")[..16]),
        "alias": alias,
        "autoAcceptConnection": true,
        "threadId": uuid::Uuid::new_v4().to_string(),
        "protocol": "https://didcomm.org/didexchange/1.x",
        "outOfBandId": record_id,
        "createdAt": crate::store::now_ms(),
        "updatedAt": crate::store::now_ms(),
    })
}

fn proof_json(proof: &Proof) -> Value {
    let mut value = serde_json::json!({
        "id": proof.id,
        "state": proof.state,
        "role": "verifier",
        "protocolVersion": "v1",
        "connectionId": proof.connection_id,
        "threadId": uuid::Uuid::new_v4().to_string(),
        "autoAcceptProof": "never",
        "createdAt": crate::store::now_ms(),
        "updatedAt": crate::store::now_ms(),
    });
    if let Some(verified) = proof.is_verified {
        value["isVerified"] = Value::Bool(verified);
    }
    if let Some(message) = &proof.error_message {
        value["errorMessage"] = Value::String(message.clone());
    }
    value
}
