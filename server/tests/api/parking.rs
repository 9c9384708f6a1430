//! An idle socket parks (its task ends) and is woken by everything it waits
//! on: an event for it, its client, its heartbeat, shutdown, its client gone.
//!
//! Every test app parks sockets after 20 ms without work (`helpers`), so the
//! whole suite runs with sockets parking and resuming between its steps; the
//! tests here check that a socket is in fact parked when each wake comes.

use std::time::Duration;

use futures_util::StreamExt;
use protocol::{CloseCode, ServerMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// Sockets parked now: parks so far less resumes so far.
async fn parked_now(app: &TestApp) -> u64 {
    let metrics = &app.realtime_stats().await["metrics"];
    metrics["parked"].as_u64().unwrap() - metrics["resumed"].as_u64().unwrap()
}

/// Waits until `n` sockets are parked, and returns how many parks there
/// have been.
async fn until_parked(app: &TestApp, n: u64) -> u64 {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if parked_now(app).await == n {
            return app.realtime_stats().await["metrics"]["parked"].as_u64().unwrap();
        }
        assert!(tokio::time::Instant::now() < until, "never {n} parked");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Parks again after running: more parks than `before`.
async fn parked_again(app: &TestApp, before: u64) -> u64 {
    let again = until_parked(app, 1).await;
    assert!(again > before, "it ran, then parked again");
    again
}

/// No ping for at least six seconds: nothing but what a step does can wake
/// the socket, and each step's answer must come well before that.
fn quiet(config: &mut server::config::Config) {
    config.heartbeat_interval = Duration::from_secs(600);
}

/// [`quiet`], and every delivery written from a task: for the tests of how
/// a delivery wakes a parked socket onto a task.
fn deliveries_on_tasks(config: &mut server::config::Config) {
    quiet(config);
    config.socket_inline_max_listeners = 0;
}

/// A counter of the hub's metrics.
async fn metric(app: &TestApp, name: &str) -> u64 {
    app.realtime_stats().await["metrics"][name].as_u64().unwrap()
}

/// A visitor's socket, subscribed to its inbox and parked, on an app made
/// with `tweak`; and how many parks there have been.
async fn parked_socket(
    tweak: impl FnOnce(&mut server::config::Config),
) -> (TestApp, Visitor, TestSocket, u64) {
    let app = spawn_app_with(tweak).await;
    let visitor = app.visitor().await;
    let mut socket = visitor.connect().await;
    socket.subscribe(&visitor.inbox(), None).await;
    let parks = until_parked(&app, 1).await;
    (app, visitor, socket, parks)
}

/// [`parked_socket`] on an app whose idleness period is one second and
/// whose deliveries are written from tasks.
async fn parked_with_a_one_second_period() -> (TestApp, Visitor, TestSocket, u64) {
    parked_socket(|c| {
        deliveries_on_tasks(c);
        c.socket_park_after = Duration::from_secs(1);
    })
    .await
}

const PROMPTLY: Duration = Duration::from_secs(3);

/// A ping every 1.5 s (the first at a random point of the interval), and
/// five seconds' grace for its pong.
fn with_a_short_heartbeat(config: &mut server::config::Config) {
    config.heartbeat_interval = Duration::from_millis(1500);
    config.heartbeat_grace = Duration::from_secs(5);
}

/// The socket's next frame, which must be a ping within five seconds; its `ts`.
async fn next_ping(socket: &mut TestSocket) -> i64 {
    let frame = tokio::time::timeout(Duration::from_secs(5), socket.stream.next())
        .await
        .expect("a ping within the interval");
    let Some(Ok(Message::Text(text))) = frame else { panic!("expected a ping, got {frame:?}") };
    let ServerMessage::Ping { ts } = serde_json::from_str(&text).unwrap() else {
        panic!("expected a ping, got {text}")
    };
    ts
}

/// Answers the socket's next ping with a pong.
async fn answer_next_ping(socket: &mut TestSocket) {
    let ts = next_ping(socket).await;
    socket.send_json(&json!({ "type": "pong", "ts": ts })).await;
}

/// Past the socket's first ping (at a random point of the interval, maybe
/// before it parked), and parked again: what comes next finds it parked.
async fn past_the_first_ping(app: &TestApp, socket: &mut TestSocket) {
    answer_next_ping(socket).await;
    until_parked(app, 1).await;
}

#[tokio::test]
async fn a_parked_socket_wakes_for_an_event_and_for_its_client() {
    let (app, visitor, mut socket, parks) = parked_socket(deliveries_on_tasks).await;

    // An event for it.
    app.publish_ok(&visitor.inbox(), json!({ "n": 1 })).await;
    let events = tokio::time::timeout(PROMPTLY, socket.events(1)).await.expect("the event, promptly");
    assert_eq!(events[0].seq, 1);
    let parks = parked_again(&app, parks).await;

    // Its client: a subscribe from the start, answered with its replay.
    let (replayed, head) = tokio::time::timeout(PROMPTLY, socket.subscribe(&visitor.inbox(), Some(0)))
        .await
        .expect("the answer, promptly");
    assert_eq!((replayed.len(), replayed[0].seq, head), (1, 1, 1));
    parked_again(&app, parks).await;
}

#[tokio::test]
async fn a_parked_socket_wakes_for_its_heartbeat() {
    let (app, _visitor, mut socket, parks) = parked_socket(|c| {
        with_a_short_heartbeat(c);
        c.socket_heartbeat_on_task = true;
    })
    .await;
    // A ping comes, with no client frame or event to wake the socket.
    answer_next_ping(&mut socket).await;
    parked_again(&app, parks).await;
}

/// Waits until the metric `name` reaches `value`.
async fn until_metric(app: &TestApp, name: &str, value: u64) {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while metric(app, name).await < value {
        assert!(tokio::time::Instant::now() < until, "{name} never reached {value}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_parked_socket_pings_and_reads_its_pong_with_no_task() {
    let (app, visitor, mut socket, _) = parked_socket(with_a_short_heartbeat).await;
    past_the_first_ping(&app, &mut socket).await;

    let (resumed, inline) = (metric(&app, "resumed").await, metric(&app, "heartbeats_inline").await);
    answer_next_ping(&mut socket).await;
    until_metric(&app, "heartbeats_inline", inline + 2).await;
    assert_eq!(metric(&app, "resumed").await, resumed, "neither the ping nor the pong took a task");
    assert_eq!(parked_now(&app).await, 1, "still parked");

    // Its timer was set again where the ping was written: the next comes,
    // and the socket still serves everything else.
    answer_next_ping(&mut socket).await;
    app.publish_ok(&visitor.inbox(), json!({ "n": 1 })).await;
    assert_eq!(socket.events(1).await[0].seq, 1);
}

#[tokio::test]
async fn a_parked_socket_s_pongs_count_against_its_rate_limit() {
    let (app, _visitor, mut socket, _) = parked_socket(|c| {
        quiet(c);
        c.inbound_rate_per_sec = 1;
    })
    .await;
    let resumed = metric(&app, "resumed").await;
    // Four pongs at once, against a bucket of at most two (the auth and the
    // subscribe took two of them): some are refused, and told so.
    for ts in 0..4 {
        socket.send_json(&json!({ "type": "pong", "ts": ts })).await;
    }
    assert_eq!(socket.expect_nack(None).await, protocol::ErrorCode::RateLimited);
    assert!(metric(&app, "resumed").await > resumed, "the refusal is written by a task");
}

#[tokio::test]
async fn shutdown_wakes_a_parked_socket_to_close_it() {
    let (mut app, _visitor, mut socket, _) = parked_socket(quiet).await;
    let closing = tokio::spawn(async move { socket.closed().await });
    app.stop().await;
    let closed = tokio::time::timeout(PROMPTLY, closing).await.expect("closed promptly");
    assert_eq!(
        closed.unwrap(),
        Closed::Code(CloseCode::Shutdown.code()),
        "with the code that says reconnect"
    );
}

#[tokio::test]
async fn a_parked_socket_whose_client_leaves_is_unregistered() {
    let (app, _visitor, mut socket, _) = parked_socket(quiet).await;
    assert_eq!(app.realtime_stats().await["connections"], 1);
    socket.send_raw(Message::Close(None)).await;
    drop(socket);
    let until = tokio::time::Instant::now() + PROMPTLY;
    while app.realtime_stats().await["connections"] != 0 {
        assert!(tokio::time::Instant::now() < until, "the parked connection was never unregistered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(parked_now(&app).await, 0, "woken to end");
}

#[tokio::test]
async fn a_parked_socket_is_woken_by_a_kick() {
    // A kick (the admin's disconnect here; a full queue's is the same) wakes
    // a parked socket to close it.
    let (app, visitor, mut socket, _) = parked_socket(quiet).await;
    let response = reqwest::Client::new()
        .post(app.url("/api/admin/disconnect"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "principal": visitor.principal }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let closed = tokio::time::timeout(PROMPTLY, socket.closed()).await.expect("closed promptly");
    assert_eq!(closed, Closed::Code(CloseCode::Reconnect.code()));
}

#[tokio::test]
async fn a_socket_woken_for_one_event_parks_again_without_waiting_a_period() {
    let (app, visitor, mut socket, parks) = parked_with_a_one_second_period().await;
    // Parked for more than a period first: a delivery sooner than that is a
    // busy socket's (the test below).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.publish_ok(&visitor.inbox(), json!({ "n": 1 })).await;
    assert_eq!(socket.events(1).await[0].seq, 1);
    // Well within the one-second period: it handled its wake, found nothing
    // more, and parked at once.
    let within = tokio::time::Instant::now() + Duration::from_millis(500);
    while app.realtime_stats().await["metrics"]["parked"].as_u64().unwrap() == parks {
        assert!(tokio::time::Instant::now() < within, "still running half a period after its event");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_socket_woken_by_a_delivery_soon_after_parking_keeps_its_task_for_the_next() {
    let (app, visitor, mut socket, parks) = parked_with_a_one_second_period().await;
    let resumes = |stats: serde_json::Value| stats["metrics"]["resumed"].as_u64().unwrap();
    let resumed_before = resumes(app.realtime_stats().await);

    // An event well within a period of its parking: a flow of events, so it
    // keeps its task, and the next event needs no new one.
    app.publish_ok(&visitor.inbox(), json!({ "n": 1 })).await;
    assert_eq!(socket.events(1).await[0].seq, 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.publish_ok(&visitor.inbox(), json!({ "n": 2 })).await;
    assert_eq!(socket.events(1).await[0].seq, 2);
    assert_eq!(
        resumes(app.realtime_stats().await),
        resumed_before + 1,
        "resumed once for both events: it did not park between them"
    );

    // Once a whole period passes idle, it parks again.
    parked_again(&app, parks).await;
}

#[tokio::test]
async fn a_parked_socket_gets_its_event_written_with_no_task() {
    let (app, visitor, mut socket, _) = parked_socket(quiet).await;
    let (resumed, inline) = (metric(&app, "resumed").await, metric(&app, "delivered_inline").await);

    app.publish_ok(&visitor.inbox(), json!({ "n": 1 })).await;
    let events = tokio::time::timeout(PROMPTLY, socket.events(1)).await.expect("the event, promptly");
    assert_eq!(events[0].seq, 1);
    assert_eq!(metric(&app, "resumed").await, resumed, "no task started for it");
    assert_eq!(metric(&app, "delivered_inline").await, inline + 1, "written where it was queued");
    assert_eq!(parked_now(&app).await, 1, "still parked");

    // Its client still wakes it onto a task, and it answers.
    let (replayed, head) = tokio::time::timeout(PROMPTLY, socket.subscribe(&visitor.inbox(), Some(0)))
        .await
        .expect("the answer, promptly");
    assert_eq!((replayed.len(), head), (1, 1));
}

#[tokio::test]
async fn a_hand_on_wider_than_the_inline_limit_starts_tasks() {
    let app = spawn_app_with(|c| {
        quiet(c);
        c.socket_inline_max_listeners = 1;
    })
    .await;
    let visitor = app.visitor().await;
    let (mut first, mut second) = (visitor.connect().await, visitor.connect().await);
    first.subscribe(&visitor.inbox(), None).await;
    second.subscribe(&visitor.inbox(), None).await;
    until_parked(&app, 2).await;
    let (resumed, inline) = (metric(&app, "resumed").await, metric(&app, "delivered_inline").await);

    // Two listeners of the channel: more than the limit.
    app.publish_ok(&visitor.inbox(), json!({ "n": 1 })).await;
    for socket in [&mut first, &mut second] {
        let events = tokio::time::timeout(PROMPTLY, socket.events(1)).await.expect("the event, promptly");
        assert_eq!(events[0].seq, 1);
    }
    assert_eq!(metric(&app, "resumed").await, resumed + 2, "a task each");
    assert_eq!(metric(&app, "delivered_inline").await, inline);
}

#[tokio::test]
async fn frames_the_kernel_does_not_take_at_once_are_written_by_a_task() {
    let (app, visitor, mut socket, _) = parked_socket(quiet).await;
    let resumed = metric(&app, "resumed").await;

    // The client reads nothing: large events fill the kernel's buffers until
    // a delivery is not taken whole, and a task starts to write the rest.
    // Nothing is published after that one, so only that task can write it.
    let filler = "x".repeat(60 * 1024);
    let mut published = 0;
    while metric(&app, "resumed").await == resumed {
        assert!(published < 2000, "the socket's buffers never filled");
        published = app.publish_ok(&visitor.inbox(), json!({ "fill": filler })).await;
    }
    assert!(metric(&app, "delivered_inline").await > 0, "the first ones went out with no task");

    let events = tokio::time::timeout(Duration::from_secs(20), socket.events(published as usize))
        .await
        .expect("every event, the last one whole");
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=published).collect::<Vec<_>>(), "in order, none missing");
}

#[tokio::test]
async fn a_socket_parked_again_after_a_delivery_written_for_it_still_pings() {
    let (app, visitor, mut socket, _) = parked_socket(with_a_short_heartbeat).await;
    past_the_first_ping(&app, &mut socket).await;

    let inline = metric(&app, "delivered_inline").await;
    app.publish_ok(&visitor.inbox(), json!({ "n": 1 })).await;
    assert_eq!(socket.events(1).await[0].seq, 1);
    assert_eq!(metric(&app, "delivered_inline").await, inline + 1, "written with no task");

    // Parked again from the publishing thread: its timer was registered
    // anew there, and still wakes it for its next ping.
    next_ping(&mut socket).await;
}
