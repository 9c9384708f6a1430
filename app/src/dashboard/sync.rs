//! Sends a dashboard's queued ops (browser only). A few times a second, the
//! tab holding the browser's sending lease sends the next op on the socket
//! (one at a time, in order) or, when the socket cannot connect and the
//! page long-polls, the waiting ops over HTTP in one request. Offline it
//! sends nothing; the queue waits in localStorage. Every change to the queue
//! is written there, and a change another tab writes is read back, so all
//! tabs show the same pending ops.

use leptos::prelude::*;
use protocol::dashboard::{MAX_BATCH, OpOutcome};

use super::api;
use super::local;
use super::queue::{Answered, Model, OpId, QueuedOp, merge};
use crate::realtime::{ConnState, Realtime, SendFailure};

/// How often the queue is looked at.
const PUMP_MS: u64 = 250;

fn note_answer(answer: Answered, notice: RwSignal<Option<String>>) {
    if let Answered::Dropped { message } = answer {
        notice.set(Some(format!("A change was refused and undone: {message}")));
    }
}

fn ids(queue: &[QueuedOp]) -> Vec<OpId> {
    queue.iter().map(|q| (q.op.client_id.clone(), q.op.op_seq)).collect()
}

/// This tab's queue merged with the stored one, less the finished ops.
fn shared_view(dashboard: &str, local: &[QueuedOp]) -> Vec<QueuedOp> {
    let stored = local::queue_text(dashboard).map(|t| local::parse_queue(&t)).unwrap_or_default();
    let finished = local::finished(dashboard).into_iter().collect();
    merge(&stored, local, &finished)
}

pub fn drive(id: String, model: RwSignal<Model>, notice: RwSignal<Option<String>>, realtime: Realtime) {
    let tab = local::random_id("");
    // The stored queue first (a reload, or other tabs' pending ops).
    let written = StoredValue::new(local::queue_text(&id).unwrap_or_default());
    model.update(|m| m.queue = local::parse_queue(&written.get_value()));

    // Every change of the queue goes to storage, merged with what other tabs
    // wrote there meanwhile; ops that left this tab's queue are marked
    // finished so no older copy brings them back.
    let known = StoredValue::new(ids(&model.with_untracked(|m| m.queue.clone())));
    {
        let id = id.clone();
        Effect::new(move |_| {
            let queue = model.with(|m| m.queue.clone());
            let now = ids(&queue);
            let gone: Vec<OpId> = known.get_value().into_iter().filter(|old| !now.contains(old)).collect();
            known.set_value(now);
            if !gone.is_empty() {
                local::add_finished(&id, gone);
            }
            let merged = shared_view(&id, &queue);
            let text = serde_json::to_string(&merged).unwrap_or_default();
            if text != written.get_value() {
                written.set_value(local::save_queue(&id, &merged));
            }
            if merged != queue {
                model.update(|m| m.queue = merged);
            }
        });
    }
    // Another tab changed it: merge its version in.
    let listener = {
        let id = id.clone();
        local::on_storage(move || {
            let Some(text) = local::queue_text(&id) else { return };
            if text != written.get_value() {
                written.set_value(text);
                let merged = shared_view(&id, &model.with_untracked(|m| m.queue.clone()));
                model.update(|m| m.queue = merged);
            }
        })
    };

    let http_busy = StoredValue::new(false);
    let pump = {
        let (id, tab) = (id.clone(), tab.clone());
        move || {
            if !local::hold_lease(&id, &tab) {
                return;
            }
            let now = local::now_ms();
            match realtime.state.get_untracked() {
                ConnState::Live if realtime.can_publish() => {
                    let Some(op) = model.try_update(|m| m.next_to_send(now)).flatten() else { return };
                    realtime.send_op(&id, op.clone(), move |answer| {
                        let answer = match answer {
                            Ok(ack) => model
                                .try_update(|m| m.acked(&op.client_id, op.op_seq, ack.version.unwrap_or(0))),
                            Err(SendFailure::Refused(nack)) => model.try_update(|m| {
                                m.nacked(
                                    &op.client_id,
                                    op.op_seq,
                                    nack.code,
                                    nack.message,
                                    nack.conflicts,
                                    local::now_ms(),
                                )
                            }),
                            Err(SendFailure::Disconnected) => {
                                model.update(|m| m.disconnected());
                                None
                            }
                        };
                        if let Some(answer) = answer {
                            note_answer(answer, notice);
                        }
                    });
                }
                ConnState::Polling if !http_busy.get_value() => {
                    let batch = model.try_update(|m| m.next_batch(now, MAX_BATCH)).unwrap_or_default();
                    if batch.is_empty() {
                        return;
                    }
                    http_busy.set_value(true);
                    let id = id.clone();
                    leptos::task::spawn_local(async move {
                        let answer = api::submit(id, batch.clone()).await;
                        http_busy.set_value(false);
                        match answer {
                            Ok(outcome) => {
                                for (op, result) in batch.iter().zip(outcome.results) {
                                    let answered = model.try_update(|m| match result {
                                        OpOutcome::Ack { version, .. } => {
                                            m.acked(&op.client_id, op.op_seq, version)
                                        }
                                        OpOutcome::Nack { code, message, conflicts, .. } => m.nacked(
                                            &op.client_id,
                                            op.op_seq,
                                            code,
                                            message,
                                            conflicts,
                                            local::now_ms(),
                                        ),
                                    });
                                    if let Some(answered) = answered {
                                        note_answer(answered, notice);
                                    }
                                }
                            }
                            Err(err) => {
                                model.update(|m| m.disconnected());
                                if !err.transient {
                                    notice.set(Some(format!("Changes could not be saved: {}", err.message)));
                                }
                            }
                        }
                    });
                }
                _ => {}
            }
        }
    };
    // The closure lives in this tab's only thread; the wrapper satisfies `on_cleanup`.
    let listener = send_wrapper::SendWrapper::new(listener);
    let interval = set_interval_with_handle(pump, std::time::Duration::from_millis(PUMP_MS)).ok();
    on_cleanup(move || {
        if let Some(interval) = interval {
            interval.clear();
        }
        if let Some(listener) = listener.as_ref() {
            local::remove_storage_listener(listener);
        }
        local::release_lease(&id, &tab);
    });
}
