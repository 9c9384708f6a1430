//! The dashboard grid: one card per widget on a 12-column grid. A card moves
//! by dragging its header or with the arrow keys, resizes by its corner
//! handle or with Shift + arrows, and edits in place; every change becomes an
//! op through `edit` (the page queues it). Pending and conflicted widgets are
//! marked, and metric cards show their source's live value.

use leptos::prelude::*;
use protocol::dashboard::{
    Field, FieldChange, FieldValue, GRID_COLUMNS, MAX_HEIGHT, MAX_ROW, MetricSource, MetricValue, OpKind,
    Pos, Size, Widget, WidgetKind,
};

/// Height of one grid row in pixels (the CSS says the same).
pub const ROW_PX: f64 = 72.0; // 64 px rows + 8 px gap (style/main.css)

/// What the grid needs from the page.
#[derive(Clone, Copy)]
pub struct GridContext {
    /// Queues an op built from the confirmed bases.
    pub edit: Callback<OpKind>,
    /// Queues a move or resize (with whatever it pushes out of the way).
    pub place: Callback<(String, Pos, Size)>,
    pub base_of: Callback<(String, Field), u64>,
    pub widget_base: Callback<String, u64>,
    pub can_write: bool,
    pub metrics: ReadSignal<Vec<MetricValue>>,
    /// The open editor, kept by the page: a card is redrawn whenever its
    /// widget changes, and what the person is typing must survive that.
    pub editor: RwSignal<Option<Draft>>,
}

/// An open editor: the widget as it was when opened (what the edit builds
/// on, field by field) and what the person has typed so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub opened: Widget,
    pub bases: [(Field, u64); 3],
    pub title: String,
    pub body: String,
    pub source: MetricSource,
}

fn clamp_pos(x: i64, y: i64) -> Pos {
    Pos { x: x.clamp(0, i64::from(GRID_COLUMNS) - 1) as u32, y: y.clamp(0, i64::from(MAX_ROW) - 1) as u32 }
}

fn clamp_size(w: i64, h: i64) -> Size {
    Size { w: w.clamp(1, i64::from(GRID_COLUMNS)) as u32, h: h.clamp(1, i64::from(MAX_HEIGHT)) as u32 }
}

