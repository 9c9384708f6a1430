//! The server-to-server listener (`BEACON_API_BIND`) on a thread and Tokio
//! runtime of its own.
//!
//! Tokio runs ready tasks first come, first served. When thousands of
//! browsers reconnect at once, every handshake and resubscribe is a ready task
//! on the main runtime, and a publish request queued behind them waited about
//! a second (docs/PERFORMANCE.md, step 10). On its own thread the API is
//! scheduled by the operating system beside the main runtime's workers, so a
//! publish waits for a time slice, not for the whole storm. The event log's
//! writer has a thread of its own for the same reason (`store::appender`).

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Serves `app` on `listener` from a new thread until `stop` is cancelled;
/// the answer says how serving ended.
pub fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
) -> anyhow::Result<oneshot::Receiver<anyhow::Result<()>>> {
    // A listener belongs to the runtime that registered it: hand it over as a plain socket.
    let listener = listener.into_std().context("detaching the API listener")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("beacon-api")
        .build()
        .context("starting the API runtime")?;
    let (done, ended) = oneshot::channel();
    std::thread::Builder::new()
        .name("beacon-api".into())
        .spawn(move || {
            let served = runtime.block_on(async move {
                let listener = TcpListener::from_std(listener)?;
                axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
            });
            let _ = done.send(served.context("serving the API listener"));
        })
        .context("starting the API thread")?;
    Ok(ended)
}
