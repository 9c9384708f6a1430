//! The realtime contract's delivery: live events in order, lossless resume,
//! slow consumers, the long-poll on the same log, and resets.

use std::time::Duration;

use protocol::{ClientMessage, CloseCode, ResetReason, ServerMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

fn seqs(events: &[protocol::EventEnvelope]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn published_events_reach_a_live_subscriber_in_order() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    let (replayed, head) = socket.subscribe(&visitor.inbox(), None).await;
    assert!(replayed.is_empty());
    assert_eq!(head, 0);
    for n in 1..=5 {
        app.publish_ok(&visitor.inbox(), json!({ "n": n })).await;
    }
    let events = socket.events(5).await;
    assert_eq!(seqs(&events), vec![1, 2, 3, 4, 5]);
    assert_eq!(events[4].payload, json!({ "n": 5 }));
    assert!(events.iter().all(|e| e.channel.as_str() == visitor.inbox()));
}

#[tokio::test]
async fn events_published_while_away_arrive_after_resume_once_and_in_order() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&visitor.inbox(), Some(0)).await;
    for n in 1..=3 {
        app.publish_ok(&visitor.inbox(), json!({ "n": n })).await;
    }
    let seen = socket.events(3).await;
    let last = seen.last().unwrap().seq;
    drop(socket);

    for n in 4..=10 {
        app.publish_ok(&visitor.inbox(), json!({ "n": n })).await;
    }
    let mut socket = visitor.connect().await;
    let (replayed, head) = socket.subscribe(&visitor.inbox(), Some(last)).await;
    assert_eq!(seqs(&replayed), (4..=10).collect::<Vec<_>>());
    assert_eq!(head, 10);
    // Live continues right after the replay, with no duplicate.
    app.publish_ok(&visitor.inbox(), json!({ "n": 11 })).await;
    assert_eq!(seqs(&socket.events(1).await), vec![11]);
}

#[tokio::test]
async fn resume_under_concurrent_publishing_has_no_gap_and_no_duplicate() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let inbox = visitor.inbox();
    for n in 1..=20 {
        app.publish_ok(&inbox, json!({ "n": n })).await;
    }
    // Publish continuously while a client subscribes with since in the middle.
    let publisher = {
        let url = app.url("/api/realtime/publish");
        let inbox = inbox.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for n in 21..=80 {
                let r = client
                    .post(&url)
                    .bearer_auth(PUBLISH_KEY)
                    .json(&json!({ "channel": inbox, "payload": { "n": n } }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        })
    };
    let mut socket = visitor.connect().await;
    let (mut received, _) = socket.subscribe(&inbox, Some(10)).await;
    while received.last().map_or(0, |e| e.seq) < 80 {
        received.extend(socket.events(1).await);
    }
    publisher.await.unwrap();
    assert_eq!(seqs(&received), (11..=80).collect::<Vec<_>>());
}