fn format_value(value: f64) -> String {
    if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

/// One widget card.
#[component]
pub fn WidgetCard(
    widget: Widget,
    ctx: GridContext,
    /// Has a change of mine not yet confirmed.
    pending: bool,
    /// Has a conflict waiting for the person.
    attention: bool,
) -> impl IntoView {
    let id = widget.id.clone();
    let (pos, size) = (widget.pos.value, widget.size.value);
    let width = size.w.min(GRID_COLUMNS - pos.x);
    let column = format!("{} / span {}", pos.x + 1, width);
    let row = format!("{} / span {}", pos.y + 1, size.h);
    let editing = {
        let id = id.clone();
        Signal::derive(move || ctx.editor.with(|d| d.as_ref().is_some_and(|d| d.opened.id == id)))
    };
    let open_editor = {
        let widget = widget.clone();
        move |_| {
            let bases = [Field::Title, Field::Body, Field::Source]
                .map(|f| (f, ctx.base_of.run((widget.id.clone(), f))));
            ctx.editor.set(Some(Draft {
                opened: widget.clone(),
                bases,
                title: widget.title.value.clone(),
                body: widget.body.value.clone(),
                source: widget.source.value,
            }));
        }
    };
    let drag = RwSignal::new(None::<(f64, f64, bool)>);
    let offset = RwSignal::new((0.0f64, 0.0f64));

    let move_to = {
        let id = id.clone();
        move |to: Pos| ctx.place.run((id.clone(), to, size))
    };
    let resize_to = {
        let id = id.clone();
        move |to: Size| ctx.place.run((id.clone(), pos, to))
    };
    let on_key = {
        let (move_to, resize_to) = (move_to.clone(), resize_to.clone());
        move |ev: leptos::ev::KeyboardEvent| {
            if !ctx.can_write || editing.get_untracked() {
                return;
            }
            let (dx, dy) = match ev.key().as_str() {
                "ArrowLeft" => (-1, 0),
                "ArrowRight" => (1, 0),
                "ArrowUp" => (0, -1),
                "ArrowDown" => (0, 1),
                _ => return,
            };
            ev.prevent_default();
            if ev.shift_key() {
                resize_to(clamp_size(i64::from(size.w) + dx, i64::from(size.h) + dy));
            } else {
                move_to(clamp_pos(i64::from(pos.x) + dx, i64::from(pos.y) + dy));
            }
        }
    };
    // Pointer drags: the header moves, the corner resizes. The card follows
    // the pointer; the op is made once, on release, in whole cells.
    let start_drag = move |ev: leptos::ev::PointerEvent, resizing: bool| {
        if !ctx.can_write || ev.button() != 0 {
            return;
        }
        ev.prevent_default();
        drag.set(Some((f64::from(ev.client_x()), f64::from(ev.client_y()), resizing)));
    };
    let on_move = move |ev: leptos::ev::PointerEvent| {
        if let Some((x0, y0, _)) = drag.get_untracked() {
            offset.set((f64::from(ev.client_x()) - x0, f64::from(ev.client_y()) - y0));
        }
    };
    let on_up = {
        let (move_to, resize_to) = (move_to.clone(), resize_to.clone());
        move |ev: leptos::ev::PointerEvent| {
            let Some((x0, y0, resizing)) = drag.get_untracked() else { return };
            drag.set(None);
            offset.set((0.0, 0.0));
            let cell_w = grid_cell_width(&ev);
            let dx = ((f64::from(ev.client_x()) - x0) / cell_w).round() as i64;
            let dy = ((f64::from(ev.client_y()) - y0) / ROW_PX).round() as i64;
            if resizing {
                resize_to(clamp_size(i64::from(size.w) + dx, i64::from(size.h) + dy));
            } else {
                move_to(clamp_pos(i64::from(pos.x) + dx, i64::from(pos.y) + dy));
            }
        }
    };
    let transform = move || {
        let (dx, dy) = offset.get();
        if drag.get().is_some() { format!("translate({dx}px, {dy}px)") } else { "none".to_owned() }
    };
    let delete = {
        let id = id.clone();
        move |_| {
            let base = ctx.widget_base.run(id.clone());
            ctx.edit.run(OpKind::Delete { widget_id: id.clone(), base });
        }
    };
    let source = widget.source.value;
    let live_value = move || {
        ctx.metrics.with(|values| values.iter().find(|v| v.source == source).map(|v| format_value(v.value)))
    };
    let kind = widget.kind;
    let title = widget.title.value.clone();
    let body = widget.body.value.clone();
    let editor_widget = widget.clone();
    view! {
        <article
            class="widget"
            class:pending=pending
            class:attention=attention
            class:dragging=move || drag.get().is_some()
            style:grid-column=column
            style:grid-row=row
            style:transform=transform
            tabindex="0"
            data-testid="widget"
            data-id=id.clone()
            data-title=title.clone()
            data-x=pos.x
            data-y=pos.y
            data-w=size.w
            data-h=size.h
            data-pending=pending.to_string()
            data-attention=attention.to_string()
            aria-label=format!("{title}: column {}, row {}, {} by {}", pos.x + 1, pos.y + 1, size.w, size.h)
            on:keydown=on_key
            on:pointermove=on_move
            on:pointerup=on_up.clone()
            on:pointercancel=move |_| { drag.set(None); offset.set((0.0, 0.0)); }
        >
            <header class="widget-head" on:pointerdown=move |ev| start_drag(ev, false)>
                <h3 class="widget-title" data-testid="widget-title">{title.clone()}</h3>
                {pending.then(|| view! { <span class="dash-badge" title="Not confirmed yet">"pending"</span> })}
                {attention.then(|| view! { <span class="dash-badge warn" title="Conflict: choose below">"needs attention"</span> })}
            </header>
            {move || if editing.get() {
                view! { <WidgetEditor kind=editor_widget.kind ctx /> }.into_any()
            } else {
                view! {
                    <div class="widget-body">
                        {(kind == WidgetKind::Metric).then(|| view! {
                            <p class="metric">
                                <span class="metric-value" data-testid="metric-value">{move || live_value().unwrap_or_else(|| "…".into())}</span>
                                <span class="metric-label">{source.label()}</span>
                            </p>
                        })}
                        <p class="widget-text" data-testid="widget-body">{body.clone()}</p>
                    </div>
                }.into_any()
            }}
            {ctx.can_write.then(|| view! {
                <footer class="widget-actions">
                    <button type="button" class="link-like" data-testid="edit-widget" on:click=open_editor.clone()>"Edit"</button>
                    <button type="button" class="link-like danger" data-testid="delete-widget" on:click=delete.clone()>"Delete"</button>
                    <span class="resize" aria-hidden="true" on:pointerdown=move |ev| start_drag(ev, true)></span>
                </footer>
            })}
        </article>
    }
}

/// The width of one grid column, measured from the grid element.
fn grid_cell_width(ev: &leptos::ev::PointerEvent) -> f64 {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let grid = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest(".grid").ok().flatten());
        if let Some(grid) = grid {
            return (f64::from(grid.client_width()) / f64::from(GRID_COLUMNS)).max(1.0);
        }
    }
    let _ = ev;
    80.0
}

