//! A connection's frames in and out, with no buffer kept while it is idle.

use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::frame::{self, ClientHeader, Opcode};
use super::{Message, WsError};

/// Bytes read from the kernel at a time, into the reading call's stack.
const READ_CHUNK_BYTES: usize = 4096;
/// Reads of a client's bytes after an error, dropped, before the task yields.
const DISCARD_READS_PER_POLL: usize = 16;
/// Frames gathered before a write goes to the kernel without waiting for the
/// caller's flush: a long replay goes out in pieces of about this size. So the
/// write buffer holds at most this much plus one frame.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// What a read gives: a message, an error (nothing more is read after it), or
/// `None` once the client closed or went away.
pub type Received = Option<Result<Message, WsError>>;

/// One client's WebSocket, after the handshake.
pub struct WebSocket<S> {
    io: S,
    /// The start of a frame that has not fully arrived, and frames read after
    /// the message being returned. Empty, and unallocated, between frames.
    partial: Vec<u8>,
    /// Where in `partial` the next frame starts.
    partial_at: usize,
    /// A message arriving in fragments, joined so far.
    fragments: Option<Box<Fragments>>,
    /// Frames not yet taken by the kernel; freed once they all are.
    out: Vec<u8>,
    /// How much of `out` the kernel has taken.
    out_sent: usize,
    /// Largest message (and frame) accepted from the client.
    max_message: usize,
    reading: Reading,
    /// Our close is queued: nothing more is written after it.
    write_closed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Open,
    /// The client's close arrived, or the stream ended or failed.
    Closed,
    /// A frame broke the protocol: what follows is read and dropped.
    Discarding,
}

struct Fragments {
    text: bool,
    data: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// `io` yields first whatever the HTTP layer read past the upgrade
    /// request (hyper's upgraded stream does).
    pub fn new(io: S, max_message: usize) -> Self {
        Self {
            io,
            partial: Vec::new(),
            partial_at: 0,
            fragments: None,
            out: Vec::new(),
            out_sent: 0,
            max_message,
            reading: Reading::Open,
            write_closed: false,
        }
    }

