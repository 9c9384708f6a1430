//! `beacon`: load configuration, start tracing, build the application, run it
//! until SIGINT or SIGTERM. Everything else is in the library.

use anyhow::Context;
use clap::Parser;
use server::cli::{Cli, Command};
use server::config::Config;
use server::startup::Application;

/// jemalloc, not the system's allocator: an idle socket parks and gives its
/// task back (`hub::connection::park`), and jemalloc keeps blocks of one
/// size together, so the freed tasks' pages go back to the system; glibc's
/// heap kept them between the sockets' long-lived blocks (docs/PERFORMANCE.md,
/// step 27).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    server::telemetry::init();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Publish { channel, payload, url, key } => {
            let answer = server::cli::publish(channel, &payload, &url, &key).await?;
            println!("{}", serde_json::to_string(&answer)?);
            Ok(())
        }
        Command::Notify { to, category, title, body, link, actor, idempotency_key, url, key } => {
            let request = protocol::inbox::CreateNotifications {
                recipients: to,
                category,
                title,
                body,
                link,
                actor,
                idempotency_key,
            };
            let answer = server::cli::notify(&request, &url, &key).await?;
            println!("{}", serde_json::to_string(&answer)?);
            Ok(())
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let listener = listen(config.bind).with_context(|| format!("binding {}", config.bind))?;
    let api_listener = match config.api_bind {
        Some(address) => Some(listen(address).with_context(|| format!("binding {address}"))?),
        None => None,
    };
    let mut app = Application::build(config, listener).await?;
    if let Some(api_listener) = api_listener {
        app = app.with_api_listener(api_listener);
    }
    tracing::info!(
        address = %app.local_addr(),
        api_address = ?app.api_addr(),
        database = app.state().store.backend().as_str(),
        "Beacon is listening"
    );
    app.run_until(shutdown_signal()).await
}

/// Connections the kernel may hold before `accept`. The default 1024 overflows
/// when thousands of clients reconnect at once (a deploy, a network blink): the
/// overflow waits a whole SYN retry (1 s, then 3 s). The kernel caps it at
/// `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 8192;

fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket =
        if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
