//! The server-to-server listener (`BEACON_API_BIND`) on threads and a Tokio
//! runtime of its own.
//!
//! Tokio runs ready tasks first come, first served. When thousands of
//! browsers reconnect at once, every handshake and resubscribe is a ready task
//! on the main runtime, and a publish request queued behind them waited about
//! a second (docs/PERFORMANCE.md, step 10). On threads of its own the API is
//! scheduled by the operating system beside the main runtime's workers, so a
//! publish waits for a time slice, not for the whole storm. The event log's
//! writer has a thread of its own for the same reason (`store::appender`).

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// A quarter of the cores, at least one: publishing is a small share of the
/// work beside the sockets, and each worker is a thread the sockets' workers
/// share the cores with.
fn api_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 4).max(1))
}

/// Serves `app` on `listener` from threads of its own until `stop` is cancelled;
/// the answer says how serving ended.
pub fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
) -> anyhow::Result<oneshot::Receiver<anyhow::Result<()>>> {
    // A listener belongs to the runtime that registered it: hand it over as a plain socket.
    let listener = listener.into_std().context("detaching the API listener")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(api_workers())
        .enable_all()
        .thread_name("beacon-api")
        .build()
        .context("starting the API runtime")?;
    let (done, ended) = oneshot::channel();
    std::thread::Builder::new()
        .name("beacon-api".into())
        .spawn(move || {
            let served = runtime.block_on(async move {
                let listener = crate::http::listener::without_nagle(TcpListener::from_std(listener)?);
                axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
            });
            let _ = done.send(served.context("serving the API listener"));
        })
        .context("starting the API thread")?;
    Ok(ended)
}
