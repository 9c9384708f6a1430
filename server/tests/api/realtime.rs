//! The realtime contract: authorization, lossless resume, limits, long-poll.

use std::time::Duration;

use protocol::{ClientMessage, CloseCode, ErrorCode, ResetReason, ServerMessage};
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
async fn a_silent_client_is_reaped_by_the_heartbeat() {
    let app = spawn_app_with(|c| {
        c.heartbeat_interval = Duration::from_millis(200);
        c.heartbeat_grace = Duration::from_millis(200);
    })
    .await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    // Never answer pings.
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::HeartbeatTimeout.code()));
}

#[tokio::test]
async fn a_client_answering_pings_stays_connected() {
    let app = spawn_app_with(|c| {
        c.heartbeat_interval = Duration::from_millis(100);
        c.heartbeat_grace = Duration::from_millis(100);
    })
    .await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    let until = tokio::time::Instant::now() + Duration::from_millis(800);
    let mut pings = 0;
    while tokio::time::Instant::now() < until {
        let frame =
            tokio::time::timeout(Duration::from_secs(2), futures_util::StreamExt::next(&mut socket.stream))
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        if let Message::Text(text) = frame {
            if let ServerMessage::Ping { ts } = serde_json::from_str(&text).unwrap() {
                pings += 1;
                socket.send_json(&json!({ "type": "pong", "ts": ts })).await;
            }
        } else {
            panic!("unexpected frame {frame:?}");
        }
    }
    assert!(pings >= 3, "pings arrive at the interval ({pings})");
}

#[tokio::test]
async fn another_visitors_inbox_is_forbidden() {
    let app = spawn_app().await;
    let alice = app.visitor().await;
    let bob = app.visitor().await;
    let mut socket = bob.connect().await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: alice.inbox(),
            since: Some(0),
            epoch: None,
        })
        .await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::Forbidden);
    assert_eq!(bob.poll(&alice.inbox(), 0).await.status(), 403);
    // Nothing leaked: after Alice's event, the first event Bob's socket gets
    // is the marker on his own inbox, and polling hers is still refused.
    let (_, head) = socket.subscribe(&bob.inbox(), None).await;
    assert_eq!(head, 0);
    app.publish_ok(&alice.inbox(), json!({ "secret": true })).await;
    app.publish_ok(&bob.inbox(), json!({ "marker": true })).await;
    let next = socket.events(1).await.remove(0);
    assert_eq!(next.channel.as_str(), bob.inbox(), "only Bob's own channel reaches Bob");
    assert_eq!(next.payload, json!({ "marker": true }));
    assert_eq!(bob.poll(&alice.inbox(), 0).await.status(), 403);
}

#[tokio::test]
async fn another_visitors_connect_session_is_forbidden() {
    let app = spawn_app().await;
    let alice = app.visitor().await;
    let bob = app.visitor().await;
    let session = alice.create_session().await;
    let channel = format!("session:{session}");
    let mut own = alice.connect().await;
    own.subscribe(&channel, Some(0)).await;
    let mut socket = bob.connect().await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: channel.clone(),
            since: Some(0),
            epoch: None,
        })
        .await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::Forbidden);
    let status =
        bob.http.get(app.url(&format!("/api/connections/session/{session}"))).send().await.unwrap().status();
    assert_eq!(status, 404);
    let status = alice
        .http
        .get(app.url(&format!("/api/connections/session/{session}")))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn dashboard_channels_need_a_grant() {
    let app = spawn_app().await;
    let member = app.visitor().await;
    let outsider = app.visitor().await;
    app.grant("dashboard:ops", &member.principal).await;
    let mut socket = member.connect().await;
    socket.subscribe("dashboard:ops", Some(0)).await;
    let mut other = outsider.connect().await;
    for channel in ["dashboard:ops", "dashboard:other"] {
        let id = other
            .send_request(|id| ClientMessage::Subscribe {
                id,
                channel: channel.into(),
                since: None,
                epoch: None,
            })
            .await;
        assert_eq!(other.expect_nack(Some(&id)).await, ErrorCode::Forbidden, "{channel}");
    }
}

