//! Beacon's server: pages, the realtime hub, storage and the HTTP APIs.
//!
//! - [`config`]: settings from the environment, with defaults and reasons.
//! - [`startup`]: builds the application on a listener and runs it until shutdown.
//! - [`state`]: the handle every handler gets.
//! - [`http`]: routes by area (health, metrics, realtime, sessions, the socket).
//! - [`inbox`]: the notification inbox: create, read state, preferences.
//! - [`chat`]: conversations: members, invites, messages, notifying the absent.
//! - [`dashboard`]: live dashboards: members, ops with conflicts, live values.
//! - [`websocket`]: the WebSocket protocol on an upgraded connection.
//! - [`hub`]: connections, channel subscriptions, fan-out, heartbeats, limits.
//! - [`bus`]: how events reach every node's hub (in process, or Redis between nodes).
//! - [`cluster`]: one node or several: Redis, node leases, the background-jobs leader.
//! - [`store`]: the database: event log, grants, connect sessions.
//! - [`auth`]: visitor cookies, connect tokens, channel authorization, API keys.
//! - [`agent`]: the identity platform client, and the built-in dev agent.
//! - [`webhook`]: platform webhook authentication and normalisation.
//! - [`flow`]: the wallet-connect flow from QR to registration.
//! - [`guard`]: per-address and whole-server abuse limits.
//! - [`error`]: the HTTP error type.
//! - [`cli`]: the `beacon publish` client.

pub mod agent;
pub mod api_thread;
pub mod auth;
pub mod bus;
pub mod chat;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod flow;
pub mod guard;
pub mod http;
pub mod hub;
pub mod inbox;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod webhook;
pub mod websocket;
