//! One task per WebSocket: connect from a chosen loopback source address, do
//! the server's handshake (Beacon: welcome, auth, subscribe; Node: the
//! `connected` greeting), then read frames and hand every event to the
//! scenario's [`Handler`]. In a reconnect storm the task drops its socket on
//! the signal and connects again at once (Beacon resumes with `since`).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use protocol::ClientMessage;
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

mod frames;

use self::frames::{Seen, classify, to_text};

type Ws = WebSocketStream<TcpStream>;

/// Longest one connect, handshake or expected reply may take during set-up.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// What the publisher put in every event: its number and when it was posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Mark {
    pub n: u64,
    /// [`crate::sys::now_ns`] when the POST started.
    pub t: u64,
}

/// A scenario's view of the sockets.
pub trait Handler: Send + Sync + 'static {
    /// An event arrived on `client`'s socket (`replayed`: sent before the
    /// subscribe's ack, i.e. from Beacon's log).
    fn on_event(&self, client: usize, mark: Mark, bytes: usize, replayed: bool);
    /// `client` is connected (and, on Beacon, subscribed and caught up) again
    /// after a storm.
    fn on_back(&self, _client: usize) {}
}

/// Counters shared by all sockets of one run.
#[derive(Debug, Default)]
pub struct Counters {
    /// Sockets connected and subscribed right now.
    pub ready: AtomicUsize,
    /// Socket tasks still running.
    pub live: AtomicUsize,
    /// Sockets that could not connect (or reconnect) in time.
    pub failed: AtomicUsize,
    /// Sockets the server closed (code 4001 slow consumer and the like) or lost.
    pub closed_by_server: AtomicUsize,
    /// Beacon `reset` frames (resume beyond retention): must stay 0.
    pub resets: AtomicUsize,
    /// Successful reconnects.
    pub reconnects: AtomicUsize,
    /// Reconnect attempts that failed and were retried.
    pub retries: AtomicUsize,
    /// Per socket: it completed its first handshake.
    pub came_up: Vec<AtomicBool>,
    first_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn new(sockets: usize) -> Self {
        Self { came_up: (0..sockets).map(|_| AtomicBool::new(false)).collect(), ..Self::default() }
    }

    pub fn note_error(&self, error: &anyhow::Error) {
        let mut first = self.first_error.lock().expect("error lock");
        if first.is_none() {
            *first = Some(format!("{error:#}"));
        }
    }

    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().expect("error lock").clone()
    }
}

/// How one socket finds and identifies itself.
#[derive(Debug, Clone)]
pub struct Spec {
    pub index: usize,
    pub server: SocketAddr,
    pub source: Ipv4Addr,
    pub url: Arc<str>,
    /// Beacon: the connect token and the channel to subscribe to.
    pub beacon: Option<(Arc<str>, Arc<str>)>,
    /// Where to reconnect after a storm when not to `server` (its node died).
    pub fallback: Option<(SocketAddr, Arc<str>)>,
}

impl Spec {
    /// The spec reconnects use: the fallback node's, when there is one.
    fn after_storm(&self) -> Spec {
        let mut spec = self.clone();
        if let Some((server, url)) = &self.fallback {
            spec.server = *server;
            spec.url = url.clone();
        }
        spec
    }
}

/// What a task runs with besides its [`Spec`].
#[derive(Clone)]
pub struct Env {
    pub handler: Arc<dyn Handler>,
    pub counters: Arc<Counters>,
    pub stop: CancellationToken,
    /// Limits concurrent handshakes during set-up (not during a storm).
    pub setup_gate: Arc<Semaphore>,
    /// Bumped to make every socket drop and reconnect; `None` outside storms.
    pub storm: Option<watch::Receiver<u64>>,
    /// How long a socket keeps trying to come back after a storm.
    pub storm_deadline: Duration,
}

/// Source address `i` of `n`: 127.0.0.1 ..= 127.0.0.n.
pub fn source_addr(i: usize, n: usize) -> Ipv4Addr {
    let last = (i % n.clamp(1, 254)) as u8 + 1;
    Ipv4Addr::new(127, 0, 0, last)
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: tens of thousands of sockets live in this one process.
    WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(0)
}