#[tokio::test]
async fn concurrent_publishers_keep_seq_strict() {
    let app = spawn_app().await;
    let channel = "dashboard:race";
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let url = app.url("/api/realtime/publish");
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seqs = Vec::new();
            for n in 0..25 {
                let r: protocol::PublishResponse = client
                    .post(&url)
                    .bearer_auth(PUBLISH_KEY)
                    .json(&json!({ "channel": channel, "payload": { "w": worker, "n": n } }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                seqs.push(r.seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "one publisher's seqs increase: {seqs:?}");
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<_>>(), "every seq handed out once, no gap");
    let stored = app.store.events_between(&channel_name(channel), 0, 1000, 1000).await.unwrap();
    assert_eq!(seqs(&stored), (1..=200).collect::<Vec<_>>());
}

fn channel_name(s: &str) -> protocol::ChannelName {
    channel(s)
}

#[tokio::test]
async fn a_slow_consumer_is_closed_and_loses_nothing_after_resume() {
    let app = spawn_app_with(|c| c.outbound_queue = 4).await;
    let visitor = app.visitor().await;
    let inbox = visitor.inbox();
    let mut socket = visitor.connect().await;
    socket.subscribe(&inbox, Some(0)).await;

    // The client does not read; large events fill the socket buffers, then the
    // queue. Publishing stops as soon as the server has given up on the client:
    // it sends its close frame once the client reads again, and waits only a
    // moment for that (a peer that never reads must not hold the task).
    let big = "x".repeat(8 * 1024);
    let mut total = 0u64;
    while total < 5_000 {
        for _ in 0..25 {
            total += 1;
            app.publish_ok(&inbox, json!({ "n": total, "pad": big })).await;
        }
        if slow_consumers(&app).await >= 1 {
            break;
        }
    }
    assert!(slow_consumers(&app).await >= 1, "5000 unread events never filled the queue");
    // Now read what arrived before the close.
    let mut received = Vec::new();
    let code = loop {
        match tokio::time::timeout(FRAME_WAIT, futures_util::StreamExt::next(&mut socket.stream))
            .await
            .expect("frames or close")
        {
            Some(Ok(Message::Text(text))) => {
                if let ServerMessage::Event(e) = serde_json::from_str(&text).unwrap() {
                    received.push(e.seq)
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(code, Some(CloseCode::SlowConsumer.code()), "closed as a slow consumer");
    assert!((received.len() as u64) < total, "the close came before everything was sent");

    let last = received.last().copied().unwrap_or(0);
    let mut socket = visitor.connect().await;
    let (replayed, _) = socket.subscribe(&inbox, Some(last)).await;
    received.extend(seqs(&replayed));
    assert_eq!(received, (1..=total).collect::<Vec<_>>(), "every event exactly once, in order");
}

/// Connections closed as slow consumers so far.
async fn slow_consumers(app: &crate::helpers::TestApp) -> u64 {
    app.realtime_stats().await["metrics"]["slow_consumers"].as_u64().unwrap()
}

#[tokio::test]
async fn long_poll_returns_the_same_sequence_as_the_socket() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let inbox = visitor.inbox();
    let mut socket = visitor.connect().await;
    socket.subscribe(&inbox, Some(0)).await;
    for n in 1..=6 {
        app.publish_ok(&inbox, json!({ "n": n })).await;
    }
    let from_socket = socket.events(6).await;
    let polled: protocol::PollResponse = visitor.poll(&inbox, 0).await.json().await.unwrap();
    assert_eq!(polled.events, from_socket, "identical envelopes");
    assert_eq!(polled.head_seq, 6);

    // A waiting poll is answered as soon as an event is published.
    let waiting = {
        let http = visitor.http.clone();
        let url = app.url("/api/realtime/poll");
        let inbox = inbox.clone();
        tokio::spawn(async move {
            http.get(url).query(&[("channel", inbox.as_str()), ("since", "6")]).send().await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.publish_ok(&inbox, json!({ "n": 7 })).await;
    let answer: protocol::PollResponse = waiting.await.unwrap().json().await.unwrap();
    assert_eq!(seqs(&answer.events), vec![7]);
    assert_eq!(answer.events[0], socket.events(1).await[0]);
}

#[tokio::test]
async fn an_idle_long_poll_answers_empty_at_the_deadline() {
    let app = spawn_app_with(|c| c.long_poll_wait = Duration::from_millis(300)).await;
    let visitor = app.visitor().await;
    let answer: protocol::PollResponse = visitor.poll(&visitor.inbox(), 0).await.json().await.unwrap();
    assert!(answer.events.is_empty());
    assert!(answer.reset.is_none());
    assert_eq!(answer.head_seq, 0);
}

#[tokio::test]
async fn since_beyond_retention_gets_reset_not_a_partial_replay() {
    let app = spawn_app_with(|c| c.retention_events = 5).await;
    let visitor = app.visitor().await;
    let inbox = visitor.inbox();
    for n in 1..=12 {
        app.publish_ok(&inbox, json!({ "n": n })).await;
    }
    let removed = app.store.apply_retention(5, i64::MAX / 2).await.unwrap();
    assert_eq!(removed, 7);

    let mut socket = visitor.connect().await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: inbox.clone(),
            since: Some(3),
            epoch: None,
        })
        .await;
    match socket.recv().await {
        ServerMessage::Reset(reset) => {
            assert_eq!(reset.reason, ResetReason::BeyondRetention);
            assert_eq!(reset.head_seq, 12);
        }
        other => panic!("expected reset, got {other:?}"),
    }
    assert_eq!(socket.expect_ack(&id).await, Some(12));
    // Within retention it replays normally.
    let (replayed, _) = socket.subscribe(&inbox, Some(8)).await;
    assert_eq!(seqs(&replayed), vec![9, 10, 11, 12]);
    // The long-poll says the same.
    let polled: protocol::PollResponse = visitor.poll(&inbox, 3).await.json().await.unwrap();
    assert_eq!(polled.reset.map(|r| r.reason), Some(ResetReason::BeyondRetention));
    assert!(polled.events.is_empty());
    // A since ahead of the log is a reset too.
    let polled: protocol::PollResponse = visitor.poll(&inbox, 99).await.json().await.unwrap();
    assert_eq!(polled.reset.map(|r| r.reason), Some(ResetReason::AheadOfLog));
}

#[tokio::test]
async fn a_resume_into_a_log_that_was_reset_is_reset_not_trusted() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let inbox = visitor.inbox();
    let mut socket = visitor.connect().await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe { id, channel: inbox.clone(), since: None, epoch: None })
        .await;
    let first_epoch = match socket.recv().await {
        ServerMessage::Ack(ack) if ack.id == id => ack.epoch.expect("a subscribe ack names the epoch"),
        other => panic!("expected the ack, got {other:?}"),
    };
    for n in 1..=3 {
        app.publish_ok(&inbox, json!({ "n": n })).await;
    }
    assert_eq!(seqs(&socket.events(3).await), vec![1, 2, 3]);
    drop(socket);

    // Behind the client's back the channel's log is wiped and starts again:
    // seqs 1..5 now name other events than the ones it saw.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    for table in ["events", "channel_heads"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE channel = $1"))
            .bind(&inbox)
            .execute(&pool)
            .await
            .unwrap();
    }
    for n in 1..=5 {
        app.publish_ok(&inbox, json!({ "again": n })).await;
    }

    let mut socket = visitor.connect().await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: inbox.clone(),
            since: Some(3),
            epoch: Some(first_epoch.clone()),
        })
        .await;
    let second_epoch = match socket.recv().await {
        ServerMessage::Reset(reset) => {
            assert_eq!((reset.reason, reset.head_seq), (ResetReason::EpochChanged, 5));
            assert_ne!(reset.epoch, first_epoch);
            reset.epoch
        }
        other => panic!("expected a reset instead of events 4 and 5 of another log, got {other:?}"),
    };
    assert_eq!(socket.expect_ack(&id).await, Some(5));
    // The long-poll says the same, and resuming in the new epoch works.
    let url = format!("{}/api/realtime/poll", app.url(""));
    let poll_in = |epoch: String| {
        let request =
            visitor.http.get(&url).query(&[("channel", inbox.as_str()), ("since", "3"), ("epoch", &epoch)]);
        async move { request.send().await.unwrap().json::<protocol::PollResponse>().await.unwrap() }
    };
    let polled = poll_in(first_epoch).await;
    assert_eq!(polled.reset.map(|r| r.reason), Some(ResetReason::EpochChanged));
    let polled = poll_in(second_epoch).await;
    assert_eq!(seqs(&polled.events), vec![4, 5]);
}
