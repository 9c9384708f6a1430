use super::*;
use crate::dashboard::{FieldChange, LayoutItem, MetricSource, Pos, Size, WidgetKind};

fn new_widget(id: &str, x: u32) -> NewWidget {
    NewWidget {
        id: id.into(),
        kind: WidgetKind::Note,
        title: format!("Widget {id}"),
        body: String::new(),
        source: MetricSource::Demo,
        pos: Pos { x, y: 0 },
        size: Size { w: 3, h: 2 },
    }
}

/// Applies `op` and keeps its changes, as the server does.
fn commit(board: &mut Board, op: &OpKind) -> Result<u64, Refusal> {
    let changes = apply(board, op)?;
    let version = board.version + 1;
    board.apply_changes(version, &changes);
    Ok(version)
}

fn board_with(ids: &[&str]) -> Board {
    let mut board = Board::default();
    for (i, id) in ids.iter().enumerate() {
        commit(&mut board, &OpKind::Add { widget: new_widget(id, (i as u32 * 3) % GRID_COLUMNS) }).unwrap();
    }
    board
}

fn title(widget_id: &str, title: &str, base: u64) -> OpKind {
    OpKind::Update {
        widget_id: widget_id.into(),
        changes: vec![FieldChange { value: FieldValue::Title(title.into()), base }],
    }
}

#[test]
fn each_applied_op_is_one_new_version_on_the_fields_it_sets() {
    let mut board = board_with(&["a", "b"]);
    assert_eq!(board.version, 2);
    let v = commit(&mut board, &title("a", "Sales", 1)).unwrap();
    assert_eq!(v, 3);
    let a = &board.widgets["a"];
    assert_eq!((a.title.value.as_str(), a.title.version), ("Sales", 3));
    assert_eq!(a.pos.version, 1, "untouched fields keep their version");
    assert_eq!(board.widgets["b"].version(), 2);
}

#[test]
fn a_stale_base_is_a_conflict_with_the_current_value() {
    let mut board = board_with(&["a"]);
    commit(&mut board, &title("a", "Theirs", 1)).unwrap();
    let refused = apply(&board, &title("a", "Mine", 1)).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Conflict);
    assert_eq!(
        refused.conflicts(),
        [FieldConflict {
            widget_id: "a".into(),
            field: Field::Title,
            theirs: Some(FieldValue::Title("Theirs".into())),
            version: 2
        }]
    );
    // On the new base the same change applies: "keep mine".
    commit(&mut board, &title("a", "Mine", 2)).unwrap();
    assert_eq!(board.widgets["a"].title.value, "Mine");
}

#[test]
fn different_fields_of_one_widget_never_conflict() {
    let mut board = board_with(&["a"]);
    // Both based on version 1: one moves, the other retitles.
    commit(&mut board, &OpKind::Move { widget_id: "a".into(), pos: Pos { x: 5, y: 1 }, base: 1 }).unwrap();
    commit(&mut board, &title("a", "Renamed", 1)).unwrap();
    commit(&mut board, &OpKind::Resize { widget_id: "a".into(), size: Size { w: 6, h: 3 }, base: 1 })
        .unwrap();
    let a = &board.widgets["a"];
    assert_eq!(
        (a.pos.value, a.title.value.as_str(), a.size.value),
        (Pos { x: 5, y: 1 }, "Renamed", Size { w: 6, h: 3 })
    );
}

#[test]
fn a_batch_applies_whole_or_not_at_all() {
    let mut board = board_with(&["a", "b"]);
    commit(&mut board, &title("b", "Theirs", 2)).unwrap();
    let before = board.clone();
    let batch = OpKind::Batch {
        ops: vec![OpKind::Add { widget: new_widget("c", 6) }, title("a", "Fine", 1), title("b", "Stale", 2)],
    };
    let refused = apply(&board, &batch).unwrap_err();
    assert_eq!(refused.conflicts().len(), 1);
    assert_eq!(board, before, "nothing of a refused batch applies");

    let batch =
        OpKind::Batch { ops: vec![OpKind::Add { widget: new_widget("c", 6) }, title("a", "Fine", 1)] };
    let v = commit(&mut board, &batch).unwrap();
    assert_eq!((board.widgets["c"].version(), board.widgets["a"].title.version), (v, v));
}

#[test]
fn deleting_conflicts_with_changes_the_deleter_did_not_see() {
    let mut board = board_with(&["a"]);
    commit(&mut board, &title("a", "Edited", 1)).unwrap();
    let refused = apply(&board, &OpKind::Delete { widget_id: "a".into(), base: 1 }).unwrap_err();
    assert_eq!(refused.conflicts()[0].field, Field::Title);
    let v = commit(&mut board, &OpKind::Delete { widget_id: "a".into(), base: 2 }).unwrap();
    assert!(board.widgets.is_empty());
    assert_eq!(board.deleted["a"], v);
    // An edit of the deleted widget is a conflict saying so, not an unknown widget.
    let late = apply(&board, &title("a", "Late", 2)).unwrap_err();
    assert_eq!(late.conflicts()[0].theirs, None);
    // A second delete has nothing left to do and is not an error.
    assert_eq!(apply(&board, &OpKind::Delete { widget_id: "a".into(), base: 2 }).unwrap(), vec![]);
}