#[tokio::test]
async fn unknown_kinds_and_malformed_names_are_invalid_channels() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    for bad in ["admin:1", "user", "user:", "user:../../etc", &format!("user:{}", "a".repeat(65))] {
        let id = socket
            .send_request(|id| ClientMessage::Subscribe {
                id,
                channel: bad.to_owned(),
                since: None,
                epoch: None,
            })
            .await;
        assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::InvalidChannel, "{bad}");
    }
    assert_eq!(visitor.poll("admin:1", 0).await.status(), 400);
}

#[tokio::test]
async fn subscribing_before_auth_is_refused_and_bad_tokens_close() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.open_socket().await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: visitor.inbox(),
            since: None,
            epoch: None,
        })
        .await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::NotAuthenticated);
    let id = socket.send_request(|id| ClientMessage::Auth { id, token: "forged.token.value".into() }).await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::BadToken);
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::BadToken.code()));
}

#[tokio::test]
async fn tokens_refresh_without_reconnecting() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let other = app.visitor().await;
    let mut socket = visitor.connect().await;
    let token = visitor.token().await;
    let id = socket.send_request(|id| ClientMessage::RefreshToken { id, token }).await;
    socket.expect_ack(&id).await;
    let token = other.token().await;
    let id = socket.send_request(|id| ClientMessage::RefreshToken { id, token }).await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::PrincipalMismatch);
}

#[tokio::test]
async fn an_unauthenticated_socket_times_out() {
    let app = spawn_app_with(|c| c.auth_timeout = Duration::from_millis(300)).await;
    let visitor = app.visitor().await;
    let mut socket = visitor.open_socket().await;
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::AuthTimeout.code()));
}

#[tokio::test]
async fn malformed_and_unknown_messages_are_nacked_and_the_server_stays_healthy() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    socket.send_raw(Message::text("{not json")).await;
    assert_eq!(socket.expect_nack(None).await, ErrorCode::MalformedMessage);
    socket.send_json(&json!({ "type": "teleport", "id": "x" })).await;
    assert_eq!(socket.expect_nack(Some("x")).await, ErrorCode::UnknownType, "the nack names the request");
    socket.send_json(&json!({ "type": "subscribe" })).await;
    assert_eq!(socket.expect_nack(None).await, ErrorCode::MalformedMessage);
    // Still usable.
    let (_, head) = socket.subscribe(&visitor.inbox(), None).await;
    assert_eq!(head, 0);
    assert_eq!(reqwest::get(app.url("/health")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn binary_frames_close_with_protocol_violation() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    socket.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::ProtocolViolation.code()));
    assert_eq!(reqwest::get(app.url("/health")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn oversize_frames_close_with_message_too_big() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    let huge = json!({ "type": "ping", "ts": 1, "pad": "x".repeat(64 * 1024) });
    socket.send_json(&huge).await;
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::MessageTooBig.code()));
    let mut again = visitor.connect().await;
    again.subscribe(&visitor.inbox(), None).await;
}

#[tokio::test]
async fn flooding_is_nacked_then_closed() {
    let app = spawn_app_with(|c| c.inbound_rate_per_sec = 5).await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    for _ in 0..40 {
        socket.send_json(&json!({ "type": "ping", "ts": 1 })).await;
    }
    let mut saw_rate_nack = false;
    let code = loop {
        match tokio::time::timeout(FRAME_WAIT, futures_util::StreamExt::next(&mut socket.stream))
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(text))) => {
                if let ServerMessage::Nack(nack) = serde_json::from_str(&text).unwrap() {
                    assert_eq!(nack.code, ErrorCode::RateLimited);
                    saw_rate_nack = true;
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            other => panic!("unexpected end: {other:?}"),
        }
    };
    assert!(saw_rate_nack);
    assert_eq!(code, Some(CloseCode::RateLimited.code()));
}

#[tokio::test]
async fn too_many_channels_is_nacked() {
    let app = spawn_app_with(|c| c.max_channels_per_connection = 2).await;
    let visitor = app.visitor().await;
    for name in ["dashboard:a", "dashboard:b", "dashboard:c"] {
        app.grant(name, &visitor.principal).await;
    }
    let mut socket = visitor.connect().await;
    socket.subscribe("dashboard:a", None).await;
    socket.subscribe("dashboard:b", None).await;
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: "dashboard:c".into(),
            since: None,
            epoch: None,
        })
        .await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::TooManyChannels);
}

