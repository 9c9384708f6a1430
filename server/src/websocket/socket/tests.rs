//! The socket against an independent client (tungstenite, as a browser's
//! stand-in) and against bytes written by hand where a client library would
//! not send them (a frame split byte by byte, fragments, broken frames).

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame as PeerClose, Role};
use tokio_tungstenite::tungstenite::{self, Message as PeerMessage};

use super::*;

const LIMIT: usize = 64 * 1024;

fn pair() -> (WebSocket<DuplexStream>, DuplexStream) {
    let (server, client) = duplex(256 * 1024);
    (WebSocket::new(server, LIMIT), client)
}

async fn with_client() -> (WebSocket<DuplexStream>, WebSocketStream<DuplexStream>) {
    let (socket, client) = pair();
    (socket, WebSocketStream::from_raw_socket(client, Role::Client, None).await)
}

/// A client frame, masked, as a browser writes it.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = Vec::new();
    frame::write_frame(&mut out, Opcode::Text, payload);
    out[0] = first;
    out[1] |= 0x80;
    let at = out.len() - payload.len();
    out.splice(at..at, mask);
    frame::unmask(&mut out[at + 4..], mask);
    out
}

/// A test that would wait forever fails instead.
async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(5), future).await.expect("nothing came within 5 s")
}

