//! Where the page says how its changes stand: the sync indicator (synced,
//! syncing N, offline with N queued, conflict) with the pending badge, and
//! the conflict panel, mine beside theirs for each stale field.

use leptos::prelude::*;
use protocol::dashboard::{Field, FieldConflict, FieldValue, Op};

use super::queue::mine_of;

/// The sync state as the header shows it: a stable key and its words.
pub fn sync_state(pending: usize, conflicts: usize, connected: bool) -> (&'static str, String) {
    if conflicts > 0 {
        ("conflict", format!("Conflict: {conflicts} to resolve"))
    } else if !connected {
        ("offline", format!("Offline: {pending} queued"))
    } else if pending > 0 {
        ("syncing", format!("Syncing {pending}"))
    } else {
        ("synced", "All changes saved".into())
    }
}

#[component]
pub fn SyncIndicator(state: Signal<(&'static str, String)>, pending: Signal<usize>) -> impl IntoView {
    view! {
        <p class="sync" data-testid="sync" data-state=move || state.get().0 role="status" aria-live="polite">
            <span class="sync-dot" aria-hidden="true"></span>
            <span>{move || state.get().1}</span>
            <span class="dash-badge" data-testid="pending-badge" data-count=move || pending.get()
                class:hidden=move || pending.get() == 0>
                {move || pending.get()}
            </span>
        </p>
    }
}

fn field_name(field: Field) -> &'static str {
    match field {
        Field::Title => "Title",
        Field::Body => "Text",
        Field::Source => "Source",
        Field::Pos => "Position",
        Field::Size => "Size",
    }
}

pub fn show_value(value: Option<&FieldValue>) -> String {
    match value {
        None => "(deleted)".into(),
        Some(FieldValue::Title(s) | FieldValue::Body(s)) => s.clone(),
        Some(FieldValue::Source(s)) => s.label().into(),
        Some(FieldValue::Pos(p)) => format!("column {}, row {}", p.x + 1, p.y + 1),
        Some(FieldValue::Size(s)) => format!("{} × {}", s.w, s.h),
    }
}

/// How the person decided one field: (op's client id, op seq, widget, field, keep mine).
pub type Decision = (String, u64, String, Field, bool);

/// One conflicted op: each stale field, mine and theirs side by side, each
/// decided on its own (keep mine: it goes again on the current version;
/// take theirs: my edit of it is dropped).
#[component]
pub fn ConflictCard(
    op: Op,
    conflicts: Vec<FieldConflict>,
    /// The widget's title as shown, to name it.
    widget_title: String,
    decide: Callback<Decision>,
) -> impl IntoView {
    view! {
        <div class="conflict" data-testid="conflict" role="group" aria-label=format!("Conflict on {widget_title}")>
            <p><strong>{widget_title.clone()}</strong>" was changed by someone else while you edited it."</p>
            <table class="conflict-fields">
                <thead><tr><th>"Field"</th><th>"Mine"</th><th>"Theirs"</th><th><span class="hidden">"Choice"</span></th></tr></thead>
                <tbody>
                    {conflicts.into_iter().map(|c| {
                        let mine = mine_of(&op.op, &c.widget_id, c.field);
                        let mine = if mine.is_none() { "(delete)".to_owned() } else { show_value(mine.as_ref()) };
                        let choice = |keep: bool| (op.client_id.clone(), op.op_seq, c.widget_id.clone(), c.field, keep);
                        let (keep, theirs) = (choice(true), choice(false));
                        view! {
                            <tr data-field=format!("{:?}", c.field).to_lowercase()>
                                <th>{field_name(c.field)}</th>
                                <td data-testid="mine">{mine}</td>
                                <td data-testid="theirs">{show_value(c.theirs.as_ref())}</td>
                                <td class="row">
                                    // Nothing to keep once it is deleted: resending would conflict again.
                                    {c.theirs.is_some().then(|| view! {
                                        <button type="button" class="button" data-testid="keep-mine" on:click=move |_| decide.run(keep.clone())>"Keep mine"</button>
                                    })}
                                    <button type="button" class="quiet-button" data-testid="take-theirs" on:click=move |_| decide.run(theirs.clone())>"Take theirs"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_outranks_everything_then_offline_then_syncing() {
        assert_eq!(sync_state(3, 1, true).0, "conflict");
        assert_eq!(sync_state(3, 0, false), ("offline", "Offline: 3 queued".into()));
        assert_eq!(sync_state(2, 0, true), ("syncing", "Syncing 2".into()));
        assert_eq!(sync_state(0, 0, true).0, "synced");
    }
}
