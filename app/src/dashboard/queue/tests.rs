use std::collections::HashMap;

use protocol::dashboard::board::{self, Board};
use protocol::dashboard::{
    FieldChange, FieldValue, MetricSource, NewWidget, OpOutcome, Pos, Size, WidgetKind,
};

use super::*;

mod convergence;

fn new_widget(id: &str) -> NewWidget {
    NewWidget {
        id: id.into(),
        kind: WidgetKind::Note,
        title: id.into(),
        body: String::new(),
        source: MetricSource::Demo,
        pos: Pos { x: 0, y: 0 },
        size: Size { w: 3, h: 2 },
    }
}

/// The server as the tests see it: the board, the log of applied events and
/// the stored answers (a resend is answered as before).
#[derive(Default)]
struct Server {
    board: Board,
    log: Vec<DashboardEvent>,
    answers: HashMap<(String, u64), OpOutcome>,
}

impl Server {
    fn with_widgets(ids: &[&str]) -> Self {
        let mut server = Self::default();
        for (i, id) in ids.iter().enumerate() {
            server.submit(&Op {
                client_id: "setup".into(),
                op_seq: i as u64,
                op: OpKind::Add { widget: new_widget(id) },
            });
        }
        server
    }

    fn submit(&mut self, op: &Op) -> OpOutcome {
        let key = (op.client_id.clone(), op.op_seq);
        if let Some(answer) = self.answers.get(&key) {
            return answer.clone();
        }
        let answer = match board::apply(&self.board, &op.op) {
            Ok(changes) => {
                let version = self.board.version + 1;
                self.board.apply_changes(version, &changes);
                self.log.push(DashboardEvent::Applied {
                    client_id: op.client_id.clone(),
                    op_seq: op.op_seq,
                    version,
                    changes,
                });
                OpOutcome::Ack { op_seq: op.op_seq, version, seq: self.log.len() as u64, duplicate: false }
            }
            Err(refusal) => OpOutcome::Nack {
                op_seq: op.op_seq,
                code: refusal.code(),
                message: refusal.to_string(),
                conflicts: refusal.conflicts().to_vec(),
            },
        };
        self.answers.insert(key, answer.clone());
        answer
    }
}

/// The (widget, field) pairs of one conflicted op.
type Fields = Vec<(String, Field)>;

/// One browser: its model, how far it read the log, its next op seq.
struct Browser {
    id: String,
    model: Model,
    read: usize,
    next_seq: u64,
}

impl Browser {
    fn new(id: &str, server: &Server) -> Self {
        Self { id: id.into(), model: Model::new(server.board.clone()), read: server.log.len(), next_seq: 1 }
    }

    fn edit(&mut self, op: OpKind) {
        let op = Op { client_id: self.id.clone(), op_seq: self.next_seq, op };
        self.next_seq += 1;
        self.model.enqueue(op).unwrap();
    }

    /// Sends the next op; `answer_lost` drops the answer on the way back.
    fn send(&mut self, server: &mut Server, answer_lost: bool) {
        let Some(op) = self.model.next_to_send(0.0) else { return };
        let answer = server.submit(&op);
        if answer_lost {
            self.model.disconnected();
            return;
        }
        self.answer(&op, answer);
    }

    fn answer(&mut self, op: &Op, answer: OpOutcome) {
        match answer {
            OpOutcome::Ack { version, .. } => {
                self.model.acked(&op.client_id, op.op_seq, version);
            }
            OpOutcome::Nack { code, message, conflicts, .. } => {
                self.model.nacked(&op.client_id, op.op_seq, code, message, conflicts, 0.0);
            }
        }
    }

    fn catch_up(&mut self, server: &Server) {
        while self.read < server.log.len() {
            self.read_one(server);
        }
    }

    fn read_one(&mut self, server: &Server) {
        if let Some(event) = server.log.get(self.read) {
            self.model.on_event(event);
            self.read += 1;
        }
    }

