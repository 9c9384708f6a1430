//! Command line: `beacon` serves; `beacon publish` posts an event to a running server.

use clap::{Parser, Subcommand};
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