#[test]
fn bad_values_and_shapes_are_refused_as_invalid_or_too_large() {
    let board = board_with(&["a"]);
    let long = "x".repeat(MAX_TITLE_CHARS + 1);
    assert_eq!(apply(&board, &title("a", &long, 1)).unwrap_err().code(), ErrorCode::TooLarge);
    assert_eq!(apply(&board, &title("a", "bad\u{7}", 1)).unwrap_err().code(), ErrorCode::InvalidPayload);
    let off_grid = OpKind::Move { widget_id: "a".into(), pos: Pos { x: GRID_COLUMNS, y: 0 }, base: 1 };
    assert_eq!(apply(&board, &off_grid).unwrap_err().code(), ErrorCode::InvalidPayload);
    let zero = OpKind::Resize { widget_id: "a".into(), size: Size { w: 0, h: 1 }, base: 1 };
    assert_eq!(apply(&board, &zero).unwrap_err().code(), ErrorCode::InvalidPayload);
    assert_eq!(apply(&board, &title("nope", "x", 0)).unwrap_err().code(), ErrorCode::InvalidPayload);
    let taken = OpKind::Add { widget: new_widget("a", 0) };
    assert_eq!(apply(&board, &taken).unwrap_err().code(), ErrorCode::InvalidPayload);
    let nested = OpKind::Batch { ops: vec![OpKind::Batch { ops: vec![title("a", "x", 1)] }] };
    assert_eq!(apply(&board, &nested).unwrap_err().code(), ErrorCode::InvalidPayload);
    let add_then_set =
        OpKind::Batch { ops: vec![OpKind::Add { widget: new_widget("n", 0) }, title("n", "x", 0)] };
    assert_eq!(apply(&board, &add_then_set).unwrap_err().code(), ErrorCode::InvalidPayload);
    let twice = OpKind::Batch { ops: vec![title("a", "x", 1), title("a", "y", 1)] };
    assert_eq!(apply(&board, &twice).unwrap_err().code(), ErrorCode::InvalidPayload);
    let big = OpKind::Batch { ops: (0..=MAX_BATCH).map(|_| title("a", "x", 1)).collect() };
    assert_eq!(apply(&board, &big).unwrap_err().code(), ErrorCode::TooLarge);
}

#[test]
fn a_dashboard_holds_at_most_max_widgets() {
    let ids: Vec<String> = (0..MAX_WIDGETS).map(|i| format!("w{i}")).collect();
    let board = board_with(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    let one_more = OpKind::Add { widget: new_widget("extra", 0) };
    assert_eq!(apply(&board, &one_more).unwrap_err().code(), ErrorCode::TooLarge);
}

#[test]
fn restoring_a_layout_moves_and_resizes_every_listed_widget() {
    let mut board = board_with(&["a", "b"]);
    let items = vec![
        LayoutItem {
            widget_id: "a".into(),
            pos: Pos { x: 0, y: 4 },
            size: Size { w: 12, h: 1 },
            pos_base: 1,
            size_base: 1,
        },
        LayoutItem {
            widget_id: "b".into(),
            pos: Pos { x: 0, y: 0 },
            size: Size { w: 6, h: 4 },
            pos_base: 2,
            size_base: 2,
        },
    ];
    commit(&mut board, &OpKind::RestoreLayout { items }).unwrap();
    let order: Vec<_> = board.in_order().iter().map(|w| w.id.as_str()).collect();
    assert_eq!(order, ["b", "a"]);
}

#[test]
fn replayed_or_old_changes_never_undo_newer_ones() {
    let mut server = board_with(&["a"]);
    let mut client = server.clone();
    let first = apply(&server, &title("a", "One", 1)).unwrap();
    server.apply_changes(2, &first);
    let second = apply(&server, &title("a", "Two", 2)).unwrap();
    server.apply_changes(3, &second);
    client.apply_changes(3, &second);
    client.apply_changes(2, &first); // late
    client.apply_changes(3, &second); // repeated
    assert_eq!(client, server);
    // A delete followed by a replay of the add does not bring it back.
    let delete = apply(&server, &OpKind::Delete { widget_id: "a".into(), base: 3 }).unwrap();
    server.apply_changes(4, &delete);
    let added = Change::Added { widget: new_widget("a", 0).at(1) };
    server.apply_changes(1, &[added]);
    assert!(server.widgets.is_empty());
}
