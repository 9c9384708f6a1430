//! Ephemeral signals: typing and presence are live only (never logged, never
//! replayed, never long-polled), typing carries the full set and expires,
//! presence is a snapshot then diffs, and a connection that dies leaves.

use std::time::{Duration, Instant};

use protocol::chat::{Member, PresenceStatus, SignalBody};
use protocol::{ClientMessage, ErrorCode, PollResponse, ServerMessage};

use crate::chat::{create_conversation, join, next_signal, say};
use crate::helpers::{TestSocket, spawn_app, spawn_app_with};

fn typing_names(body: &SignalBody) -> Option<Vec<String>> {
    match body {
        SignalBody::Typing { members } => Some(members.iter().map(|m: &Member| m.name.clone()).collect()),
        _ => None,
    }
}

async fn next_typing(socket: &mut TestSocket) -> Vec<String> {
    let body = next_signal(socket, |b| matches!(b, SignalBody::Typing { .. })).await;
    typing_names(&body).unwrap()
}

async fn typing(socket: &mut TestSocket, conversation: &str, active: bool) {
    socket
        .send_json(&serde_json::json!({
            "type": "typing", "channel": format!("conversation:{conversation}"), "active": active
        }))
        .await;
}

#[tokio::test]
async fn typing_carries_the_full_set_clears_on_send_and_expires() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let alan = app.visitor().await;
    let grace = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    join(&ada, &alan, &room.id, "Alan").await;
    join(&ada, &grace, &room.id, "Grace").await;
    let channel = format!("conversation:{}", room.id);
    let mut a = ada.connect().await;
    let mut b = alan.connect().await;
    let mut g = grace.connect().await;
    for socket in [&mut a, &mut b, &mut g] {
        socket.subscribe(&channel, None).await;
    }

    typing(&mut a, &room.id, true).await;
    assert_eq!(next_typing(&mut g).await, ["Ada"]);
    typing(&mut b, &room.id, true).await;
    assert_eq!(next_typing(&mut g).await, ["Ada", "Alan"], "the full set, not a diff");
    // Ada's message clears her typing state.
    say(&mut a, &room.id, "c1", "done").await;
    assert_eq!(next_typing(&mut g).await, ["Alan"]);
    // Alan stops saying anything: gone after about six seconds.
    let started = Instant::now();
    assert_eq!(next_typing(&mut g).await, Vec::<String>::new());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(4), "expired too early: {waited:?}");

    // Typing twice within a second is refused; typing where one is not subscribed too.
    typing(&mut b, &room.id, true).await;
    typing(&mut b, &room.id, true).await;
    assert_eq!(expect_bare_nack(&mut b).await, ErrorCode::RateLimited);
    typing(&mut b, "0123456789abcdef0123456789abcdef", true).await;
    assert_eq!(expect_bare_nack(&mut b).await, ErrorCode::NotSubscribed);
}

