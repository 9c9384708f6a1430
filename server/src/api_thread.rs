//! The server-to-server listener (`BEACON_API_BIND`) off the main runtime:
//! on SQLite's log writer thread, or on threads and a runtime of its own.
//!
//! Tokio runs ready tasks first come, first served. When thousands of
//! browsers reconnect at once, every handshake and resubscribe is a ready task
//! on the main runtime, and a publish request queued behind them waited about
//! a second (docs/PERFORMANCE.md, step 10). Off that runtime the API is
//! scheduled by the operating system beside the main runtime's workers, so a
//! publish waits for a time slice, not for the whole storm.
//!
//! On SQLite every publish is a job for the one log writer, which has a thread
//! of its own for the same reason (`store::appender`). The API is served on
//! that thread: a publish hands its event to the writer and gets its answer
//! back as tasks of one thread, where on a thread apart each hand-off woke the
//! other thread (docs/PERFORMANCE.md, step 38). Postgres has no single writer;
//! there the API has threads of its own.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// A quarter of the cores, at least one: publishing is a small share of the
/// work beside the sockets, and each worker is a thread the sockets' workers
/// share the cores with.
fn api_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 4).max(1))
}

/// Serves `app` on `listener` until `stop` is cancelled: on `writer`'s runtime
/// when there is one, else from threads of its own. The answer says how
/// serving ended.
pub fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    writer: Option<&Handle>,
) -> anyhow::Result<oneshot::Receiver<anyhow::Result<()>>> {
    // A listener belongs to the runtime that registered it: hand it over as a plain socket.
    let listener = listener.into_std().context("detaching the API listener")?;
    let (done, ended) = oneshot::channel();
    let serving = async move {
        let served = async move {
            let listener = crate::http::listener::without_nagle(TcpListener::from_std(listener)?);
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        };
        let _ = done.send(served.await.context("serving the API listener"));
    };
    if let Some(writer) = writer {
        // The router holds the store, so the writer outlives the serving task.
        writer.spawn(serving);
        return Ok(ended);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(api_workers())
        .enable_all()
        .thread_name("beacon-api")
        .build()
        .context("starting the API runtime")?;
    std::thread::Builder::new()
        .name("beacon-api".into())
        .spawn(move || runtime.block_on(serving))
        .context("starting the API thread")?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    /// The name of the thread that answered `/thread`, served by `serve`.
    async fn answering_thread(writer: Option<&Handle>) -> String {
        let app = Router::new()
            .route("/thread", get(|| async { std::thread::current().name().unwrap_or_default().to_owned() }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let ended = serve(listener, app, stop.clone(), writer).unwrap();
        let name = reqwest::get(format!("http://{addr}/thread")).await.unwrap().text().await.unwrap();
        stop.cancel();
        ended.await.unwrap().unwrap();
        name
    }

    #[tokio::test]
    async fn given_a_writer_s_runtime_the_api_is_served_on_its_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let writer = runtime.handle().clone();
        let (release, released) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("a-log-writer".into())
            .spawn(move || runtime.block_on(released))
            .unwrap();
        assert_eq!(answering_thread(Some(&writer)).await, "a-log-writer");
        release.send(()).unwrap();
        thread.join().unwrap().unwrap();
    }

    #[tokio::test]
    async fn without_one_the_api_has_threads_of_its_own() {
        assert_eq!(answering_thread(None).await, "beacon-api");
    }
}