fn text(received: Received) -> String {
    match received {
        Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[tokio::test]
async fn messages_from_a_real_client_arrive_whole_and_answers_reach_it() {
    let (mut socket, mut client) = with_client().await;
    let long = "x".repeat(10_000);
    client.send(PeerMessage::text("hello")).await.unwrap();
    client.send(PeerMessage::text(long.clone())).await.unwrap();
    assert_eq!(text(within(socket.recv()).await), "hello");
    assert_eq!(text(within(socket.recv()).await), long);
    assert_eq!(socket.held_bytes(), 0, "nothing is kept once whole frames are read");

    for answer in ["one", "two", &"y".repeat(70_000)] {
        socket.feed(Utf8Bytes::from(answer)).await.unwrap();
    }
    socket.flush().await.unwrap();
    assert_eq!(socket.held_bytes(), 0, "the write buffer is freed once written");
    for expected in ["one", "two", &"y".repeat(70_000)] {
        let got = within(client.next()).await.unwrap().unwrap();
        assert_eq!(got, PeerMessage::text(expected));
    }
}

#[tokio::test]
async fn a_frame_that_arrives_a_byte_at_a_time_is_read_whole() {
    let (mut socket, mut client) = pair();
    let bytes = client_frame(0x81, "a subscribe, say".repeat(20).as_bytes());
    let writer = tokio::spawn(async move {
        for byte in bytes {
            client.write_all(&[byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        client
    });
    assert_eq!(text(within(socket.recv()).await), "a subscribe, say".repeat(20));
    assert_eq!(socket.held_bytes(), 0);
    drop(writer.await.unwrap());
}

#[tokio::test]
async fn two_messages_in_one_read_come_one_at_a_time() {
    let (mut socket, mut client) = pair();
    let mut bytes = client_frame(0x81, b"auth");
    bytes.extend(client_frame(0x81, b"subscribe"));
    bytes.extend(&client_frame(0x81, b"partial")[..5]);
    client.write_all(&bytes).await.unwrap();
    assert_eq!(text(within(socket.recv()).await), "auth");
    assert_eq!(text(within(socket.recv()).await), "subscribe");
    client.write_all(&client_frame(0x81, b"partial")[5..]).await.unwrap();
    assert_eq!(text(within(socket.recv()).await), "partial");
    assert_eq!(socket.held_bytes(), 0);
}

#[tokio::test]
async fn fragments_are_joined_and_a_ping_between_them_is_answered() {
    let (mut socket, mut client) = pair();
    let mut bytes = client_frame(0x01, b"hel");
    bytes.extend(client_frame(0x89, b"p"));
    bytes.extend(client_frame(0x80, b"lo"));
    client.write_all(&bytes).await.unwrap();
    assert!(matches!(within(socket.recv()).await, Some(Ok(Message::Ping))));
    assert_eq!(text(within(socket.recv()).await), "hello");
    socket.flush().await.unwrap();
    let mut pong = [0u8; 3];
    within(client.read_exact(&mut pong)).await.unwrap();
    assert_eq!(pong, [0x8A, 1, b'p']);
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_before_it_arrives() {
    let (mut socket, mut client) = pair();
    let frame = client_frame(0x81, &vec![b'z'; LIMIT + 1]);
    client.write_all(&frame[..16]).await.unwrap();
    assert!(matches!(within(socket.recv()).await, Some(Err(WsError::TooBig(LIMIT)))));
    drop(client);
    assert!(within(socket.recv()).await.is_none(), "nothing is returned after an error");

    // Fragments count together.
    let (mut socket, mut client) = pair();
    let mut bytes = client_frame(0x01, &vec![b'a'; LIMIT / 2 + 1]);
    bytes.extend(client_frame(0x80, &vec![b'b'; LIMIT / 2 + 1]));
    client.write_all(&bytes).await.unwrap();
    assert!(matches!(within(socket.recv()).await, Some(Err(WsError::TooBig(LIMIT)))));
}

#[tokio::test]
async fn broken_frames_are_refused() {
    let (mut socket, mut client) = pair();
    client.write_all(&client_frame(0x81, &[0xff, 0xfe])).await.unwrap();
    assert!(matches!(within(socket.recv()).await, Some(Err(WsError::InvalidUtf8))));

    let (mut socket, mut client) = pair();
    client.write_all(&client_frame(0x80, b"no message begun")).await.unwrap();
    assert!(matches!(within(socket.recv()).await, Some(Err(WsError::Protocol(_)))));

    let (mut socket, mut client) = pair();
    let mut bytes = client_frame(0x01, b"one");
    bytes.extend(client_frame(0x81, b"two"));
    client.write_all(&bytes).await.unwrap();
    assert!(matches!(within(socket.recv()).await, Some(Err(WsError::Protocol(_)))));
}

#[tokio::test]
async fn the_clients_close_is_answered_with_its_code() {
    let (mut socket, mut client) = with_client().await;
    let close = PeerClose { code: 4000.into(), reason: "bye".into() };
    client.close(Some(close)).await.unwrap();
    match within(socket.recv()).await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!((frame.code, frame.reason.as_str()), (4000, "bye"))
        }
        other => panic!("expected the client's close, got {other:?}"),
    }
    // Answered without a flush from the caller, who drops the socket next.
    match within(client.next()).await {
        Some(Ok(PeerMessage::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4000),
        other => panic!("expected our answer, got {other:?}"),
    }
    assert!(within(socket.recv()).await.is_none());
    assert!(matches!(socket.feed(Utf8Bytes::from("late")).await, Err(WsError::Closed)));
}

#[tokio::test]
async fn our_close_goes_once_and_nothing_after_it() {
    let (mut socket, mut client) = with_client().await;
    socket.feed(Utf8Bytes::from("last words")).await.unwrap();
    socket.close(4105, "message too big").await.unwrap();
    socket.close(4105, "message too big").await.unwrap();
    assert!(matches!(socket.feed(Utf8Bytes::from("after")).await, Err(WsError::Closed)));
    assert_eq!(within(client.next()).await.unwrap().unwrap(), PeerMessage::text("last words"));
    match within(client.next()).await {
        Some(Ok(PeerMessage::Close(Some(frame)))) => {
            assert_eq!((u16::from(frame.code), frame.reason.as_str()), (4105, "message too big"))
        }
        other => panic!("expected our close, got {other:?}"),
    }
    // The client answers on its next read, which then waits for the stream's end.
    let client = tokio::spawn(async move { within(client.next()).await });
    assert!(matches!(within(socket.recv()).await, Some(Ok(Message::Close(_)))));
    assert!(within(socket.recv()).await.is_none());
    drop(socket);
    let last = client.await.unwrap();
    assert!(matches!(last, None | Some(Err(tungstenite::Error::ConnectionClosed))), "{last:?}");
}

#[tokio::test]
async fn a_stream_ending_without_a_close_is_the_client_gone() {
    let (mut socket, client) = pair();
    drop(client);
    assert!(within(socket.recv()).await.is_none());
}

#[tokio::test]
async fn any_split_of_a_stream_of_frames_reads_the_same_messages() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..50 {
        // Messages of every length class, some in fragments, pings between.
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for i in 0..20 {
            let len = [0, 3, 125, 126, 700, 5_000, 70_000 % LIMIT][rng.random_range(0..7)];
            let message: String = (0..len).map(|j| char::from(b'a' + ((i + j) % 26) as u8)).collect();
            if rng.random_bool(0.3) && len > 1 {
                let cut = rng.random_range(1..len);
                bytes.extend(client_frame(0x01, &message.as_bytes()[..cut]));
                bytes.extend(client_frame(0x89, b"ping"));
                bytes.extend(client_frame(0x80, &message.as_bytes()[cut..]));
                expected.push(None);
            } else {
                bytes.extend(client_frame(0x81, message.as_bytes()));
            }
            expected.push(Some(message));
        }
        let (mut socket, mut client) = pair();
        let writer = tokio::spawn(async move {
            let mut rest = bytes.as_slice();
            let mut rng = rand::rngs::StdRng::seed_from_u64(rest.len() as u64);
            while !rest.is_empty() {
                let take = rng.random_range(1..=rest.len().min(9_000));
                client.write_all(&rest[..take]).await.unwrap();
                rest = &rest[take..];
                tokio::task::yield_now().await;
            }
            client
        });
        for want in expected {
            match (want, within(socket.recv()).await) {
                (None, Some(Ok(Message::Ping))) => {}
                (Some(want), got) => assert_eq!(text(got), want),
                (None, got) => panic!("expected a ping, got {got:?}"),
            }
        }
        assert_eq!(socket.partial.capacity(), 0, "nothing held after the last whole frame");
        drop(writer.await.unwrap());
    }
}

#[tokio::test]
async fn a_continuation_over_what_the_message_has_left_is_refused_from_its_header() {
    let (mut socket, mut client) = pair();
    client.write_all(&client_frame(0x01, &vec![b'a'; LIMIT - 10])).await.unwrap();
    let continuation = client_frame(0x80, &[b'b'; 100]);
    client.write_all(&continuation[..8]).await.unwrap();
    assert!(matches!(within(socket.recv()).await, Some(Err(WsError::TooBig(LIMIT)))));
    assert_eq!(socket.held_bytes(), 0, "what was joined is dropped with the error");
}

#[tokio::test]
async fn after_an_error_the_clients_bytes_are_read_until_it_ends_the_stream() {
    let (mut socket, mut client) = pair();
    client.write_all(&client_frame(0x81, &[0xff])).await.unwrap();
    assert!(matches!(within(socket.recv()).await, Some(Err(WsError::InvalidUtf8))));
    // Unread bytes would make the kernel reset the connection, and our close
    // could be lost with it: they are read and dropped until the stream ends.
    client.write_all(&client_frame(0x81, b"still talking")).await.unwrap();
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), socket.recv()).await;
    assert!(waiting.is_err(), "the socket waits for the client's end, got {waiting:?}");
    drop(client);
    assert!(within(socket.recv()).await.is_none());
}

#[tokio::test]
async fn writes_the_kernel_takes_a_little_at_a_time_arrive_whole_and_in_order() {
    // A pipe of 64 bytes: every write is partial, and queueing past 16 KiB waits.
    let (server, client) = duplex(64);
    let mut socket = WebSocket::new(server, LIMIT);
    let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    let frames: Vec<String> = (0..200).map(|i| format!("{i:04}").repeat(250)).collect();
    let expected = frames.clone();
    let reader = tokio::spawn(async move {
        for want in expected {
            assert_eq!(within(client.next()).await.unwrap().unwrap(), PeerMessage::text(want));
        }
    });
    for frame in frames {
        within(socket.feed(Utf8Bytes::from(frame))).await.unwrap();
        assert!(socket.out.len() <= 16 * 1024 + 1_004, "the write buffer holds {} bytes", socket.out.len());
    }
    within(socket.flush()).await.unwrap();
    assert_eq!(socket.held_bytes(), 0);
    reader.await.unwrap();
}