/// Runs one socket until `env.stop` fires or it fails for good.
pub async fn run(spec: Spec, env: Env) {
    env.counters.live.fetch_add(1, Ordering::Relaxed);
    let mut last_seq: Option<u64> = None;
    let first = {
        let _permit = env.setup_gate.acquire().await;
        tokio::select! {
            _ = env.stop.cancelled() => None,
            ws = connect(&spec, &env, &mut last_seq, Instant::now() + STEP_TIMEOUT) => Some(ws),
        }
    };
    let mut ws = match first {
        None => {
            env.counters.live.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        Some(Ok(ws)) => ws,
        Some(Err(err)) => {
            env.counters.note_error(&err);
            env.counters.failed.fetch_add(1, Ordering::Relaxed);
            env.counters.live.fetch_sub(1, Ordering::Relaxed);
            return;
        }
    };
    env.counters.ready.fetch_add(1, Ordering::Relaxed);
    if let Some(flag) = env.counters.came_up.get(spec.index) {
        flag.store(true, Ordering::Relaxed);
    }
    let mut storm = env.storm.clone();
    if let Some(storm) = storm.as_mut() {
        storm.mark_unchanged();
    }

    loop {
        let storm_changed = async {
            match storm.as_mut() {
                Some(storm) => storm.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = env.stop.cancelled() => break,
            true = storm_changed => {
                // Drop the link without a close handshake, as a network blip would.
                drop(ws);
                env.counters.ready.fetch_sub(1, Ordering::Relaxed);
                match reconnect(&spec, &env, &mut last_seq).await {
                    Some(fresh) => {
                        ws = fresh;
                        env.counters.ready.fetch_add(1, Ordering::Relaxed);
                        env.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                        env.handler.on_back(spec.index);
                    }
                    None => {
                        env.counters.failed.fetch_add(1, Ordering::Relaxed);
                        env.counters.live.fetch_sub(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            frame = ws.next() => {
                let ok = match frame {
                    Some(Ok(Message::Text(text))) => {
                        on_text(&spec, &env, &mut ws, &text, &mut last_seq, false).await.is_ok()
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => false,
                    Some(Ok(_)) => true,
                };
                if !ok {
                    env.counters.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    env.counters.ready.fetch_sub(1, Ordering::Relaxed);
                    env.counters.live.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
    env.counters.ready.fetch_sub(1, Ordering::Relaxed);
    // A polite close, bounded: the server should see the socket go at once.
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    env.counters.live.fetch_sub(1, Ordering::Relaxed);
}

/// Tries again and again (with the browser client's full-jitter backoff, but
/// starting at once) until connected or the storm deadline passes.
async fn reconnect(spec: &Spec, env: &Env, last_seq: &mut Option<u64>) -> Option<Ws> {
    let deadline = Instant::now() + env.storm_deadline;
    let spec = &spec.after_storm();
    let mut failures = 0u32;
    loop {
        if env.stop.is_cancelled() {
            return None;
        }
        match connect(spec, env, last_seq, deadline).await {
            Ok(ws) => return Some(ws),
            Err(err) => {
                failures += 1;
                env.counters.note_error(&err);
                if Instant::now() >= deadline {
                    return None;
                }
                env.counters.retries.fetch_add(1, Ordering::Relaxed);
                let ceiling = (250.0 * 2f64.powi(failures as i32 - 1)).min(2_000.0);
                let delay = (rand::random::<f64>() * ceiling).max(20.0);
                tokio::time::sleep(Duration::from_millis(delay as u64)).await;
            }
        }
    }
}

async fn open(spec: &Spec, deadline: Instant) -> Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((spec.source, 0))).with_context(|| format!("binding {}", spec.source))?;
    let stream = tokio::time::timeout_at(deadline, socket.connect(spec.server))
        .await
        .map_err(|_| anyhow!("connect timed out"))?
        .context("connect")?;
    stream.set_nodelay(true)?;
    let (ws, _) = tokio::time::timeout_at(
        deadline,
        tokio_tungstenite::client_async_with_config(&*spec.url, stream, Some(ws_config())),
    )
    .await
    .map_err(|_| anyhow!("WebSocket handshake timed out"))?
    .context("WebSocket handshake")?;
    Ok(ws)
}

/// The next text frame, answering pings on the way; `None` when the socket ended.
async fn next_text(ws: &mut Ws, deadline: Instant) -> Result<String> {
    loop {
        let frame =
            tokio::time::timeout_at(deadline, ws.next()).await.map_err(|_| anyhow!("no answer in time"))?;
        match frame {
            Some(Ok(Message::Text(text))) => return Ok(text.to_string()),
            Some(Ok(Message::Close(frame))) => bail!("closed by the server: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.into()),
            None => bail!("socket ended"),
        }
    }
}

async fn expect_greeting(ws: &mut Ws, deadline: Instant) -> Result<()> {
    let first = next_text(ws, deadline).await?;
    if classify(&first)?.0 != Seen::Greeting {
        bail!("expected a greeting, got {first}");
    }
    Ok(())
}

/// Opens a socket and does the server's handshake. On Beacon the subscribe
/// resumes after `last_seq`; the events replayed before the ack go to the handler.
async fn connect(spec: &Spec, env: &Env, last_seq: &mut Option<u64>, deadline: Instant) -> Result<Ws> {
    let mut ws = open(spec, deadline).await?;
    let Some((token, channel)) = &spec.beacon else {
        // Node: the `connected` greeting is all there is.
        return expect_greeting(&mut ws, deadline).await.map(|()| ws);
    };
    // As the browser client does: auth and subscribe go as soon as the socket
    // is open, without waiting for the welcome or the auth's ack (the server
    // reads a socket's frames in order, after its welcome).
    ws.feed(to_text(&ClientMessage::Auth { id: "a".into(), token: token.to_string() })).await?;
    ws.send(to_text(&ClientMessage::Subscribe {
        id: "s".into(),
        channel: channel.to_string(),
        since: *last_seq,
        epoch: None,
    }))
    .await?;
    expect_greeting(&mut ws, deadline).await?;
    loop {
        let text = next_text(&mut ws, deadline).await?;
        match classify(&text)? {
            (Seen::Ack { id, .. }, _) if id == "a" => {}
            (Seen::Ack { id, head_seq }, _) if id == "s" => {
                if let Some(head) = head_seq {
                    *last_seq = Some(last_seq.map_or(head, |l| l.max(head)));
                }
                return Ok(ws);
            }
            (Seen::Nack(code), _) => bail!("auth or subscribe refused: {code}"),
            _ => on_text(spec, env, &mut ws, &text, last_seq, true).await?,
        }
    }
}

/// Handles one frame of a subscribed socket.
async fn on_text(
    spec: &Spec,
    env: &Env,
    ws: &mut Ws,
    text: &str,
    last_seq: &mut Option<u64>,
    replayed: bool,
) -> Result<()> {
    let (seen, seq) = classify(text)?;
    match seen {
        Seen::Event(mark) => {
            if let Some(seq) = seq {
                *last_seq = Some(last_seq.map_or(seq, |l| l.max(seq)));
            }
            env.handler.on_event(spec.index, mark, text.len(), replayed);
        }
        Seen::Ping(ts) => ws.send(to_text(&ClientMessage::Pong { ts })).await?,
        Seen::Reset(head) => {
            env.counters.resets.fetch_add(1, Ordering::Relaxed);
            *last_seq = Some(head);
        }
        Seen::Nack(code) => env.counters.note_error(&anyhow!("nack: {code}")),
        Seen::Ack { .. } | Seen::Greeting | Seen::Other => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_sources_over_loopback_addresses() {
        assert_eq!(source_addr(0, 4), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(source_addr(3, 4), Ipv4Addr::new(127, 0, 0, 4));
        assert_eq!(source_addr(4, 4), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(source_addr(9, 1), Ipv4Addr::new(127, 0, 0, 1));
    }
}
