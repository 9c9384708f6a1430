//! Dashboards: typed ops acknowledged or refused (with the current values on
//! a conflict), idempotent replays, batches whole or not at all, the
//! membership matrix, the HTTP sync, and the socket and HTTP paths answering
//! the same. Runs on SQLite and (with `BEACON_TEST_POSTGRES_URL`) Postgres.

use protocol::dashboard::{
    DashboardChanges, DashboardEvent, DashboardInvite, DashboardView, Field, FieldChange, FieldValue,
    MetricSource, NewWidget, Op, OpKind, OpOutcome, OpsOutcome, Pos, Role, Size, WidgetKind,
};
use protocol::message::{Ack, Nack};
use protocol::{ClientMessage, ErrorCode, EventEnvelope, ServerMessage};
use serde_json::json;

use crate::helpers::{TestApp, TestSocket, Visitor, spawn_app, spawn_app_with};

async fn create_dashboard(owner: &Visitor, title: &str) -> DashboardView {
    let response = owner
        .http
        .post(format!("{}/api/dashboards", owner.base()))
        .json(&json!({ "title": title }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// `guest` joins with `role` through a link made by `owner`.
async fn join(owner: &Visitor, guest: &Visitor, dashboard: &str, role: Role) {
    let response = owner
        .http
        .post(format!("{}/api/dashboards/{dashboard}/invites", owner.base()))
        .json(&json!({ "role": role }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let invite: DashboardInvite = response.json().await.unwrap();
    let accepted = guest
        .http
        .post(format!("{}/api/dashboard-invites/{}/accept", guest.base(), invite.token))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
}

fn note(id: &str) -> NewWidget {
    NewWidget {
        id: id.into(),
        kind: WidgetKind::Note,
        title: format!("Note {id}"),
        body: "hello".into(),
        source: MetricSource::Demo,
        pos: Pos { x: 0, y: 0 },
        size: Size { w: 4, h: 2 },
    }
}

fn op(client: &str, op_seq: u64, op: OpKind) -> Op {
    Op { client_id: client.into(), op_seq, op }
}

fn retitle(widget: &str, title: &str, base: u64) -> OpKind {
    OpKind::Update {
        widget_id: widget.into(),
        changes: vec![FieldChange { value: FieldValue::Title(title.into()), base }],
    }
}

async fn submit(visitor: &Visitor, dashboard: &str, ops: &[Op]) -> reqwest::Response {
    visitor
        .http
        .post(format!("{}/api/dashboards/{dashboard}/ops", visitor.base()))
        .json(&json!({ "ops": ops }))
        .send()
        .await
        .unwrap()
}

/// Submits one op over HTTP and returns its answer.
async fn submit_one(visitor: &Visitor, dashboard: &str, one: Op) -> OpOutcome {
    let response = submit(visitor, dashboard, &[one]).await;
    assert_eq!(response.status(), 200);
    let mut outcome: OpsOutcome = response.json().await.unwrap();
    outcome.results.remove(0)
}

async fn view(visitor: &Visitor, dashboard: &str) -> DashboardView {
    visitor.get_json(&format!("/api/dashboards/{dashboard}")).await
}

/// Sends an op on the socket and returns the ack or nack (signals and
/// events arriving meanwhile are skipped).
async fn send_op(socket: &mut TestSocket, dashboard: &str, one: Op) -> Result<Ack, Nack> {
    let id = socket.send_request(|id| ClientMessage::Op { id, dashboard: dashboard.into(), op: one }).await;
    loop {
        match socket.recv().await {
            ServerMessage::Ack(ack) if ack.id == id => return Ok(ack),
            ServerMessage::Nack(nack) if nack.id.as_deref() == Some(&id) => return Err(nack),
            ServerMessage::Event(_) | ServerMessage::Signal(_) => continue,
            other => panic!("unexpected while waiting for {id}: {other:?}"),
        }
    }
}

/// The next event on the socket, skipping signals (the live values).
async fn next_event(socket: &mut TestSocket) -> EventEnvelope {
    loop {
        match socket.recv().await {
            ServerMessage::Event(event) => return event,
            ServerMessage::Signal(_) | ServerMessage::Ack(_) => continue,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

async fn two_editors(app: &TestApp) -> (Visitor, Visitor, DashboardView) {
    let (ada, alan) = (app.visitor().await, app.visitor().await);
    let board = create_dashboard(&ada, "Ops room").await;
    join(&ada, &alan, &board.id, Role::Editor).await;
    (ada, alan, board)
}

#[tokio::test]
async fn an_op_on_the_socket_is_acknowledged_and_reaches_every_member_as_one_event() {
    let app = spawn_app().await;
    let (ada, alan, board) = two_editors(&app).await;
    let mut watcher = alan.connect().await;
    let (_, head) = watcher.subscribe(&format!("dashboard:{}", board.id), Some(board.head_seq)).await;
    let mut socket = ada.connect().await;

    let ack =
        send_op(&mut socket, &board.id, op("tab-a", 1, OpKind::Add { widget: note("w1") })).await.unwrap();
    assert_eq!(ack.version, Some(1));
    let seq = ack.seq.unwrap();
    assert!(seq > head);

    let event = next_event(&mut watcher).await;
    assert_eq!(event.seq, seq);
    match serde_json::from_value::<DashboardEvent>(event.payload).unwrap() {
        DashboardEvent::Applied { client_id, op_seq, version, changes } => {
            assert_eq!((client_id.as_str(), op_seq, version), ("tab-a", 1, 1));
            assert_eq!(changes.len(), 1);
        }
        other => panic!("expected applied, got {other:?}"),
    }
    let now = view(&alan, &board.id).await;
    assert_eq!((now.version, now.head_seq, now.widgets.len()), (1, seq, 1));
    assert_eq!(now.widgets[0].title.version, 1);
}

#[tokio::test]
async fn a_replayed_op_gets_the_first_answer_and_changes_nothing() {
    let app = spawn_app().await;
    let (ada, _alan, board) = two_editors(&app).await;
    let first = submit_one(&ada, &board.id, op("tab-a", 1, OpKind::Add { widget: note("w1") })).await;
    let again = submit_one(&ada, &board.id, op("tab-a", 1, OpKind::Add { widget: note("w1") })).await;
    let OpOutcome::Ack { version, seq, duplicate: false, .. } = first else { panic!("{first:?}") };
    assert_eq!(again, OpOutcome::Ack { op_seq: 1, version, seq, duplicate: true });
    let state = view(&ada, &board.id).await;
    assert_eq!((state.version, state.head_seq, state.widgets.len()), (1, seq, 1));

    // A refusal is kept too: the same op answers the same conflict, even
    // after the field changed again.
    submit_one(&ada, &board.id, op("tab-a", 2, retitle("w1", "One", 1))).await;
    let stale = submit_one(&ada, &board.id, op("tab-b", 1, retitle("w1", "Stale", 1))).await;
    submit_one(&ada, &board.id, op("tab-a", 3, retitle("w1", "Two", 2))).await;
    let replayed = submit_one(&ada, &board.id, op("tab-b", 1, retitle("w1", "Stale", 1))).await;
    assert_eq!(replayed, stale);
    // Over the socket the replay is the same answer.
    let mut socket = ada.connect().await;
    let ack =
        send_op(&mut socket, &board.id, op("tab-a", 1, OpKind::Add { widget: note("w1") })).await.unwrap();
    assert_eq!((ack.version, ack.seq, ack.duplicate), (Some(version), Some(seq), true));
}

#[tokio::test]
async fn the_same_field_edited_at_once_is_a_conflict_carrying_the_current_value() {
    let app = spawn_app().await;
    let (ada, alan, board) = two_editors(&app).await;
    submit_one(&ada, &board.id, op("tab-a", 1, OpKind::Add { widget: note("w1") })).await;
    // Both saw version 1; Ada's retitle lands first.
    let mut ada_socket = ada.connect().await;
    let mut alan_socket = alan.connect().await;
    send_op(&mut ada_socket, &board.id, op("tab-a", 2, retitle("w1", "Ada's", 1))).await.unwrap();
    let nack =
        send_op(&mut alan_socket, &board.id, op("tab-b", 1, retitle("w1", "Alan's", 1))).await.unwrap_err();
    assert_eq!(nack.code, ErrorCode::Conflict);
    assert!(!nack.code.retryable());
    assert_eq!(nack.conflicts.len(), 1);
    let conflict = &nack.conflicts[0];
    assert_eq!((conflict.field, conflict.version), (Field::Title, 2));
    assert_eq!(conflict.theirs, Some(FieldValue::Title("Ada's".into())));
    // A move of the same widget on the old base is another field: it applies.
    let moved = OpKind::Move { widget_id: "w1".into(), pos: Pos { x: 6, y: 1 }, base: 1 };
    send_op(&mut alan_socket, &board.id, op("tab-b", 2, moved)).await.unwrap();
    // Keeping his title means resending on the version the conflict named.
    send_op(&mut alan_socket, &board.id, op("tab-b", 3, retitle("w1", "Alan's", 2))).await.unwrap();
    let widget = view(&ada, &board.id).await.widgets.remove(0);
    assert_eq!((widget.title.value.as_str(), widget.pos.value), ("Alan's", Pos { x: 6, y: 1 }));
}

#[tokio::test]
async fn a_batch_with_one_stale_op_changes_nothing() {
    let app = spawn_app().await;
    let (ada, alan, board) = two_editors(&app).await;
    submit_one(&ada, &board.id, op("tab-a", 1, OpKind::Add { widget: note("w1") })).await;
    submit_one(&ada, &board.id, op("tab-a", 2, retitle("w1", "Ada's", 1))).await;
    let before = view(&alan, &board.id).await;
    let batch = OpKind::Batch { ops: vec![OpKind::Add { widget: note("w2") }, retitle("w1", "Stale", 1)] };
    let answer = submit_one(&alan, &board.id, op("tab-b", 1, batch)).await;
    assert!(matches!(answer, OpOutcome::Nack { code: ErrorCode::Conflict, .. }), "{answer:?}");
    assert_eq!(view(&alan, &board.id).await, before, "no widget added, no seq spent");
}

#[tokio::test]
async fn viewers_read_only_and_non_members_see_nothing() {
    let app = spawn_app().await;
    let (owner, editor, viewer, stranger) =
        (app.visitor().await, app.visitor().await, app.visitor().await, app.visitor().await);
    let board = create_dashboard(&owner, "Matrix").await;
    join(&owner, &editor, &board.id, Role::Editor).await;
    join(&owner, &viewer, &board.id, Role::Viewer).await;
    let add = |seq, id: &str| op("tab", seq, OpKind::Add { widget: note(id) });

    assert!(matches!(submit_one(&owner, &board.id, add(1, "o")).await, OpOutcome::Ack { .. }));
    assert!(matches!(submit_one(&editor, &board.id, add(1, "e")).await, OpOutcome::Ack { .. }));
    let refused = submit_one(&viewer, &board.id, add(1, "v")).await;
    assert!(matches!(refused, OpOutcome::Nack { code: ErrorCode::Forbidden, .. }), "{refused:?}");
    let mut viewer_socket = viewer.connect().await;
    assert_eq!(
        send_op(&mut viewer_socket, &board.id, add(2, "v")).await.unwrap_err().code,
        ErrorCode::Forbidden
    );
    assert_eq!(view(&viewer, &board.id).await.role, Role::Viewer);
    let (events, _) = viewer_socket.subscribe(&format!("dashboard:{}", board.id), Some(0)).await;
    assert!(!events.is_empty(), "viewers read the log");

    // Only the owner shares.
    for who in [&editor, &viewer] {
        let response = who
            .http
            .post(format!("{}/api/dashboards/{}/invites", who.base(), board.id))
            .json(&json!({ "role": "viewer" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
    }

    // A stranger: the dashboard does not exist, by every path.
    let get =
        stranger.http.get(format!("{}/api/dashboards/{}", stranger.base(), board.id)).send().await.unwrap();
    assert_eq!(get.status(), 404);
    assert_eq!(submit(&stranger, &board.id, &[add(1, "s")]).await.status(), 404);
    assert_eq!(stranger.poll(&format!("dashboard:{}", board.id), 0).await.status(), 403);
    let mut socket = stranger.connect().await;
    assert_eq!(send_op(&mut socket, &board.id, add(1, "s")).await.unwrap_err().code, ErrorCode::Forbidden);
    let id = socket
        .send_request(|id| ClientMessage::Subscribe {
            id,
            channel: format!("dashboard:{}", board.id),
            since: None,
            epoch: None,
        })
        .await;
    assert_eq!(socket.expect_nack(Some(&id)).await, ErrorCode::Forbidden);
    assert_eq!(view(&owner, &board.id).await.widgets.len(), 2, "the refusals changed nothing");
}

#[tokio::test]
async fn the_socket_and_http_answer_the_same_op_alike() {
    let app = spawn_app().await;
    let (ada, alan, board) = two_editors(&app).await;
    submit_one(&ada, &board.id, op("tab-a", 1, OpKind::Add { widget: note("w1") })).await;
    submit_one(&ada, &board.id, op("tab-a", 2, retitle("w1", "Current", 1))).await;
    let mut socket = alan.connect().await;
    let over_socket =
        send_op(&mut socket, &board.id, op("tab-s", 1, retitle("w1", "Mine", 1))).await.unwrap_err();
    let over_http = submit_one(&alan, &board.id, op("tab-h", 1, retitle("w1", "Mine", 1))).await;
    let OpOutcome::Nack { code, conflicts, .. } = over_http else { panic!("{over_http:?}") };
    assert_eq!((code, conflicts), (over_socket.code, over_socket.conflicts));

    let bad = op("tab-s", 2, retitle("w1", &"x".repeat(500), 2));
    let over_socket = send_op(&mut socket, &board.id, bad.clone()).await.unwrap_err();
    let over_http = submit_one(&alan, &board.id, Op { client_id: "tab-h".into(), ..bad }).await;
    assert!(matches!(over_http, OpOutcome::Nack { code: ErrorCode::TooLarge, .. }));
    assert_eq!(over_socket.code, ErrorCode::TooLarge);

    let moved = OpKind::Move { widget_id: "w1".into(), pos: Pos { x: 1, y: 1 }, base: 1 };
    let ack = send_op(&mut socket, &board.id, op("tab-s", 3, moved.clone())).await.unwrap();
    let moved_again =
        OpKind::Move { widget_id: "w1".into(), pos: Pos { x: 2, y: 1 }, base: ack.version.unwrap() };
    let over_http = submit_one(&alan, &board.id, op("tab-h", 3, moved_again)).await;
    assert!(matches!(over_http, OpOutcome::Ack { version, .. } if version == ack.version.unwrap() + 1));
}

#[tokio::test]
async fn bad_requests_are_refused_with_typed_errors() {
    let app = spawn_app().await;
    let (ada, _alan, board) = two_editors(&app).await;
    let bad_client = submit_one(&ada, &board.id, op("not ok", 1, OpKind::Add { widget: note("w1") })).await;
    assert!(matches!(bad_client, OpOutcome::Nack { code: ErrorCode::InvalidPayload, .. }));
    let unknown_type = ada
        .http
        .post(format!("{}/api/dashboards/{}/ops", ada.base(), board.id))
        .json(&json!({"ops": [{"client_id": "t", "op_seq": 1, "op": {"type": "paint"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_type.status(), 400);
    let too_many: Vec<Op> =
        (0..21).map(|i| op("t", i, OpKind::Add { widget: note(&format!("w{i}")) })).collect();
    assert_eq!(submit(&ada, &board.id, &too_many).await.status(), 400);
    let title =
        ada.http.post(format!("{}/api/dashboards", ada.base())).json(&json!({"title": "  "})).send().await;
    assert_eq!(title.unwrap().status(), 400);
    let not_an_id = ada.http.get(format!("{}/api/dashboards/..%2Fx", ada.base())).send().await.unwrap();
    assert_eq!(not_an_id.status(), 404);
    assert_eq!(view(&ada, &board.id).await.version, 0, "nothing applied");
}

#[tokio::test]
async fn the_http_sync_serves_the_changes_since_a_seq_or_a_fresh_snapshot() {
    let app = spawn_app().await;
    let (ada, alan, board) = two_editors(&app).await;
    let start = view(&alan, &board.id).await;
    submit_one(&ada, &board.id, op("tab-a", 1, OpKind::Add { widget: note("w1") })).await;
    submit_one(&ada, &board.id, op("tab-a", 2, retitle("w1", "Later", 1))).await;
    let path = format!("/api/dashboards/{}?since={}&epoch={}", board.id, start.head_seq, start.epoch);
    let changes: DashboardChanges = alan.get_json(&path).await;
    assert_eq!(changes.events.len(), 2);
    assert!(changes.snapshot.is_none());
    assert_eq!(changes.head_seq, changes.events[1].seq);

    let other_epoch = format!("/api/dashboards/{}?since={}&epoch=0000", board.id, start.head_seq);
    let reset: DashboardChanges = alan.get_json(&other_epoch).await;
    let snapshot = reset.snapshot.expect("a snapshot instead of seqs from another epoch");
    assert_eq!(snapshot.widgets[0].title.value, "Later");
    assert!(reset.events.is_empty());
}

#[tokio::test]
async fn an_open_dashboard_receives_live_values() {
    let app = spawn_app().await;
    let (ada, _alan, board) = two_editors(&app).await;
    let mut socket = ada.connect().await;
    socket.subscribe(&format!("dashboard:{}", board.id), None).await;
    loop {
        if let ServerMessage::Signal(signal) = socket.recv().await
            && let protocol::chat::SignalBody::Metrics { values } = signal.body
        {
            let connections = values.iter().find(|v| v.source == MetricSource::Connections).unwrap();
            assert!(connections.value >= 1.0);
            assert_eq!(values.len(), MetricSource::ALL.len());
            break;
        }
    }
}

#[tokio::test]
async fn a_burst_past_the_op_rate_is_refused_as_retryable_and_changes_nothing() {
    let app = spawn_app_with(|config| config.chat.dashboard_ops_per_sec = 2).await;
    let (ada, _alan, board) = two_editors(&app).await;
    let ops: Vec<Op> =
        (1..=8).map(|i| op("tab-a", i, OpKind::Add { widget: note(&format!("w{i}")) })).collect();
    let response = submit(&ada, &board.id, &ops).await;
    assert_eq!(response.status(), 200);
    let outcome: OpsOutcome = response.json().await.unwrap();
    let acked = outcome.results.iter().filter(|r| matches!(r, OpOutcome::Ack { .. })).count();
    let limited: Vec<_> = outcome
        .results
        .iter()
        .filter_map(|r| match r {
            OpOutcome::Nack { code, .. } => Some(*code),
            OpOutcome::Ack { .. } => None,
        })
        .collect();
    assert_eq!(acked, 4, "a burst of twice the rate");
    // The first refused is rate limited; the rest are held back unapplied, in order.
    assert_eq!(limited[0], ErrorCode::RateLimited);
    assert!(limited[1..].iter().all(|code| *code == ErrorCode::Unavailable), "{limited:?}");
    assert!(limited.iter().all(|code| code.retryable()));
    assert_eq!(view(&ada, &board.id).await.widgets.len(), acked);
    // A refused op was not answered for good: sent again later, it applies.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let again = submit_one(&ada, &board.id, ops[7].clone()).await;
    assert!(matches!(again, OpOutcome::Ack { .. }), "{again:?}");
}
