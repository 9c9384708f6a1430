//! Conversation messages on SQLite go through the event log's single writer,
//! beside the publish API's appends: concurrent senders share its group
//! commits instead of racing for SQLite's write lock, and the checks a send
//! makes (membership, resend) hold inside a shared transaction. A leave
//! racing a member's sends comes after every send it let through.

use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::join_all;
use protocol::chat::{ConversationEvent, ConversationView, HistoryPage, Sent};
use serde_json::json;
use server::store::messages::{NewMessage, Stored};
use tokio::sync::Notify;

use crate::chat::{create_conversation, join};
use crate::helpers::{TestApp, Visitor, spawn_app, spawn_app_with};
use crate::scrape::metric;

const SENDERS: usize = 5;
const MESSAGES_EACH: usize = 4;

async fn send(visitor: &Visitor, conversation: &str, client_id: String) -> (u16, Option<Sent>) {
    let response = visitor
        .http
        .post(format!("{}/api/conversations/{conversation}/messages", visitor.base()))
        .json(&json!({ "client_id": client_id, "text": format!("from {client_id}") }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, if status < 300 { Some(response.json().await.unwrap()) } else { None })
}

/// A conversation of SENDERS members (its owner first), and its head seq.
async fn room_of_senders(app: &TestApp, title: &str) -> (ConversationView, Vec<Visitor>, u64) {
    let owner = app.visitor().await;
    let room = create_conversation(&owner, title, "Owner").await;
    let mut members = vec![owner];
    for n in 1..SENDERS {
        let guest = app.visitor().await;
        join(&members[0], &guest, &room.id, &format!("Guest {n}")).await;
        members.push(guest);
    }
    let head: u64 = members[0]
        .get_json::<serde_json::Value>(&format!("/api/conversations/{}", room.id))
        .await["head_seq"]
        .as_u64()
        .unwrap();
    (room, members, head)
}

#[tokio::test]
async fn concurrent_senders_resends_and_publishes_share_the_log_writer() {
    let app = spawn_app().await;
    let sqlite = app.store.backend() == server::store::Backend::Sqlite;
    let (room, members, head_before) = room_of_senders(&app, "Busy").await;
    let outsider = app.visitor().await;
    let jobs_before = metric(&app, "beacon_log_writer_jobs_total").await;

    // Every member sends at once, interleaved with publishes to another
    // channel and a send from someone who is not a member.
    let inbox = members[0].inbox();
    let room_id = room.id.as_str();
    let sends = members
        .iter()
        .enumerate()
        .flat_map(|(i, member)| (0..MESSAGES_EACH).map(move |k| send(member, room_id, format!("m{i}-{k}"))));
    let publishes = (0..SENDERS).map(|n| app.publish_ok(&inbox, json!({ "n": n })));
    let (sent, _, refused) =
        tokio::join!(join_all(sends), join_all(publishes), send(&outsider, room_id, "outsider-1".into()));
    assert_eq!(refused.0, 404, "a non-member's send is refused");
    let mut seqs: Vec<u64> = sent
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 201, "every member's send is stored");
            body.as_ref().unwrap().message.seq
        })
        .collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (head_before + 1..=head_before + (SENDERS * MESSAGES_EACH) as u64).collect();
    assert_eq!(seqs, expected, "one seq each, none skipped: the refused send took none");

    // Resends (their acks lost) answer with the stored message, concurrently too.
    let resends = members.iter().enumerate().map(|(i, member)| send(member, room_id, format!("m{i}-0")));
    for (i, (status, body)) in join_all(resends).await.into_iter().enumerate() {
        assert_eq!(status, 200, "a resend is not stored again");
        let body = body.unwrap();
        assert!(body.duplicate);
        // Sends were made member by member, MESSAGES_EACH each: m{i}-0 is the first of each run.
        let first = sent[i * MESSAGES_EACH].1.as_ref().unwrap();
        assert_eq!(
            (body.message.client_id.as_str(), body.message.seq),
            (first.message.client_id.as_str(), first.message.seq)
        );
    }
    let page: HistoryPage =
        members[0].get_json(&format!("/api/conversations/{}/messages?limit=100", room.id)).await;
    assert_eq!(page.messages.len(), SENDERS * MESSAGES_EACH);

    // Stored messages, refused sends, resends and publishes: every one a writer job on SQLite.
    let jobs = metric(&app, "beacon_log_writer_jobs_total").await - jobs_before;
    let expected_jobs = if sqlite { (SENDERS * MESSAGES_EACH + 1 + SENDERS + SENDERS) as u64 } else { 0 };
    assert_eq!(jobs, expected_jobs);
}

