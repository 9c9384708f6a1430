//! Building and running the application. Tests call [`Application::build`]
//! with a listener on port 0 and their own shutdown future.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::Agent;
use crate::agent::confirmd::{ConfirmdClient, ConfirmdSettings};
#[cfg(feature = "dev-agent")]
use crate::agent::dev::DevAgent;
use crate::auth::token::TokenKeys;
use crate::chat::Chat;
use crate::cluster::Cluster;
use crate::cluster::leader::Leadership;
use crate::config::AgentMode;
use crate::config::Config;
use crate::flow::{ConnectFlow, FlowSettings};
use crate::hub::connection::ConnectionContext;
use crate::hub::{Hub, HubParts};
use crate::state::{AppState, NodeInfo, WebhookAuth};
use crate::store::Store;

/// How long connection tasks get to send their close frames at shutdown.
const SOCKET_CLOSE_GRACE: Duration = Duration::from_secs(5);

pub struct Application {
    listener: TcpListener,
    /// The server-to-server routes' own listener (`BEACON_API_BIND`), if any.
    api_listener: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Connects and migrates the database, starts the hub, and prepares the routes.
    pub async fn build(mut config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        config.ensure_secret()?;
        let store = Store::connect(&config.database_url, config.db_max_connections).await?;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let cluster = Cluster::start(&config.cluster, config.chat.away_after, &shutdown, &tasks).await?;
        let leadership =
            Leadership::elect(store.clone(), config.cluster.leader_retry, shutdown.clone(), &tasks);
        let node = NodeInfo { id: cluster.node_id.clone(), leadership, redis: cluster.redis.clone() };
        let hub = Hub::start_with(
            HubParts {
                bus: cluster.bus,
                presence: cluster.presence,
                counts: cluster.counts,
                store: store.clone(),
                max_per_principal: config.max_connections_per_principal,
                gap_fill_every: config.cluster.gap_fill_every,
            },
            shutdown,
            tasks,
        );
        let local_addr = listener.local_addr().context("reading the listener's address")?;
        let identity = identity_platform(&config, local_addr, &hub);
        let flow = ConnectFlow::new(
            store.clone(),
            hub.clone(),
            identity.agent,
            FlowSettings {
                session_ttl: config.connect_ttl,
                share_deadline: config.share_deadline,
                register_deadline: config.register_deadline,
                claim_lease: config.claim_lease,
                stall_after: config.stall_after,
                poll_every: config.stall_poll_every,
            },
            node.leadership.clone(),
        );
        let guards = crate::guard::Guards::new(&config.abuse);
        let inbox = crate::inbox::Inbox::new(
            store.clone(),
            hub.clone(),
            config.notification_categories.clone(),
            config.critical_categories.clone(),
        );
        let chat = Chat::new(store.clone(), hub.clone(), inbox.clone(), config.chat.messages_per_sec);
        let dashboards =
            crate::dashboard::Dashboards::new(store.clone(), hub.clone(), config.chat.dashboard_ops_per_sec);
        let keys = TokenKeys::new(config.secret.expose());
        let config = Arc::new(config);
        // One context shared by every socket: a socket's task keeps a pointer, not five.
        let sockets = Arc::new(ConnectionContext {
            hub: hub.clone(),
            keys: keys.clone(),
            config: config.clone(),
            chat: chat.clone(),
            dashboards: dashboards.clone(),
            runtime: tokio::runtime::Handle::current(),
        });
        let state = AppState {
            keys,
            leptos_options: leptos_options(&config, local_addr),
            config,
            sockets,
            store,
            hub,
            started_at: Instant::now(),
            node,
            flow,
            webhooks: identity.webhooks,
            guards,
            inbox,
            chat,
            dashboards,
            #[cfg(feature = "dev-agent")]
            dev_agent: identity.dev_agent,
        };
        spawn_retention(&state);
        let flow = state.flow.clone();
        crate::dashboard::live::spawn(
            state.hub.clone(),
            Arc::new(move || flow.metrics().webhooks.load(std::sync::atomic::Ordering::Relaxed)),
        );
        state.flow.spawn_background();
        Ok(Self { listener, api_listener: None, state })
    }

    /// Serves the server-to-server routes on `listener` too.
    pub fn with_api_listener(mut self, listener: TcpListener) -> Self {
        self.api_listener = Some(listener);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api_listener.as_ref().map(|l| l.local_addr().expect("a bound listener has an address"))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then: stop accepting, close every
    /// WebSocket with the reconnect-allowed shutdown code, give in-flight HTTP
    /// requests the configured drain time, and close the database pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self { listener, api_listener, state } = self;
        let stopping = CancellationToken::new();
        let hub = state.hub.clone();
        let signal = {
            let stopping = stopping.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down");
                stopping.cancel();
                // axum does not wait for upgraded sockets; the hub closes them itself.
                hub.shutdown_token().cancel();
            }
        };
        let drain = state.config.shutdown_drain;
        let store = state.store.clone();
        let redis = state.node.redis.clone();
        let hub = state.hub.clone();
        let api = api_listener
            .map(|listener| {
                crate::api_thread::serve(listener, crate::http::api_router(state.clone()), stopping.clone())
            })
            .transpose()?;
        let app = crate::http::router(state);
        let listener = crate::http::listener::without_nagle(listener);
        // Connect info gives handlers the peer address, for per-address limits.
        let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(signal);
        let api = async {
            match api {
                Some(api) => api.await.context("the API thread ended")?,
                None => Ok(()),
            }
        };
        let both = async { tokio::try_join!(async { server.await.context("serving HTTP") }, api) };
        tokio::select! {
            served = both => {
                served?;
            }
            _ = async { stopping.cancelled().await; tokio::time::sleep(drain).await } => {
                tracing::warn!("in-flight requests still running after {drain:?}; stopping anyway");
            }
        }
        hub.shutdown(SOCKET_CLOSE_GRACE).await;
        if let Some(redis) = redis {
            // The other nodes see this one gone now, not a lease period later.
            redis.release_lease().await;
        }
        store.close().await;
        Ok(())
    }
}