    /// Decides every conflict: whole ops, or field by field (alternating
    /// mine and theirs, starting with `keep_mine`).
    fn resolve_all(&mut self, keep_mine: bool, by_field: bool) {
        let conflicted: Vec<(String, u64, Fields)> = self
            .model
            .conflicted()
            .map(|(op, c)| {
                (op.client_id.clone(), op.op_seq, c.iter().map(|c| (c.widget_id.clone(), c.field)).collect())
            })
            .collect();
        let id = self.id.clone();
        for (client, seq, fields) in conflicted {
            if by_field {
                for (i, (widget, field)) in fields.into_iter().enumerate() {
                    let next = self.next_seq;
                    if self.model.resolve(&client, seq, &widget, field, keep_mine ^ (i % 2 == 1), &id, next) {
                        self.next_seq += 1;
                    }
                }
            } else if keep_mine {
                let next = self.next_seq;
                self.next_seq += 1;
                self.model.keep_mine(&client, seq, &id, next);
            } else {
                self.model.take_theirs(&client, seq);
            }
        }
    }

    /// An edit of a widget this browser can see, picked by `pick`.
    fn make_edit(&mut self, kind: u8, pick: usize, value: u32) {
        let view = self.model.view();
        let ids: Vec<String> = view.widgets.keys().cloned().collect();
        if kind == 0 || ids.is_empty() {
            let id = format!("{}-{}", self.id, self.next_seq);
            self.edit(OpKind::Add { widget: new_widget(&id) });
            return;
        }
        let id = ids[pick % ids.len()].clone();
        let op = match kind {
            1 => OpKind::Update {
                widget_id: id.clone(),
                changes: vec![FieldChange {
                    value: FieldValue::Title(format!("{}:{value}", self.id)),
                    base: self.model.base_of(&id, Field::Title),
                }],
            },
            2 => OpKind::Move {
                widget_id: id.clone(),
                pos: Pos { x: value % 12, y: value % 7 },
                base: self.model.base_of(&id, Field::Pos),
            },
            3 => OpKind::Resize {
                widget_id: id.clone(),
                size: Size { w: 1 + value % 12, h: 1 + value % 8 },
                base: self.model.base_of(&id, Field::Size),
            },
            _ => OpKind::Delete { widget_id: id.clone(), base: self.model.widget_base(&id) },
        };
        self.edit(op);
    }
}

fn title_op(id: &str, seq: u64, widget: &str, title: &str, base: u64) -> Op {
    Op {
        client_id: id.into(),
        op_seq: seq,
        op: OpKind::Update {
            widget_id: widget.into(),
            changes: vec![FieldChange { value: FieldValue::Title(title.into()), base }],
        },
    }
}

#[test]
fn my_unconfirmed_change_stays_on_screen_when_the_server_sends_another() {
    let mut server = Server::with_widgets(&["w1"]);
    let mut ada = Browser::new("ada", &server);
    ada.model.enqueue(title_op("ada", 1, "w1", "Mine", 1)).unwrap();
    server.submit(&title_op("alan", 1, "w1", "Theirs", 1));
    ada.read_one(&server);
    assert_eq!(ada.model.confirmed.widgets["w1"].title.value, "Theirs");
    assert_eq!(ada.model.view().widgets["w1"].title.value, "Mine", "no flicker to theirs");
    ada.send(&mut server, false);
    let (_, conflicts) = ada.model.conflicted().next().expect("a conflict to resolve");
    assert_eq!(conflicts[0].theirs, Some(FieldValue::Title("Theirs".into())));
    assert_eq!(ada.model.view().widgets["w1"].title.value, "Theirs", "shown as it is until resolved");
    ada.model.keep_mine("ada", 1, "ada", 2);
    ada.send(&mut server, false);
    assert_eq!(ada.model.pending(), 0);
    assert_eq!(ada.model.view().widgets["w1"].title.value, "Mine", "acked, shown before its event");
    ada.catch_up(&server);
    assert!(ada.model.queue.is_empty(), "its event is in: the op is done");
    assert_eq!(server.board.widgets["w1"].title.value, "Mine");
}