/// Title, text and (for metrics) source, saved as one update of the fields
/// that changed, each on the version it had when the editor opened.
#[component]
fn WidgetEditor(kind: WidgetKind, ctx: GridContext) -> impl IntoView {
    let draft = ctx.editor;
    let read = move |f: fn(&Draft) -> String| draft.with(|d| d.as_ref().map(f).unwrap_or_default());
    let write = move |f: fn(&mut Draft, String), value: String| {
        draft.update(|d| {
            if let Some(d) = d {
                f(d, value)
            }
        })
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(d) = draft.get_untracked() else { return };
        let base = |field: Field| d.bases.iter().find(|(f, _)| *f == field).map_or(0, |(_, b)| *b);
        let mut changes = Vec::new();
        if d.title != d.opened.title.value {
            changes.push(FieldChange { value: FieldValue::Title(d.title.clone()), base: base(Field::Title) });
        }
        if d.body != d.opened.body.value {
            changes.push(FieldChange { value: FieldValue::Body(d.body.clone()), base: base(Field::Body) });
        }
        if d.source != d.opened.source.value {
            changes.push(FieldChange { value: FieldValue::Source(d.source), base: base(Field::Source) });
        }
        draft.set(None);
        if !changes.is_empty() {
            ctx.edit.run(OpKind::Update { widget_id: d.opened.id.clone(), changes });
        }
    };
    view! {
        <form class="widget-editor" on:submit=save data-testid="widget-editor">
            <label>"Title"
                <input data-testid="edit-title" maxlength="80" prop:value=move || read(|d| d.title.clone())
                    on:input=move |ev| write(|d, v| d.title = v, event_target_value(&ev)) />
            </label>
            <label>"Text"
                <textarea data-testid="edit-body" maxlength="500" prop:value=move || read(|d| d.body.clone())
                    on:input=move |ev| write(|d, v| d.body = v, event_target_value(&ev))></textarea>
            </label>
            {(kind == WidgetKind::Metric).then(|| view! {
                <label>"Source"
                    <select data-testid="edit-source" on:change=move |ev| {
                        if let Some(s) = MetricSource::parse(&event_target_value(&ev)) {
                            draft.update(|d| if let Some(d) = d { d.source = s });
                        }
                    }>
                        {MetricSource::ALL.map(|s| view! {
                            <option value=s.as_str() selected=move || draft.with(|d| d.as_ref().is_some_and(|d| d.source == s))>{s.label()}</option>
                        }).collect_view()}
                    </select>
                </label>
            })}
            <div class="row">
                <button type="submit" class="button" data-testid="save-widget">"Save"</button>
                <button type="button" class="link-like" on:click=move |_| draft.set(None)>"Cancel"</button>
            </div>
        </form>
    }
}
