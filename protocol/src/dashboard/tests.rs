use serde_json::json;

use super::*;
use crate::ErrorCode;

#[test]
fn an_op_matches_the_documented_json() {
    let op = Op {
        client_id: "tab-1".into(),
        op_seq: 3,
        op: OpKind::Update {
            widget_id: "w1".into(),
            changes: vec![FieldChange { value: FieldValue::Title("Sales".into()), base: 4 }],
        },
    };
    let golden = json!({
        "client_id": "tab-1", "op_seq": 3,
        "op": {"type": "update", "widget_id": "w1", "changes": [{"field": "title", "value": "Sales", "base": 4}]}
    });
    assert_eq!(serde_json::to_value(&op).unwrap(), golden);
    assert_eq!(serde_json::from_value::<Op>(golden).unwrap(), op);

    let moved = json!({"type": "move", "widget_id": "w1", "pos": {"x": 2, "y": 0}, "base": 7});
    assert_eq!(
        serde_json::from_value::<OpKind>(moved).unwrap(),
        OpKind::Move { widget_id: "w1".into(), pos: Pos { x: 2, y: 0 }, base: 7 }
    );
}

#[test]
fn events_and_answers_match_the_documented_json() {
    let event = DashboardEvent::Applied {
        client_id: "tab-1".into(),
        op_seq: 3,
        version: 9,
        changes: vec![
            Change::Set { widget_id: "w1".into(), value: FieldValue::Size(Size { w: 4, h: 2 }), version: 9 },
            Change::Deleted { widget_id: "w2".into(), version: 9 },
        ],
    };
    let golden = json!({
        "kind": "applied", "client_id": "tab-1", "op_seq": 3, "version": 9,
        "changes": [
            {"change": "set", "widget_id": "w1", "field": "size", "value": {"w": 4, "h": 2}, "version": 9},
            {"change": "deleted", "widget_id": "w2", "version": 9}
        ]
    });
    assert_eq!(serde_json::to_value(&event).unwrap(), golden);
    assert_eq!(serde_json::from_value::<DashboardEvent>(golden).unwrap(), event);

    let nack = OpOutcome::Nack {
        op_seq: 3,
        code: ErrorCode::Conflict,
        message: "changed".into(),
        conflicts: vec![FieldConflict {
            widget_id: "w1".into(),
            field: Field::Title,
            theirs: Some(FieldValue::Title("Costs".into())),
            version: 8,
        }],
    };
    let golden = json!({
        "result": "nack", "op_seq": 3, "code": "conflict", "message": "changed",
        "conflicts": [{"widget_id": "w1", "field": "title", "theirs": {"field": "title", "value": "Costs"}, "version": 8}]
    });
    assert_eq!(serde_json::to_value(&nack).unwrap(), golden);
    assert_eq!(serde_json::from_value::<OpOutcome>(golden).unwrap(), nack);
}

#[test]
fn unknown_op_types_and_fields_are_refused() {
    assert!(serde_json::from_value::<OpKind>(json!({"type": "paint", "widget_id": "w"})).is_err());
    let extra = json!({"type": "move", "widget_id": "w", "pos": {"x": 1, "y": 1}, "base": 1, "force": true});
    assert!(serde_json::from_value::<OpKind>(extra).is_err());
    let bad_field = json!({"type": "update", "widget_id": "w", "changes": [{"field": "color", "value": "red", "base": 1}]});
    assert!(serde_json::from_value::<OpKind>(bad_field).is_err());
}

#[test]
fn ids_roles_and_sources_parse() {
    assert!(valid_id("w-1_a", MAX_WIDGET_ID_BYTES));
    assert!(!valid_id("w 1", MAX_WIDGET_ID_BYTES));
    assert!(!valid_id("", MAX_WIDGET_ID_BYTES));
    for role in [Role::Owner, Role::Editor, Role::Viewer] {
        assert_eq!(Role::parse(role.as_str()), Some(role));
    }
    assert!(!Role::Viewer.may_write() && Role::Editor.may_write());
    for source in MetricSource::ALL {
        assert_eq!(MetricSource::parse(source.as_str()), Some(source));
    }
}

#[test]
fn an_op_names_its_widgets_batches_included() {
    let batch = OpKind::Batch {
        ops: vec![
            OpKind::Move { widget_id: "a".into(), pos: Pos { x: 0, y: 0 }, base: 1 },
            OpKind::Delete { widget_id: "b".into(), base: 2 },
            OpKind::Move { widget_id: "a".into(), pos: Pos { x: 1, y: 0 }, base: 1 },
        ],
    };
    assert_eq!(batch.widget_ids().into_iter().collect::<Vec<_>>(), ["a", "b"]);
}