#[test]
fn a_second_edit_of_a_field_builds_on_the_first_once_confirmed() {
    let mut server = Server::with_widgets(&["w1"]);
    let mut ada = Browser::new("ada", &server);
    ada.model.enqueue(title_op("ada", 1, "w1", "One", 1)).unwrap();
    ada.model.enqueue(title_op("ada", 2, "w1", "Two", 1)).unwrap();
    ada.send(&mut server, false);
    ada.send(&mut server, false);
    assert_eq!(ada.model.conflicted().count(), 0, "no conflict with my own first edit");
    ada.catch_up(&server);
    assert!(ada.model.queue.is_empty());
    assert_eq!(server.board.widgets["w1"].title.value, "Two");
}

#[test]
fn ops_go_one_at_a_time_in_order_and_a_lost_answer_resends_the_same_op() {
    let mut model = Model::new(Server::with_widgets(&["w1"]).board);
    model.enqueue(title_op("ada", 1, "w1", "One", 1)).unwrap();
    model.enqueue(title_op("ada", 2, "w1", "Two", 1)).unwrap();
    assert_eq!(model.next_to_send(0.0).unwrap().op_seq, 1);
    assert_eq!(model.next_to_send(1.0), None, "wait for the answer");
    assert_eq!(model.next_to_send(OP_TIMEOUT_MS as f64 + 1.0).unwrap().op_seq, 1, "timed out: again");
    model.disconnected();
    assert_eq!(model.next_to_send(0.0).unwrap().op_seq, 1);
}

#[test]
fn permanent_refusals_drop_the_op_and_retryable_ones_wait() {
    let mut model = Model::new(Server::with_widgets(&["w1"]).board);
    model.enqueue(title_op("ada", 1, "w1", "x", 1)).unwrap();
    model.enqueue(title_op("ada", 2, "w1", "y", 1)).unwrap();
    model.next_to_send(0.0);
    let answer = model.nacked("ada", 1, ErrorCode::RateLimited, "slow".into(), vec![], 0.0);
    assert_eq!(answer, Answered::WillRetry);
    assert_eq!(model.next_to_send(10.0), None, "waits, and keeps the order");
    assert_eq!(model.next_to_send(RETRY_AFTER_MS as f64).unwrap().op_seq, 1);
    let answer = model.nacked("ada", 1, ErrorCode::Forbidden, "viewer".into(), vec![], 0.0);
    assert_eq!(answer, Answered::Dropped { message: "viewer".into() });
    assert_eq!(model.next_to_send(0.0).unwrap().op_seq, 2, "the queue goes on");
}

#[test]
fn the_queue_is_bounded() {
    let mut model = Model::default();
    for seq in 0..MAX_PENDING_OPS as u64 {
        model.enqueue(title_op("ada", seq, "w", "x", 0)).unwrap();
    }
    assert_eq!(model.enqueue(title_op("ada", 999, "w", "x", 0)), Err(QueueFull::Full));
}

#[test]
fn the_queue_survives_a_round_trip_through_json() {
    let mut model = Model::default();
    model.enqueue(title_op("ada", 1, "w", "x", 0)).unwrap();
    model.next_to_send(5.0);
    let text = serde_json::to_string(&model.queue).unwrap();
    let back: Vec<QueuedOp> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, model.queue);
}

