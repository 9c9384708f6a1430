//! Conversation messages on SQLite go through the event log's single writer,
//! beside the publish API's appends: concurrent senders share its group
//! commits instead of racing for SQLite's write lock, and the checks a send
//! makes (membership, resend) hold inside a shared transaction.

use futures_util::future::join_all;
use protocol::chat::{HistoryPage, Sent};
use serde_json::json;

use crate::chat::{create_conversation, join};
use crate::helpers::{Visitor, spawn_app};
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

#[tokio::test]
async fn concurrent_senders_resends_and_publishes_share_the_log_writer() {
    let app = spawn_app().await;
    let sqlite = app.store.backend() == server::store::Backend::Sqlite;
    let owner = app.visitor().await;
    let room = create_conversation(&owner, "Busy", "Owner").await;
    let mut members = vec![owner];
    for n in 1..SENDERS {
        let guest = app.visitor().await;
        join(&members[0], &guest, &room.id, &format!("Guest {n}")).await;
        members.push(guest);
    }
    let outsider = app.visitor().await;
    let head_before: u64 = members[0]
        .get_json::<serde_json::Value>(&format!("/api/conversations/{}", room.id))
        .await["head_seq"]
        .as_u64()
        .unwrap();
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
