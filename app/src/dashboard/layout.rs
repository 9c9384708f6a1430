//! Keeping widgets from overlapping: a move or resize pushes the widgets it
//! would cover down, below it (and those push theirs, in turn), the way grid
//! dashboards usually behave. The result is one batch op, so the change and
//! the pushes apply together or not at all. Pure; tested on the host.

use std::collections::BTreeMap;

use protocol::dashboard::board::Board;
use protocol::dashboard::{Field, MAX_ROW, OpKind, Pos, Size};

/// The rectangles a widget covers, in cells.
fn overlaps(a: (Pos, Size), b: (Pos, Size)) -> bool {
    let ((ap, asz), (bp, bsz)) = (a, b);
    ap.x < bp.x + bsz.w && bp.x < ap.x + asz.w && ap.y < bp.y + bsz.h && bp.y < ap.y + asz.h
}

/// The op for putting `widget_id` at `pos` with `size`: a plain move or
/// resize when nothing is in the way, else a batch with the pushes.
/// `base_of` gives each field's confirmed version.
pub fn place(
    board: &Board,
    widget_id: &str,
    pos: Pos,
    size: Size,
    base_of: impl Fn(&str, Field) -> u64,
) -> Option<OpKind> {
    let current = board.widgets.get(widget_id)?;
    let mut rects: BTreeMap<String, (Pos, Size)> =
        board.widgets.values().map(|w| (w.id.clone(), (w.pos.value, w.size.value))).collect();
    rects.insert(widget_id.to_owned(), (pos, size));
    // Push down whatever overlaps a placed widget, top to bottom; each pass
    // settles at least one widget, so it ends.
    let mut settled = vec![widget_id.to_owned()];
    let mut moved: BTreeMap<String, Pos> = BTreeMap::new();
    while let Some(placed) = settled.pop() {
        let rect = rects[&placed];
        let covered: Vec<String> = rects
            .iter()
            .filter(|(id, other)| **id != placed && **id != widget_id && overlaps(rect, **other))
            .map(|(id, _)| id.clone())
            .collect();
        for id in covered {
            let (p, s) = rects[&id];
            let y = (rect.0.y + rect.1.h).min(MAX_ROW - 1);
            if y == p.y {
                continue; // at the last row already: left overlapping rather than lost
            }
            let pushed = Pos { x: p.x, y };
            rects.insert(id.clone(), (pushed, s));
            moved.insert(id.clone(), pushed);
            settled.push(id);
        }
    }
    let mut ops = Vec::new();
    if pos != current.pos.value {
        ops.push(OpKind::Move { widget_id: widget_id.to_owned(), pos, base: base_of(widget_id, Field::Pos) });
    }
    if size != current.size.value {
        ops.push(OpKind::Resize {
            widget_id: widget_id.to_owned(),
            size,
            base: base_of(widget_id, Field::Size),
        });
    }
    if ops.is_empty() {
        return None;
    }
    for (id, pos) in moved {
        ops.push(OpKind::Move { base: base_of(&id, Field::Pos), widget_id: id, pos });
    }
    Some(if ops.len() == 1 { ops.remove(0) } else { OpKind::Batch { ops } })
}

#[cfg(test)]
mod tests {
    use protocol::dashboard::{MetricSource, NewWidget, WidgetKind};

    use super::*;

    fn board(widgets: &[(&str, u32, u32, u32, u32)]) -> Board {
        Board::from_snapshot(
            1,
            widgets.iter().map(|&(id, x, y, w, h)| {
                NewWidget {
                    id: id.into(),
                    kind: WidgetKind::Note,
                    title: id.into(),
                    body: String::new(),
                    source: MetricSource::Demo,
                    pos: Pos { x, y },
                    size: Size { w, h },
                }
                .at(1)
            }),
        )
    }

    fn moves(op: &OpKind) -> Vec<(String, Pos)> {
        match op {
            OpKind::Batch { ops } => ops.iter().flat_map(moves).collect(),
            OpKind::Move { widget_id, pos, .. } => vec![(widget_id.clone(), *pos)],
            _ => vec![],
        }
    }

    #[test]
    fn a_move_into_free_space_is_a_plain_move() {
        let b = board(&[("a", 0, 0, 4, 2), ("b", 6, 0, 4, 2)]);
        let op = place(&b, "a", Pos { x: 0, y: 3 }, Size { w: 4, h: 2 }, |_, _| 1).unwrap();
        assert!(matches!(op, OpKind::Move { .. }));
        assert_eq!(place(&b, "a", Pos { x: 0, y: 0 }, Size { w: 4, h: 2 }, |_, _| 1), None, "no change");
    }

    #[test]
    fn what_a_widget_would_cover_is_pushed_below_it_in_one_batch() {
        let b = board(&[("a", 0, 0, 4, 2), ("b", 0, 2, 4, 2), ("c", 0, 4, 4, 1)]);
        // a grows to 3 rows: b must go to row 3, and then c to row 5.
        let op = place(&b, "a", Pos { x: 0, y: 0 }, Size { w: 4, h: 3 }, |_, _| 1).unwrap();
        let OpKind::Batch { ops } = &op else { panic!("{op:?}") };
        assert!(matches!(ops[0], OpKind::Resize { .. }));
        assert_eq!(moves(&op), vec![("b".into(), Pos { x: 0, y: 3 }), ("c".into(), Pos { x: 0, y: 5 })]);
        // The batch is valid for the applier.
        assert!(protocol::dashboard::board::apply(&b, &op).is_ok());
    }
}