#[test]
fn each_conflicted_field_is_decided_on_its_own() {
    let mut server = Server::with_widgets(&["w1"]);
    let mut ada = Browser::new("ada", &server);
    let both = OpKind::Update {
        widget_id: "w1".into(),
        changes: vec![
            FieldChange { value: FieldValue::Title("My title".into()), base: 1 },
            FieldChange { value: FieldValue::Body("My text".into()), base: 1 },
        ],
    };
    ada.edit(both);
    let theirs = OpKind::Update {
        widget_id: "w1".into(),
        changes: vec![
            FieldChange { value: FieldValue::Title("Their title".into()), base: 1 },
            FieldChange { value: FieldValue::Body("Their text".into()), base: 1 },
        ],
    };
    server.submit(&Op { client_id: "alan".into(), op_seq: 1, op: theirs });
    ada.send(&mut server, false);
    assert_eq!(ada.model.conflicted().next().unwrap().1.len(), 2);
    // Keep my title, take their text: nothing goes until both are decided.
    assert!(!ada.model.resolve("ada", 1, "w1", Field::Title, true, "ada", 2));
    assert_eq!(ada.model.pending(), 0);
    assert!(ada.model.resolve("ada", 1, "w1", Field::Body, false, "ada", 2));
    ada.next_seq = 3;
    ada.send(&mut server, false);
    ada.catch_up(&server);
    assert!(ada.model.queue.is_empty());
    let w1 = &server.board.widgets["w1"];
    assert_eq!((w1.title.value.as_str(), w1.body.value.as_str()), ("My title", "Their text"));
}

#[test]
fn a_queued_delete_still_stops_at_someone_elses_edit_after_my_own() {
    let mut server = Server::with_widgets(&["w1"]);
    let mut ada = Browser::new("ada", &server);
    ada.edit(OpKind::Move { widget_id: "w1".into(), pos: Pos { x: 3, y: 0 }, base: 1 });
    ada.edit(OpKind::Delete { widget_id: "w1".into(), base: 1 });
    // Alan edits the text before Ada's move lands; Ada has read his event.
    server.submit(&title_op("alan", 1, "w1", "Alan's", 1));
    ada.catch_up(&server);
    ada.send(&mut server, false); // the move applies
    ada.send(&mut server, false); // the delete must not take Alan's edit unseen
    assert_eq!(ada.model.conflicted().count(), 1);
    assert!(server.board.widgets.contains_key("w1"));
}

#[test]
fn a_batch_over_http_stops_before_an_op_on_a_widget_it_already_touches() {
    let mut model = Model::new(Server::with_widgets(&["w1", "w2"]).board);
    model.enqueue(title_op("ada", 1, "w1", "One", 1)).unwrap();
    model.enqueue(title_op("ada", 2, "w2", "Two", 2)).unwrap();
    model.enqueue(title_op("ada", 3, "w1", "Again", 1)).unwrap();
    let batch: Vec<u64> = model.next_batch(0.0, 20).iter().map(|op| op.op_seq).collect();
    assert_eq!(batch, [1, 2], "the second edit of w1 waits for the first one's version");
}

#[test]
fn two_tabs_writing_at_once_lose_no_op_and_revive_no_finished_one() {
    let queued = |client: &str, seq: u64| QueuedOp {
        op: title_op(client, seq, "w1", "x", 1),
        state: OpState::Queued,
        rev: 1,
    };
    // Tab A finished a1 and wrote [a2]; tab B, not yet knowing, holds [a1, a2, b1].
    let stored = vec![queued("a", 2)];
    let local = vec![queued("a", 1), queued("a", 2), queued("b", 1)];
    let finished = [("a".to_owned(), 1)].into_iter().collect();
    let merged: Vec<OpId> =
        merge(&stored, &local, &finished).iter().map(|q| (q.op.client_id.clone(), q.op.op_seq)).collect();
    assert_eq!(merged, [("a".to_owned(), 2), ("b".to_owned(), 1)]);
    // The copy changed last wins: here this tab's (the sender learned a conflict).
    let conflicted = QueuedOp { state: OpState::Conflict { conflicts: vec![] }, rev: 2, ..queued("a", 2) };
    let merged = merge(&[queued("a", 2)], std::slice::from_ref(&conflicted), &Default::default());
    assert_eq!(merged, std::slice::from_ref(&conflicted));
    // ...and there the stored one (another tab changed it after this tab's copy).
    let merged = merge(std::slice::from_ref(&conflicted), &[queued("a", 2)], &Default::default());
    assert_eq!(merged, [conflicted]);
}