#[tokio::test]
async fn too_many_connections_for_one_principal_are_refused() {
    let app = spawn_app_with(|c| c.max_connections_per_principal = 2).await;
    let visitor = app.visitor().await;
    let _a = visitor.connect().await;
    let _b = visitor.connect().await;
    let mut third = visitor.open_socket().await;
    let token = visitor.token().await;
    third.send_request(|id| ClientMessage::Auth { id, token }).await;
    assert_eq!(third.closed().await, Closed::Code(CloseCode::TooManyConnections.code()));
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
async fn publish_needs_the_key_and_valid_input() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let url = app.url("/api/realtime/publish");
    let body = json!({ "channel": "dashboard:x", "payload": {} });
    let r = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client.post(&url).bearer_auth("wrong").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(&url)
        .bearer_auth(PUBLISH_KEY)
        .json(&json!({ "channel": "nope:x", "payload": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let error: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error["error"], "bad_request");
    let huge = json!({ "channel": "dashboard:x", "payload": { "pad": "x".repeat(70 * 1024) } });
    let r = client.post(&url).bearer_auth(PUBLISH_KEY).json(&huge).send().await.unwrap();
    assert_eq!(r.status(), 413);
    // Nothing was stored by the refused requests.
    let bounds = app.store.log_bounds(&channel("dashboard:x")).await.unwrap();
    assert_eq!(bounds.head, 0);
}

#[tokio::test]
async fn stats_and_metrics_report_the_hub() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&visitor.inbox(), None).await;
    app.publish_ok(&visitor.inbox(), json!({})).await;
    socket.events(1).await;
    let r = reqwest::get(app.url("/api/admin/realtime-stats")).await.unwrap();
    assert_eq!(r.status(), 401);
    let stats: serde_json::Value = reqwest::Client::new()
        .get(app.url("/api/admin/realtime-stats"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["connections"], 1);
    assert_eq!(stats["subscribers_per_channel"][0], json!([visitor.inbox(), 1]));
    assert_eq!(stats["metrics"]["published"], 1);
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(text.contains("beacon_events_published_total 1"), "{text}");
    assert!(text.contains("beacon_connections 1"), "{text}");
}

#[tokio::test]
async fn the_publish_cli_posts_through_the_api() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let answer =
        server::cli::publish(channel(&visitor.inbox()), r#"{"text":"hi"}"#, &app.url(""), PUBLISH_KEY)
            .await
            .unwrap();
    assert_eq!(answer.seq, 1);
    let err =
        server::cli::publish(channel(&visitor.inbox()), "{", &app.url(""), PUBLISH_KEY).await.unwrap_err();
    assert!(err.to_string().contains("not JSON"));
    let err = server::cli::publish(channel(&visitor.inbox()), "{}", &app.url(""), "wrong").await.unwrap_err();
    assert!(err.to_string().contains("401"));
}

#[tokio::test]
async fn an_admin_disconnect_closes_with_the_reconnect_code() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let other = app.visitor().await;
    let mut socket = visitor.connect().await;
    let mut bystander = other.connect().await;
    let answer: serde_json::Value = reqwest::Client::new()
        .post(app.url("/api/admin/disconnect"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "principal": visitor.principal }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["closed"], 1);
    assert_eq!(socket.closed().await, Closed::Code(CloseCode::Reconnect.code()));
    assert!(CloseCode::Reconnect.reconnect_allowed());
    // Other principals are untouched.
    bystander.subscribe(&other.inbox(), None).await;
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

#[tokio::test]
async fn protocol_pings_are_answered_with_their_payload() {
    let app = spawn_app().await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    socket.send_raw(Message::Ping(b"are you there".to_vec().into())).await;
    loop {
        let next = futures_util::StreamExt::next(&mut socket.stream);
        match tokio::time::timeout(Duration::from_secs(5), next).await.expect("a pong within 5 s") {
            Some(Ok(Message::Pong(payload))) => break assert_eq!(&payload[..], b"are you there"),
            Some(Ok(Message::Text(_))) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    // The socket goes on as before.
    socket.subscribe(&visitor.inbox(), None).await;
}