fn leptos_options(config: &Config, addr: SocketAddr) -> LeptosOptions {
    let env = match std::env::var("LEPTOS_ENV").as_deref() {
        Ok("DEV") | Ok("dev") | Ok("development") => leptos::config::Env::DEV,
        _ => leptos::config::Env::PROD,
    };
    LeptosOptions::builder()
        // cargo-leptos sets this at build time; plain cargo builds use the workspace's name.
        .output_name(option_env!("LEPTOS_OUTPUT_NAME").unwrap_or("beacon"))
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .env(env)
        .build()
}

/// How often SQLite's write-ahead log is checkpointed (see `Store::checkpoint`).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Periodically trims the event log to the configured count and age (on the
/// background-jobs leader only), and checkpoints SQLite's write-ahead log.
fn spawn_retention(state: &AppState) {
    let store = state.store.clone();
    let shutdown = state.hub.shutdown_token().clone();
    state.hub.tasks().spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = every.tick() => {}
            }
            if let Err(err) = store.checkpoint().await {
                tracing::warn!(error = %err, "WAL checkpoint failed");
            }
        }
    });
    let store = state.store.clone();
    let config = state.config.clone();
    let shutdown = state.hub.shutdown_token().clone();
    let leadership = state.node.leadership.clone();
    state.hub.tasks().spawn(async move {
        let mut every = tokio::time::interval(config.retention_every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = every.tick() => {}
            }
            if !leadership.is_leader() {
                continue; // another node runs retention
            }
            let max_age = config.retention_age.as_millis() as i64;
            let log = store.apply_retention(config.retention_events, max_age);
            if retention_job(&shutdown, "the event log", log).await.is_none() {
                break;
            }
            let history_before = crate::store::now_ms() - config.history_retention.as_millis() as i64;
            let history = store.forget_history(history_before);
            if retention_job(&shutdown, "old sessions, webhooks and sign-ins", history).await.is_none() {
                break;
            }
            // Op answers live as long as the events: a resend older than its
            // event is answered afresh (normally as a conflict), never twice applied.
            let op_answers = store.trim_dashboard_ops(max_age);
            if retention_job(&shutdown, "dashboard op answers", op_answers).await.is_none() {
                break;
            }
        }
    });
}

/// Runs one retention job and logs what it removed, or returns `None` when
/// shutdown comes first. A pass with much to remove pauses between its batches
/// for many seconds; shutdown need not wait for it (each batch is a statement
/// or a transaction of its own, so stopping between or inside one loses
/// nothing).
async fn retention_job(
    shutdown: &CancellationToken,
    what: &str,
    job: impl Future<Output = Result<u64, crate::store::StoreError>>,
) -> Option<()> {
    let outcome = tokio::select! {
        _ = shutdown.cancelled() => return None,
        outcome = job => outcome,
    };
    match outcome {
        Ok(0) => {}
        Ok(removed) => tracing::debug!(removed, job = what, "retention removed rows"),
        Err(err) => tracing::warn!(error = %err, job = what, "retention failed"),
    }
    Some(())
}

struct IdentityPlatform {
    agent: Arc<dyn Agent>,
    webhooks: WebhookAuth,
    #[cfg(feature = "dev-agent")]
    dev_agent: Option<DevAgent>,
}

/// The platform client, and in dev mode the dev agent it talks to on this very
/// server (over real HTTP on loopback, with credentials made up at start).
#[cfg_attr(not(feature = "dev-agent"), allow(unused_variables))] // only the dev agent needs them
fn identity_platform(config: &Config, local_addr: SocketAddr, hub: &Hub) -> IdentityPlatform {
    match &config.agent {
        AgentMode::Confirmd(platform) => IdentityPlatform {
            agent: Arc::new(ConfirmdClient::new(ConfirmdSettings {
                base_url: platform.base_url.clone(),
                auth_url: platform.auth_url.clone(),
                client_id: platform.client_id.clone(),
                client_secret: platform.client_secret.clone(),
                org_id: platform.org_id.clone(),
                requested_attributes: platform.attributes.clone(),
                schema_id: platform.schema_id.clone(),
                cred_def_id: platform.cred_def_id.clone(),
            })),
            webhooks: WebhookAuth {
                secret: platform.webhook_secret.clone(),
                org_id: platform.org_id.clone(),
            },
            #[cfg(feature = "dev-agent")]
            dev_agent: None,
        },
        #[cfg(feature = "dev-agent")]
        AgentMode::Dev(options) => {
            let started =
                crate::agent::dev::start(options, config.public_url.as_deref(), local_addr, hub.tasks());
            IdentityPlatform {
                agent: Arc::new(started.client),
                webhooks: started.webhooks,
                dev_agent: Some(started.agent),
            }
        }
        #[cfg(not(feature = "dev-agent"))]
        AgentMode::Dev(_) => unreachable!("config refuses BEACON_AGENT=dev in builds without the dev agent"),
    }
}