async fn expect_bare_nack(socket: &mut TestSocket) -> ErrorCode {
    loop {
        match socket.recv().await {
            ServerMessage::Nack(nack) => {
                assert_eq!(nack.id, None, "signals have no request id");
                return nack.code;
            }
            ServerMessage::Signal(_) | ServerMessage::Event(_) => {}
            other => panic!("expected a nack, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn signals_never_reach_the_log_a_resume_or_a_long_poll() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let alan = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    join(&ada, &alan, &room.id, "Alan").await;
    let channel = format!("conversation:{}", room.id);
    let mut a = ada.connect().await;
    let mut b = alan.connect().await;
    a.subscribe(&channel, None).await;
    b.subscribe(&channel, None).await;
    typing(&mut a, &room.id, true).await;
    assert_eq!(next_typing(&mut b).await, ["Ada"]);
    say(&mut a, &room.id, "c1", "hello").await;
    assert_eq!(next_typing(&mut b).await, Vec::<String>::new());

    // Joins (1, 2) and the message (3): nothing else has a seq.
    let poll: PollResponse = alan.poll(&channel, 0).await.json().await.unwrap();
    let seqs: Vec<u64> = poll.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert!(poll.events.iter().all(|e| e.payload["kind"] != "typing"));
    let mut resumed = alan.connect().await;
    let (replayed, head) = resumed.subscribe(&channel, Some(0)).await;
    assert_eq!(replayed.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(head, 3);
    match resumed.recv().await {
        ServerMessage::Signal(signal) => {
            assert!(matches!(signal.body, SignalBody::PresenceSnapshot { .. }), "{signal:?}")
        }
        other => panic!("after the ack: the presence snapshot, got {other:?}"),
    }
}

#[tokio::test]
async fn presence_is_a_snapshot_then_diffs_with_one_entry_per_member() {
    let app = spawn_app().await;
    let ada = app.visitor().await;
    let alan = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    let alan_view = join(&ada, &alan, &room.id, "Alan").await;
    let channel = format!("conversation:{}", room.id);
    let mut a = ada.connect().await;
    a.subscribe(&channel, None).await;
    match next_signal(&mut a, |b| matches!(b, SignalBody::PresenceSnapshot { .. })).await {
        SignalBody::PresenceSnapshot { members } => {
            assert_eq!(members.len(), 1);
            assert_eq!(members[0].member_id, room.me.member_id);
        }
        _ => unreachable!(),
    }

    let mut b1 = alan.connect().await;
    b1.subscribe(&channel, None).await;
    match next_signal(&mut b1, |b| matches!(b, SignalBody::PresenceSnapshot { .. })).await {
        SignalBody::PresenceSnapshot { members } => assert_eq!(members.len(), 2),
        _ => unreachable!(),
    }
    let arrived = next_signal(
        &mut a,
        |b| matches!(b, SignalBody::PresenceUpdate { member } if member.member_id == alan_view.me.member_id),
    )
    .await;
    assert!(
        matches!(arrived, SignalBody::PresenceUpdate { member } if member.status == PresenceStatus::Online)
    );

    // A second tab is the same member: no news for Ada, and closing one tab is no leave.
    let mut b2 = alan.connect().await;
    b2.subscribe(&channel, None).await;
    b2.stream.close(None).await.unwrap();
    drop(b2);
    // The connection is killed without a closing handshake: Alan's last tab leaves.
    drop(b1);
    match next_signal(&mut a, |b| {
        matches!(b, SignalBody::PresenceUpdate { .. } | SignalBody::PresenceLeave { .. })
    })
    .await
    {
        SignalBody::PresenceLeave { member_id } => assert_eq!(member_id, alan_view.me.member_id),
        other => panic!("the only change is Alan leaving, got {other:?}"),
    }
    let here: Vec<protocol::chat::PresenceEntry> =
        ada.get_json(&format!("/api/conversations/{}/presence", room.id)).await;
    assert_eq!(here.len(), 1, "no zombie entry: {here:?}");
}

#[tokio::test]
async fn a_frozen_client_leaves_within_the_heartbeat_grace() {
    let app = spawn_app_with(|c| {
        c.heartbeat_interval = Duration::from_millis(300);
        c.heartbeat_grace = Duration::from_millis(300);
    })
    .await;
    let ada = app.visitor().await;
    let alan = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    let alan_view = join(&ada, &alan, &room.id, "Alan").await;
    let channel = format!("conversation:{}", room.id);
    let mut a = ada.connect().await;
    a.subscribe(&channel, None).await;
    // Alan's socket stays open but never answers a ping again.
    let mut frozen = alan.connect().await;
    frozen.subscribe(&channel, None).await;
    let started = Instant::now();
    let mut last_ping = started - Duration::from_secs(1);
    loop {
        // Ada stays alive by pinging herself, well within the interval.
        if last_ping.elapsed() >= Duration::from_millis(150) {
            a.send_request(|_| ClientMessage::Ping { ts: 0 }).await;
            last_ping = Instant::now();
        }
        if let Ok(ServerMessage::Signal(signal)) =
            tokio::time::timeout(Duration::from_millis(200), a.recv()).await
            && let SignalBody::PresenceLeave { member_id } = signal.body
        {
            assert_eq!(member_id, alan_view.me.member_id);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "Alan never left");
    }
    drop(frozen);
}

#[tokio::test]
async fn a_member_idle_in_every_tab_is_away_and_back_on_activity() {
    let app = spawn_app_with(|c| c.chat.away_after = Duration::from_secs(1)).await;
    let ada = app.visitor().await;
    let alan = app.visitor().await;
    let room = create_conversation(&ada, "Launch", "Ada").await;
    let alan_view = join(&ada, &alan, &room.id, "Alan").await;
    let channel = format!("conversation:{}", room.id);
    let mut a = ada.connect().await;
    a.subscribe(&channel, None).await;
    let mut b = alan.connect().await;
    b.subscribe(&channel, None).await;
    let alan_is = |status: PresenceStatus| {
        let id = alan_view.me.member_id.clone();
        move |body: &SignalBody| matches!(body, SignalBody::PresenceUpdate { member } if member.member_id == id && member.status == status)
    };
    next_signal(&mut a, alan_is(PresenceStatus::Online)).await;
    let idle_from = Instant::now();
    next_signal(&mut a, alan_is(PresenceStatus::Away)).await;
    assert!(idle_from.elapsed() >= Duration::from_millis(500));
    b.send_json(&serde_json::json!({"type": "activity"})).await;
    next_signal(&mut a, alan_is(PresenceStatus::Online)).await;
}