#[tokio::test]
async fn a_leave_racing_sends_comes_after_every_message_it_let_through() {
    const STREAMS: usize = 4;
    const MAX_SENDS_EACH: usize = 200;
    let app = spawn_app_with(|c| c.chat.messages_per_sec = 1_000).await;
    let owner = app.visitor().await;
    let leaver = app.visitor().await;
    let room = create_conversation(&owner, "Racing", "Owner").await;
    let joined = join(&owner, &leaver, &room.id, "Leaver").await;
    let channel = format!("conversation:{}", room.id);
    let (_, head_before) = owner.connect().await.subscribe(&channel, None).await;

    // Four streams of sends, each sending until it is refused; the leave
    // goes out once a few have been answered. Each stream thus has a send
    // in flight when the leave commits, whichever way the lock falls.
    let room_id = room.id.as_str();
    let answered = AtomicUsize::new(0);
    let some_answered = Notify::new();
    let stream = |s: usize| {
        let (answered, some_answered, leaver) = (&answered, &some_answered, &leaver);
        async move {
            let mut out = Vec::new();
            for k in 0..MAX_SENDS_EACH {
                let (status, body) = send(leaver, room_id, format!("r{s}-{k}")).await;
                out.push((status, body));
                if answered.fetch_add(1, Ordering::SeqCst) + 1 == STREAMS {
                    some_answered.notify_one();
                }
                if status == 404 {
                    return out;
                }
            }
            panic!("stream {s}: {MAX_SENDS_EACH} sends and none refused after the leave");
        }
    };
    let sends = async { join_all((0..STREAMS).map(stream)).await.concat() };
    let leave = async {
        some_answered.notified().await;
        let url = format!("{}/api/conversations/{room_id}/leave", leaver.base());
        leaver.http.post(url).send().await.unwrap().status().as_u16()
    };
    let (sent, left) = tokio::join!(sends, leave);
    assert_eq!(left, 204);
    let stored: Vec<u64> = sent
        .iter()
        .filter_map(|(status, body)| match status {
            201 => Some(body.as_ref().unwrap().message.seq),
            404 => None,
            other => panic!("a send is stored (201) or refused as a non-member's (404), got {other}"),
        })
        .collect();
    assert!(stored.len() >= STREAMS, "the sends answered before the leave went out were stored");

    // The log, as a member reads it: the sends let through, then the leave,
    // and nothing of the leaver after it; refused sends took no seq.
    let (log, head) = owner.connect().await.subscribe(&channel, Some(head_before)).await;
    assert_eq!(head, head_before + stored.len() as u64 + 1);
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), (head_before + 1..=head).collect::<Vec<_>>());
    let (last, rest) = log.split_last().unwrap();
    match serde_json::from_value(last.payload.clone()).unwrap() {
        ConversationEvent::MemberLeft { member } => assert_eq!(member.member_id, joined.me.member_id),
        other => panic!("the leave comes last, got {other:?}"),
    }
    for event in rest {
        match serde_json::from_value(event.payload.clone()).unwrap() {
            ConversationEvent::Message { message } => {
                assert_eq!(message.sender, joined.me.member_id);
                assert!(stored.contains(&message.seq), "stored {} was answered as stored", message.seq);
            }
            other => panic!("only the leaver's messages before the leave, got {other:?}"),
        }
    }
    // After the leave, a send is refused and stores nothing.
    assert_eq!(send(&leaver, room_id, "late".into()).await.0, 404);
    assert_eq!(owner.connect().await.subscribe(&channel, Some(head)).await, (Vec::new(), head));
}

#[tokio::test]
async fn one_client_id_sent_again_and_again_at_once_is_stored_once() {
    let app = spawn_app().await;
    let (room, members, head_before) = room_of_senders(&app, "Echo").await;

    // A client retrying before its first ack: every member's copies of one
    // client id, queued at the store in one poll, so on SQLite they share the
    // writer's group and the first copy is not stored yet when the others
    // are decided. (Straight to the store: nothing is broadcast.)
    let (store, room_id) = (&app.store, room.id.as_str());
    let sends = members.iter().flat_map(|member| {
        (0..MESSAGES_EACH).map(move |_| {
            store.send_message(NewMessage {
                conversation: room_id.to_owned(),
                principal: member.principal.clone(),
                client_id: "same".into(),
                text: "again".into(),
            })
        })
    });
    let answers = join_all(sends).await;

    let mut seqs = Vec::new();
    for (i, copies) in answers.chunks(MESSAGES_EACH).enumerate() {
        let copies: Vec<_> = copies.iter().map(|answer| answer.as_ref().expect("stored or found")).collect();
        let stored: Vec<_> = copies
            .iter()
            .filter_map(|copy| match copy {
                Stored::New { message, .. } => Some(message),
                _ => None,
            })
            .collect();
        assert_eq!(stored.len(), 1, "member {i}: one copy stored, answers {copies:?}");
        for copy in &copies {
            let message = match copy {
                Stored::New { message, .. } | Stored::Duplicate(message) => message,
                Stored::NotMember => panic!("member {i}: refused"),
            };
            assert_eq!((&message.id, message.seq), (&stored[0].id, stored[0].seq));
        }
        seqs.push(stored[0].seq);
    }
    seqs.sort_unstable();
    let expected: Vec<u64> = (head_before + 1..=head_before + SENDERS as u64).collect();
    assert_eq!(seqs, expected, "one seq a member: the copies took none");
    let page: HistoryPage =
        members[0].get_json(&format!("/api/conversations/{}/messages?limit=100", room.id)).await;
    assert_eq!(page.messages.len(), SENDERS);
}
