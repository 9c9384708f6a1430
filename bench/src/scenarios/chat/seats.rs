//! Seating the chat scenario: each member's conversation, room and (on
//! Beacon) connect token, made through the product's own HTTP API, and each
//! member's socket opened, authenticated and subscribed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::scenarios::{Plan, progress};
use crate::server::{Kind, Server};

/// One member: where to connect and how to say who it is.
pub(super) struct Seat {
    pub(super) conversation: usize,
    pub(super) member: usize,
    /// Beacon: the channel; Node: the conversation id (its `sessionId`).
    pub(super) room: String,
    /// Beacon: the member's connect token.
    pub(super) token: Option<String>,
}

/// The cookie a Beacon response set (`name=value`), to act as that visitor.
fn cookie_of(response: &reqwest::Response) -> Option<String> {
    let header = response.headers().get("set-cookie")?.to_str().ok()?;
    header.split(';').next().map(str::to_owned)
}

/// A new Beacon visitor: its cookie and connect token.
async fn visitor(http: &reqwest::Client, base: &str) -> Result<(String, String)> {
    let response = http.get(format!("{base}/api/realtime/token")).send().await?.error_for_status()?;
    let cookie = cookie_of(&response).context("no visitor cookie")?;
    let body: Value = response.json().await?;
    let token = body["token"].as_str().context("no token")?.to_owned();
    Ok((cookie, token))
}

/// Beacon: a conversation with `members` visitors in it; their connect tokens.
async fn beacon_conversation(
    http: &reqwest::Client,
    base: &str,
    members: usize,
) -> Result<(String, Vec<String>)> {
    let (owner, owner_token) = visitor(http, base).await?;
    let created: Value = http
        .post(format!("{base}/api/conversations"))
        .header("cookie", &owner)
        .json(&json!({ "title": "bench", "display_name": "m0" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"].as_str().context("no conversation id")?.to_owned();
    let invite: Value = http
        .post(format!("{base}/api/conversations/{id}/invites"))
        .header("cookie", &owner)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let invite = invite["token"].as_str().context("no invite token")?.to_owned();
    let mut tokens = vec![owner_token];
    for m in 1..members {
        let (cookie, token) = visitor(http, base).await?;
        http.post(format!("{base}/api/invites/{invite}/accept"))
            .header("cookie", &cookie)
            .json(&json!({ "display_name": format!("m{m}") }))
            .send()
            .await?
            .error_for_status()?;
        tokens.push(token);
    }
    Ok((format!("conversation:{id}"), tokens))
}

pub(super) async fn seats(server: &Server, plan: &Plan, label: &str) -> Result<Vec<Seat>> {
    let (c_count, m_count) = (plan.chat_conversations, plan.chat_members);
    let tag = format!("{:08x}", rand::random::<u32>());
    if server.kind == Kind::Node {
        return Ok((0..c_count)
            .flat_map(|c| {
                let room = format!("c{tag}-{c}");
                (0..m_count).map(move |m| Seat {
                    conversation: c,
                    member: m,
                    room: room.clone(),
                    token: None,
                })
            })
            .collect());
    }
    progress(label, format!("creating {c_count} conversations of {m_count} members"));
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let mut jobs = JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    for c in 0..c_count {
        let (http, base, limit) = (http.clone(), base.clone(), limit.clone());
        jobs.spawn(async move {
            let _permit = limit.acquire_owned().await?;
            beacon_conversation(&http, &base, m_count).await.map(|made| (c, made))
        });
    }
    let mut seats = Vec::with_capacity(c_count * m_count);
    while let Some(joined) = jobs.join_next().await {
        let (c, (room, tokens)) = joined??;
        for (m, token) in tokens.into_iter().enumerate() {
            seats.push(Seat { conversation: c, member: m, room: room.clone(), token: Some(token) });
        }
    }
    Ok(seats)
}

pub(super) type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

pub(super) async fn open(server: &Server, seat: &Seat, source: std::net::Ipv4Addr) -> Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let stream = socket.connect(server.addr).await?;
    stream.set_nodelay(true)?;
    let (mut ws, _) = tokio_tungstenite::client_async(server.ws_url(&seat.room), stream).await?;
    let _greeting = ws.next().await.context("no greeting")??;
    if let Some(token) = &seat.token {
        ws.send(Message::text(json!({"type": "auth", "id": "a", "token": token}).to_string())).await?;
        wait_for_ack(&mut ws, "a").await?;
        let subscribe = json!({"type": "subscribe", "id": "s", "channel": seat.room});
        ws.send(Message::text(subscribe.to_string())).await?;
        wait_for_ack(&mut ws, "s").await?;
    }
    Ok(ws)
}

async fn wait_for_ack(ws: &mut Ws, id: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.map_err(|_| anyhow!("no ack"))?;
        let Some(Ok(Message::Text(text))) = frame else { bail!("socket ended before the ack") };
        let value: Value = serde_json::from_str(&text)?;
        match value["type"].as_str() {
            Some("ack") if value["id"] == id => return Ok(()),
            Some("nack") => bail!("refused: {text}"),
            _ => {}
        }
    }
}
