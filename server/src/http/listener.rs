//! Accepted connections with Nagle's algorithm off (`TCP_NODELAY`), on both
//! listeners.
//!
//! Under Nagle, a small write waits while the peer has not acknowledged the
//! one before it, and a peer with nothing to send delays its acknowledgement
//! (40 ms on Linux). A frame that followed another within that time, such as
//! a message right after its typing signal, or an event right after the
//! one before, went out up to 40 ms late (docs/PERFORMANCE.md, step 23).
//! Every write here is a whole response or a batch of frames already gathered
//! by the connection (`hub::connection`), so Nagle has nothing useful to merge.

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// `listener`, setting `TCP_NODELAY` on every connection it accepts.
pub fn without_nagle(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(no_delay as fn(&mut TcpStream))
}

fn no_delay(stream: &mut TcpStream) {
    if let Err(err) = stream.set_nodelay(true) {
        // The connection still works, with Nagle's delays.
        tracing::debug!(error = %err, "setting TCP_NODELAY failed");
    }
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    use super::*;

    #[tokio::test]
    async fn an_accepted_connection_has_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = without_nagle(listener);
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY is off on an accepted connection");
    }
}
