//! Conversations: who may write, idempotent sends, history, invites and
//! leaving, limits refused with typed nacks, notifications for the absent.

use protocol::chat::{
    ConversationEvent, ConversationSummary, ConversationView, HistoryPage, Invite, Sent, SignalBody,
};
use protocol::message::Ack;
use protocol::{ClientMessage, ErrorCode, ServerMessage};
use serde_json::json;

use crate::helpers::{TestApp, TestSocket, Visitor, spawn_app, spawn_app_with};

/// A conversation made by `owner` over HTTP.
pub async fn create_conversation(owner: &Visitor, title: &str, name: &str) -> ConversationView {
    let response = owner
        .http
        .post(format!("{}/api/conversations", owner.base()))
        .json(&json!({ "title": title, "display_name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// `guest` joins `conversation` through a share link made by `owner`.
pub async fn join(owner: &Visitor, guest: &Visitor, conversation: &str, name: &str) -> ConversationView {
    let invite: Invite = owner
        .http
        .post(format!("{}/api/conversations/{conversation}/invites", owner.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = guest
        .http
        .post(format!("{}/api/invites/{}/accept", guest.base(), invite.token))
        .json(&json!({ "display_name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Sends a message on the socket; returns the ack.
pub async fn say(socket: &mut TestSocket, conversation: &str, client_id: &str, text: &str) -> Ack {
    let id = socket
        .send_request(|id| ClientMessage::Publish {
            id,
            channel: format!("conversation:{conversation}"),
            client_id: client_id.into(),
            payload: json!({ "text": text }),
        })
        .await;
    loop {
        match socket.recv().await {
            ServerMessage::Ack(ack) if ack.id == id => return ack,
            ServerMessage::Nack(nack) if nack.id.as_deref() == Some(&id) => panic!("refused: {nack:?}"),
            _ => {}
        }
    }
}

/// Sends a publish and returns the nack's code (skipping events and signals).
pub async fn refused(
    socket: &mut TestSocket,
    channel: &str,
    client_id: &str,
    payload: serde_json::Value,
) -> ErrorCode {
    let id = socket
        .send_request(|id| ClientMessage::Publish {
            id,
            channel: channel.into(),
            client_id: client_id.into(),
            payload,
        })
        .await;
    loop {
        match socket.recv().await {
            ServerMessage::Nack(nack) if nack.id.as_deref() == Some(&id) => return nack.code,
            ServerMessage::Ack(ack) if ack.id == id => panic!("accepted: {ack:?}"),
            _ => {}
        }
    }
}

/// The next conversation event on the socket, skipping signals.
pub async fn next_event(socket: &mut TestSocket) -> (u64, ConversationEvent) {
    loop {
        match socket.recv().await {
            ServerMessage::Event(event) => {
                return (event.seq, serde_json::from_value(event.payload).expect("a conversation event"));
            }
            ServerMessage::Signal(_) => {}
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// The next signal matching `wanted`, skipping others and events.
pub async fn next_signal(socket: &mut TestSocket, wanted: impl Fn(&SignalBody) -> bool) -> SignalBody {
    loop {
        if let ServerMessage::Signal(signal) = socket.recv().await
            && wanted(&signal.body)
        {
            return signal.body;
        }
    }
}

async fn history(visitor: &Visitor, conversation: &str, query: &str) -> reqwest::Response {
    visitor
        .http
        .get(format!("{}/api/conversations/{conversation}/messages{query}", visitor.base()))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn members_write_and_nobody_else_does() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let outsider = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    let channel = format!("conversation:{}", room.id);

    let mut socket = ada.connect().await;
    let ack = say(&mut socket, &room.id, "c1", "hello").await;
    assert_eq!(ack.seq, Some(2), "seq 1 is the creator joining");

    let mut other = outsider.connect().await;
    assert_eq!(refused(&mut other, &channel, "x1", json!({"text": "hi"})).await, ErrorCode::Forbidden);
    let id = other
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: channel.clone(),
            since: None,
            epoch: None,
        })
        .await;
    assert_eq!(other.expect_nack(Some(&id)).await, ErrorCode::Forbidden);
    assert_eq!(history(&outsider, &room.id, "").await.status(), 404);

    // Channels written by the server only, even for their owner.
    for read_only in [ada.inbox(), "session:abc".into(), "dashboard:d".into()] {
        let code = refused(&mut socket, &read_only, "c2", json!({"text": "hi"})).await;
        assert_eq!(code, ErrorCode::Forbidden, "{read_only}");
    }
    // Conversations are joined by invite, not granted.
    let grant = reqwest::Client::new()
        .post(app.url("/api/realtime/grants"))
        .bearer_auth(crate::helpers::PUBLISH_KEY)
        .json(&json!({ "channel": channel, "principal": outsider.principal }))
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 400);
    let page: HistoryPage = history(&ada, &room.id, "").await.json().await.unwrap();
    assert_eq!(page.messages.len(), 1, "refused sends stored nothing");
}

#[tokio::test]
async fn a_resend_with_the_same_client_id_stores_one_message() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    let mut socket = ada.connect().await;
    let first = say(&mut socket, &room.id, "m-1", "once").await;
    assert!(!first.duplicate);
    drop(socket);

    // The acknowledgement was lost with the connection: the client sends again.
    let mut socket = ada.connect().await;
    let again = say(&mut socket, &room.id, "m-1", "once").await;
    assert_eq!((again.seq, again.duplicate), (first.seq, true));
    let over_http = ada
        .http
        .post(format!("{}/api/conversations/{}/messages", ada.base(), room.id))
        .json(&json!({ "client_id": "m-1", "text": "once" }))
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status(), 200);
    let sent: Sent = over_http.json().await.unwrap();
    assert!(sent.duplicate);
    assert_eq!(Some(sent.message.seq), first.seq);

    let page: HistoryPage = history(&ada, &room.id, "").await.json().await.unwrap();
    assert_eq!(page.messages.len(), 1);
    let view: ConversationView = ada.get_json(&format!("/api/conversations/{}", room.id)).await;
    assert_eq!(Some(view.head_seq), first.seq, "no event for the resends");
}

#[tokio::test]
async fn history_pages_backwards_and_events_carry_the_message() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let alan = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    join(&ada, &alan, &room.id, "Alan").await;
    let mut watcher = alan.connect().await;
    watcher.subscribe(&format!("conversation:{}", room.id), None).await;

    let mut socket = ada.connect().await;
    for n in 1..=5 {
        say(&mut socket, &room.id, &format!("c{n}"), &format!("message {n}")).await;
    }
    // Joins were seqs 1 and 2 (replayed on subscribe); the five messages follow live.
    for n in 1..=5 {
        match next_event(&mut watcher).await {
            (seq, ConversationEvent::Message { message }) => {
                assert_eq!(seq, message.seq);
                assert_eq!(message.text, format!("message {n}"));
                assert_eq!(message.sender, room.me.member_id);
                assert_eq!(message.sender_name, "Ada");
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }
    let newest: HistoryPage = history(&alan, &room.id, "?limit=2").await.json().await.unwrap();
    let texts = |page: &HistoryPage| page.messages.iter().map(|m| m.text.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&newest), ["message 4", "message 5"]);
    assert!(newest.has_more);
    let before = newest.messages[0].seq;
    let older: HistoryPage =
        history(&alan, &room.id, &format!("?limit=2&before={before}")).await.json().await.unwrap();
    assert_eq!(texts(&older), ["message 2", "message 3"]);
    let oldest: HistoryPage =
        history(&alan, &room.id, &format!("?before={}", older.messages[0].seq)).await.json().await.unwrap();
    assert_eq!(texts(&oldest), ["message 1"]);
    assert!(!oldest.has_more);
    assert_eq!(history(&alan, &room.id, "?before=x").await.status(), 400);
}

#[tokio::test]
async fn invites_join_and_leaving_ends_access_at_once() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let alan = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    let channel = format!("conversation:{}", room.id);
    let mut owner = ada.connect().await;
    owner.subscribe(&channel, None).await;

    let joined = join(&ada, &alan, &room.id, "Alan").await;
    assert_eq!(joined.members.len(), 2);
    match next_event(&mut owner).await {
        (_, ConversationEvent::MemberJoined { member }) => assert_eq!(member.name, "Alan"),
        other => panic!("expected the join, got {other:?}"),
    }
    let mut guest = alan.connect().await;
    guest.subscribe(&channel, None).await;
    say(&mut guest, &room.id, "g1", "hi all").await;

    let left =
        alan.http.post(format!("{}/api/conversations/{}/leave", alan.base(), room.id)).send().await.unwrap();
    assert_eq!(left.status(), 204);
    // The open subscription ends now, not at the next reconnect.
    loop {
        match guest.recv().await {
            ServerMessage::Revoked(revoked) => {
                assert_eq!(revoked.channel.as_str(), channel);
                break;
            }
            ServerMessage::Event(_) | ServerMessage::Signal(_) | ServerMessage::Ack(_) => {}
            other => panic!("expected revoked, got {other:?}"),
        }
    }
    assert_eq!(
        refused(&mut guest, &channel, "g2", json!({"text": "still here?"})).await,
        ErrorCode::Forbidden
    );
    assert_eq!(history(&alan, &room.id, "").await.status(), 404);
    loop {
        match next_event(&mut owner).await {
            (_, ConversationEvent::MemberLeft { member }) => {
                assert_eq!(member.member_id, joined.me.member_id);
                break;
            }
            (_, ConversationEvent::Message { .. }) => {}
            other => panic!("expected the leave, got {other:?}"),
        }
    }
    // A bad or unknown link is a 404, never a join.
    for token in ["nope", &"0".repeat(64)] {
        let status = alan
            .http
            .post(format!("{}/api/invites/{token}/accept", alan.base()))
            .json(&json!({ "display_name": "Mallory" }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{token}");
    }
}

#[tokio::test]
async fn sizes_payloads_and_rates_are_refused_with_typed_nacks() {
    let app = spawn_app_with(|c| c.chat.messages_per_sec = 5).await;
    let ada = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    let channel = format!("conversation:{}", room.id);
    let mut socket = ada.connect().await;

    let too_long = "x".repeat(protocol::chat::MAX_TEXT_CHARS + 1);
    assert_eq!(refused(&mut socket, &channel, "a", json!({"text": too_long})).await, ErrorCode::TooLarge);
    assert_eq!(refused(&mut socket, &channel, "b", json!({"body": "hi"})).await, ErrorCode::InvalidPayload);
    assert_eq!(refused(&mut socket, &channel, "c", json!({"text": "  "})).await, ErrorCode::InvalidPayload);
    assert_eq!(
        refused(&mut socket, &channel, "no spaces", json!({"text": "hi"})).await,
        ErrorCode::InvalidPayload
    );
    assert_eq!(
        refused(&mut socket, "conversation:", "d", json!({"text": "hi"})).await,
        ErrorCode::InvalidChannel
    );

    // Five a second with a burst of ten, per person and conversation.
    for n in 0..10 {
        say(&mut socket, &room.id, &format!("ok{n}"), "fast").await;
    }
    assert_eq!(
        refused(&mut socket, &channel, "over", json!({"text": "one too many"})).await,
        ErrorCode::RateLimited
    );
    let over_http = ada
        .http
        .post(format!("{}/api/conversations/{}/messages", ada.base(), room.id))
        .json(&json!({ "client_id": "over2", "text": "also too many" }))
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status(), 429, "the HTTP path shares the limit");
    let page: HistoryPage = history(&ada, &room.id, "?limit=100").await.json().await.unwrap();
    assert_eq!(page.messages.len(), 10, "nothing refused was stored");
}

#[tokio::test]
async fn a_message_to_an_absent_member_lands_in_their_inbox_and_unread_counts_follow() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let alan = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    join(&ada, &alan, &room.id, "Alan").await;
    let mut socket = ada.connect().await;
    say(&mut socket, &room.id, "c1", "are you there?").await;

    let notification = wait_for_notifications(&app, &alan, 1).await.remove(0);
    assert_eq!(notification["category"], "chat");
    assert_eq!(notification["title"], "Ada in Launch");
    assert_eq!(notification["body"], "are you there?");
    assert_eq!(notification["link"], format!("/chat/{}", room.id));

    let list: Vec<ConversationSummary> = alan.get_json("/api/conversations").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].unread, 1);
    assert_eq!(list[0].last_message.as_ref().unwrap().text, "are you there?");
    let read = alan
        .http
        .post(format!("{}/api/conversations/{}/read", alan.base(), room.id))
        .json(&json!({ "seq": list[0].head_seq }))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 204);

    // Alan is here now: the next message is no notification.
    let mut present = alan.connect().await;
    present.subscribe(&format!("conversation:{}", room.id), None).await;
    next_signal(&mut present, |s| matches!(s, SignalBody::PresenceSnapshot { .. })).await;
    say(&mut socket, &room.id, "c2", "welcome back").await;
    next_event(&mut present).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(wait_for_notifications(&app, &alan, 1).await.len(), 1, "no second notification");
    let list: Vec<ConversationSummary> = alan.get_json("/api/conversations").await;
    assert_eq!(list[0].unread, 1, "only the message after the read marker");
}

/// Alan's notifications once there are at least `n` (notifying runs beside the sender).
async fn wait_for_notifications(_app: &TestApp, visitor: &Visitor, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let page: serde_json::Value = visitor.get_json("/api/notifications").await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n {
            return items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} notifications after 5 s");
}
