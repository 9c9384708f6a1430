//! `GET /metrics` in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::state::AppState;
use crate::store::appender::WriterCounts;

pub async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.hub.stats();
    let mut out = String::new();
    for (name, help, value) in stats.metrics.counters() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    }
    let flow = state.flow.metrics();
    let flow_counters = [
        ("beacon_webhooks_total", "Identity platform webhooks received.", &flow.webhooks),
        ("beacon_webhooks_duplicate_total", "Webhooks already seen (kind, record, state).", &flow.duplicates),
        (
            "beacon_webhooks_unmatched_total",
            "Webhooks matching no session (stored, not guessed).",
            &flow.unmatched,
        ),
        (
            "beacon_sessions_recovered_total",
            "Session steps recovered by polling the platform.",
            &flow.recovered_by_polling,
        ),
        (
            "beacon_claims_taken_back_total",
            "Follow-up claims (proof request, verification) whose lease ran out and were retried.",
            &flow.claims_taken_back,
        ),
        (
            "beacon_sessions_expired_by_deadline_total",
            "Open connect sessions ended by their deadline.",
            &flow.expired_by_deadline,
        ),
        (
            "beacon_stall_poller_rounds_total",
            "Stall-poller rounds run on this node (only the background-jobs leader runs them).",
            &flow.sweep_rounds,
        ),
    ];
    let heads = state.store.log_heads().reads();
    let log_counters = [
        (
            "beacon_log_bounds_from_memory_total",
            "Subscribes and polls that found their channel's log bounds in memory (SQLite).",
            &heads.from_memory,
        ),
        (
            "beacon_log_bounds_from_database_total",
            "Subscribes and polls that read their channel's log bounds from the database.",
            &heads.from_database,
        ),
    ];
    for (name, help, counter) in flow_counters.into_iter().chain(log_counters) {
        let value = counter.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    }
    // Zero on Postgres, which has no single writer: the series stay scrapeable either way.
    let writer = state.store.log_writer_counts();
    let load = |pick: fn(&WriterCounts) -> &AtomicU64| writer.map_or(0, |w| pick(w).load(Ordering::Relaxed));
    let writer_counters = [
        (
            "beacon_log_writer_groups_total",
            "Transactions committed by the SQLite event log writer (group commits).",
            load(|w| &w.groups),
        ),
        (
            "beacon_log_writer_jobs_total",
            "Event appends and conversation messages in those transactions.",
            load(|w| &w.jobs),
        ),
        (
            "beacon_log_writer_one_trip_groups_total",
            "Groups of appends stored as one statement, their channels' heads known (from the log heads' cache or the writer's last commits).",
            load(|w| &w.one_trip_groups),
        ),
        (
            "beacon_log_writer_stale_heads_total",
            "Groups whose assumed heads another transaction had moved: nothing stored, written again after reading them.",
            load(|w| &w.stale_heads),
        ),
    ];
    for (name, help, value) in writer_counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    }
    let gauges = [
        ("beacon_connections", "Open WebSocket connections.", stats.connections),
        ("beacon_channels", "Channels with at least one local listener.", stats.channels),
        ("beacon_queue_depth_max", "Deepest outbound queue.", stats.queue_depth_max),
        ("beacon_queue_depth_total", "Events waiting in all outbound queues.", stats.queue_depth_total),
        (
            "beacon_background_jobs_leader",
            "1 when this node runs the background jobs.",
            usize::from(state.node.leadership.is_leader()),
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
