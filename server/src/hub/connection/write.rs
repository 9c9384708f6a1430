//! Socket writes bounded in time, with no timer held while nothing waits.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::End;

/// Longest one socket write may wait for the peer to read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a socket write, giving up on a peer that has not taken our bytes for
/// [`WRITE_TIMEOUT`]: a frozen or hostile client that keeps its receive window
/// shut must not hold the task (and its kick, shutdown and expiry) forever.
pub(super) fn write_bounded<W: Future<Output = Result<(), E>> + Unpin, E>(write: W) -> WriteWithin<W> {
    write_within(WRITE_TIMEOUT, write)
}

fn write_within<W: Future<Output = Result<(), E>> + Unpin, E>(limit: Duration, write: W) -> WriteWithin<W> {
    WriteWithin { write, limit, deadline: None }
}

/// A write that ends with [`End::ClientGone`] if it fails or has waited
/// `limit` for the peer.
///
/// Almost every write completes when first polled (it fills the socket's
/// write buffer, or the kernel takes it), so the timer is made only once a
/// write has to wait, and boxed: inline, its 112 bytes would be part of every
/// socket's task for the socket's whole life. A struct rather than an
/// `async fn`: each `async fn` layer would keep its own copy of the write.
pub(super) struct WriteWithin<W> {
    write: W,
    limit: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<W: Future<Output = Result<(), E>> + Unpin, E> Future for WriteWithin<W> {
    type Output = Result<(), End>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(written) = Pin::new(&mut this.write).poll(cx) {
            return Poll::Ready(written.map_err(|_| End::ClientGone));
        }
        let limit = this.limit;
        let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        deadline.as_mut().poll(cx).map(|()| Err(End::ClientGone))
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::Waker;

    use super::*;

    #[test]
    fn a_write_done_at_once_makes_no_timer() {
        // Polled outside any Tokio runtime: making a timer here would panic.
        let write = pin!(write_within(Duration::from_millis(1), std::future::ready(Ok::<(), ()>(()))));
        let polled = write.poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Ready(Ok(()))));
    }

    #[test]
    fn a_failed_write_ends_the_connection() {
        let write = pin!(write_within(Duration::from_millis(1), std::future::ready(Err::<(), _>("reset"))));
        let polled = write.poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Ready(Err(End::ClientGone))));
    }

    #[tokio::test]
    async fn a_write_the_peer_never_takes_ends_the_connection() {
        let never = std::future::pending::<Result<(), ()>>();
        let ended =
            tokio::time::timeout(Duration::from_secs(5), write_within(Duration::from_millis(20), never))
                .await
                .expect("the write gave up on its own");
        assert!(matches!(ended, Err(End::ClientGone)));
    }

    #[tokio::test]
    async fn a_write_that_waits_less_than_the_limit_completes() {
        let slow = Box::pin(async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<(), ()>(())
        });
        assert!(matches!(write_within(Duration::from_secs(5), slow).await, Ok(())));
    }
}
