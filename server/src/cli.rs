//! Command line: `beacon` serves; `beacon publish` posts an event and
//! `beacon notify` a notification to a running server.

use clap::{Parser, Subcommand};
use protocol::inbox::{CreateAnswer, CreateNotifications};
use protocol::{ChannelName, PublishRequest, PublishResponse};

#[derive(Debug, Parser)]
#[command(name = "beacon", version, about = "Beacon: real-time notifications over one WebSocket per tab")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the app (the default).
    Serve,
    /// Publish an event through a running server's publish API.
    Publish {
        /// Channel, e.g. `user:3f2a...`.
        #[arg(long)]
        channel: ChannelName,
        /// The event payload, as JSON.
        #[arg(long)]
        payload: String,
        /// Base URL of the server.
        #[arg(long, env = "BEACON_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
        /// The server's publish key.
        #[arg(long, env = "BEACON_PUBLISH_KEY", hide_env_values = true)]
        key: String,
    },
    /// Send a notification to one or more inboxes through a running server.
    Notify {
        /// A recipient principal (32 hex digits); repeat for several.
        #[arg(long = "to", required = true)]
        to: Vec<String>,
        #[arg(long, default_value = "system")]
        category: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        body: String,
        /// A path on the site (`/chat`) or an http(s) URL.
        #[arg(long)]
        link: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        /// Retrying with the same key never makes a second notification.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Base URL of the server.
        #[arg(long, env = "BEACON_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
        /// The server's publish key.
        #[arg(long, env = "BEACON_PUBLISH_KEY", hide_env_values = true)]
        key: String,
    },
}

/// Posts a notification and returns the server's answer.
pub async fn notify(request: &CreateNotifications, url: &str, key: &str) -> anyhow::Result<CreateAnswer> {
    let response = reqwest::Client::new()
        .post(format!("{}/api/notifications", url.trim_end_matches('/')))
        .bearer_auth(key)
        .json(request)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("server answered {status}: {body}");
    }
    Ok(response.json().await?)
}

/// Posts one event and prints the server's answer.
pub async fn publish(
    channel: ChannelName,
    payload: &str,
    url: &str,
    key: &str,
) -> anyhow::Result<PublishResponse> {
    let payload: serde_json::Value =
        serde_json::from_str(payload).map_err(|e| anyhow::anyhow!("--payload is not JSON: {e}"))?;
    let response = reqwest::Client::new()
        .post(format!("{}/api/realtime/publish", url.trim_end_matches('/')))
        .bearer_auth(key)
        .json(&PublishRequest { channel, payload })
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("server answered {status}: {body}");
    }
    Ok(response.json().await?)
}