    /// The next whole message; `None` once the client closed or went away.
    /// A ping is answered (the pong goes out with the next flush) and still
    /// returned, as is a pong: both show the client is there.
    pub fn recv(&mut self) -> impl Future<Output = Received> + Unpin + '_ {
        poll_fn(|cx| self.poll_recv(cx))
    }

    /// Queues a text frame; the kernel gets it at the next flush, or now when
    /// enough is queued. Fails once our close is queued.
    pub fn feed(&mut self, text: Utf8Bytes) -> impl Future<Output = Result<(), WsError>> + Unpin + '_ {
        poll_fn(move |cx| {
            if self.write_closed {
                return Poll::Ready(Err(WsError::Closed));
            }
            // A write begun goes out whole before more is queued (`out_sent`
            // is not 0 until it has), so the buffer holds at most
            // `WRITE_BUFFER_BYTES` and one frame.
            if self.out_sent > 0 || self.out.len() >= WRITE_BUFFER_BYTES {
                ready!(self.poll_write_out(cx))?;
            }
            frame::write_frame(&mut self.out, Opcode::Text, text.as_bytes());
            Poll::Ready(Ok(()))
        })
    }

    /// Writes everything queued; the write buffer is freed once it is out.
    pub fn flush(&mut self) -> impl Future<Output = Result<(), WsError>> + Unpin + '_ {
        poll_fn(|cx| self.poll_flush(cx))
    }

    /// Queues our close (once) and writes it with anything queued before it.
    pub fn close(
        &mut self,
        code: u16,
        reason: &str,
    ) -> impl Future<Output = Result<(), WsError>> + Unpin + '_ {
        if !self.write_closed {
            frame::write_close(&mut self.out, code, reason);
            self.write_closed = true;
        }
        self.flush()
    }

    /// Whether a text frame can be queued now with no write first: nothing
    /// is half-written, the buffer is under its bound, and our close is not
    /// queued. For a caller that must not wait ([`Self::queue_now`]).
    pub fn can_queue_now(&self) -> bool {
        !self.write_closed && self.out_sent == 0 && self.out.len() < WRITE_BUFFER_BYTES
    }

    /// Queues a text frame that [`Self::can_queue_now`] allowed.
    pub fn queue_now(&mut self, text: &Utf8Bytes) {
        debug_assert!(self.can_queue_now(), "queued a frame that must be written first");
        frame::write_frame(&mut self.out, Opcode::Text, text.as_bytes());
    }

    /// One attempt at [`Self::flush`] that never waits: `Pending` leaves what
    /// the kernel did not take queued, for the next flush.
    pub fn flush_now(&mut self) -> Poll<Result<(), WsError>> {
        self.poll_flush(&mut Context::from_waker(std::task::Waker::noop()))
    }

    /// Writes everything queued, then frees the buffer: an idle socket holds
    /// no write buffer, and the next batch allocates anew.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        ready!(self.poll_write_out(cx))?;
        self.out = Vec::new();
        Poll::Ready(ready!(Pin::new(&mut self.io).poll_flush(cx)).map_err(WsError::from))
    }

    /// Writes everything queued, keeping the buffer for what comes next.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        while self.out_sent < self.out.len() {
            let written = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_sent..]))?;
            if written == 0 {
                return Poll::Ready(Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into()));
            }
            self.out_sent += written;
        }
        self.out.clear();
        self.out_sent = 0;
        Poll::Ready(Ok(()))
    }

    /// [`Self::recv`] as a poll: `cx`'s waker is woken when bytes arrive.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Received> {
        loop {
            match self.reading {
                Reading::Open => {}
                Reading::Closed => return Poll::Ready(None),
                Reading::Discarding => return self.poll_discard(cx),
            }
            if self.partial_at < self.partial.len() {
                let mut held = std::mem::take(&mut self.partial);
                let decoded = self.decode(&mut held[self.partial_at..]);
                if let Ok((used, message)) = &decoded {
                    self.partial_at += used;
                    if self.partial_at == held.len() {
                        // All used: the allocation is freed.
                        self.partial_at = 0;
                    } else if message.is_some() || self.partial_at == 0 {
                        // More frames may follow (read at the next call), or
                        // one frame is still arriving: kept as it is.
                        self.partial = held;
                    } else {
                        // An unfinished frame after used ones waits for a
                        // read: kept alone, in an allocation of its size.
                        self.partial = held[self.partial_at..].to_vec();
                        self.partial_at = 0;
                    }
                }
                if let Some(ready) = self.decoded(decoded) {
                    return self.answered(cx, ready);
                }
            }
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK_BYTES];
            let mut buf = ReadBuf::uninit(&mut chunk);
            if let Err(err) = ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                self.reading = Reading::Closed;
                return Poll::Ready(Some(Err(err.into())));
            }
            if buf.filled().is_empty() {
                // The stream ended without a close frame: the client is gone.
                self.reading = Reading::Closed;
                return Poll::Ready(None);
            }
            let data = buf.filled_mut();
            if !self.partial.is_empty() {
                self.partial.extend_from_slice(data);
                continue;
            }
            let decoded = self.decode(data);
            if let Ok((used, _)) = decoded
                && used < data.len()
            {
                self.partial = data[used..].to_vec();
            }
            if let Some(ready) = self.decoded(decoded) {
                return self.answered(cx, ready);
            }
        }
    }

    /// After an error: reads and drops what the client still sends until it
    /// ends the stream. Dropping the socket with bytes unread would make the
    /// kernel answer with a reset, which can take our close frame with it (the
    /// connection's closing handshake bounds how long this goes on).
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<Received> {
        for _ in 0..DISCARD_READS_PER_POLL {
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK_BYTES];
            let mut buf = ReadBuf::uninit(&mut chunk);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => {}
                _ => {
                    self.reading = Reading::Closed;
                    return Poll::Ready(None);
                }
            }
        }
        // A client that keeps sending must not hold the thread.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// A close read is answered now, if the kernel takes the answer at once.
    fn answered(&mut self, cx: &mut Context<'_>, received: Received) -> Poll<Received> {
        if matches!(received, Some(Ok(Message::Close(_)))) {
            let _ = self.poll_flush(cx);
        }
        Poll::Ready(received)
    }

    /// What to return after a decode, if anything: a message, or an error,
    /// after which the client's bytes are only discarded.
    fn decoded(&mut self, decoded: Result<(usize, Option<Message>), WsError>) -> Option<Received> {
        match decoded {
            Ok((_, None)) => None,
            Ok((_, Some(message))) => Some(Some(Ok(message))),
            Err(err) => {
                self.reading = Reading::Discarding;
                self.partial = Vec::new();
                self.partial_at = 0;
                self.fragments = None;
                Some(Some(Err(err)))
            }
        }
    }

    /// Reads whole frames from the start of `input` until one completes a
    /// message or the rest has not fully arrived. Returns how many bytes were
    /// used, and the message.
    fn decode(&mut self, input: &mut [u8]) -> Result<(usize, Option<Message>), WsError> {
        let mut at = 0;
        while self.reading == Reading::Open {
            // A continuation may carry only what the message has left.
            let joined = self.fragments.as_ref().map_or(0, |f| f.data.len());
            let header = frame::read_client_header(&input[at..], self.max_message - joined).map_err(
                |err| match err {
                    WsError::TooBig(_) => WsError::TooBig(self.max_message),
                    other => other,
                },
            )?;
            let Some(header) = header else { break };
            let end = at + header.len + header.payload_len;
            if input.len() < end {
                break;
            }
            let payload = &mut input[at + header.len..end];
            frame::unmask(payload, header.mask);
            at = end;
            if let Some(message) = self.on_frame(header, payload)? {
                return Ok((at, Some(message)));
            }
        }
        Ok((at, None))
    }

    fn on_frame(&mut self, header: ClientHeader, payload: &[u8]) -> Result<Option<Message>, WsError> {
        match header.opcode {
            Opcode::Text | Opcode::Binary => {
                if self.fragments.is_some() {
                    return Err(WsError::Protocol("a message began before the last one ended"));
                }
                let text = header.opcode == Opcode::Text;
                if header.fin {
                    return whole(text, payload.to_vec()).map(Some);
                }
                self.fragments = Some(Box::new(Fragments { text, data: payload.to_vec() }));
                Ok(None)
            }
            Opcode::Continuation => {
                let Some(fragments) = self.fragments.as_mut() else {
                    return Err(WsError::Protocol("a continuation with no message begun"));
                };
                if fragments.data.len() + payload.len() > self.max_message {
                    return Err(WsError::TooBig(self.max_message));
                }
                fragments.data.extend_from_slice(payload);
                if !header.fin {
                    return Ok(None);
                }
                let Fragments { text, data } = *self.fragments.take().expect("checked above");
                whole(text, data).map(Some)
            }
            Opcode::Ping => {
                // A pong only while little is queued: a client that pings and
                // never reads must not grow the buffer (the RFC lets a pong
                // answer only the latest ping, section 5.5.3).
                if !self.write_closed && self.out.len() - self.out_sent < WRITE_BUFFER_BYTES {
                    frame::write_frame(&mut self.out, Opcode::Pong, payload);
                }
                Ok(Some(Message::Ping))
            }
            Opcode::Pong => Ok(Some(Message::Pong)),
            Opcode::Close => {
                let close = frame::read_close(payload)?;
                self.reading = Reading::Closed;
                if !self.write_closed {
                    // The answer echoes the code (section 5.5.1).
                    frame::write_frame(&mut self.out, Opcode::Close, &payload[..payload.len().min(2)]);
                    self.write_closed = true;
                }
                Ok(Some(Message::Close(close)))
            }
        }
    }

    /// Bytes held for the socket besides the stream itself, for tests.
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.partial.capacity()
            + self.out.capacity()
            + self.fragments.as_ref().map_or(0, |f| f.data.capacity())
    }
}

fn whole(text: bool, data: Vec<u8>) -> Result<Message, WsError> {
    if !text {
        return Ok(Message::Binary(Bytes::from(data)));
    }
    let text = String::from_utf8(data).map_err(|_| WsError::InvalidUtf8)?;
    Ok(Message::Text(Utf8Bytes::from(text)))
}

#[cfg(test)]
mod tests;
