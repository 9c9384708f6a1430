//! Live values for metric widgets: once a second, one signal per dashboard
//! channel that has sockets on this node, carrying every source's value.
//! The cost is per open dashboard, not per widget, and nothing when nobody
//! looks: a dashboard nobody has open is never visited. Each node reports
//! its own figures to its own sockets (signals are ephemeral: no log, no
//! replay; a long-polling page shows the last value it had).

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::ChannelKind;
use protocol::chat::SignalBody;
use protocol::dashboard::{MetricSource, MetricValue};

use crate::hub::Hub;

/// How often values are pushed.
pub const EVERY: Duration = Duration::from_secs(1);
/// Period of the demo wave.
const DEMO_PERIOD_SECS: f64 = 20.0;

/// Reads the node's webhook counter (kept by the connect flow).
pub type WebhookCount = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Starts the ticker; it ends with the hub's shutdown.
pub fn spawn(hub: Hub, webhooks: WebhookCount) {
    let shutdown = hub.shutdown_token().clone();
    let tasks = hub.tasks().clone();
    tasks.spawn(async move {
        let started = Instant::now();
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last = (Instant::now(), published(&hub));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = every.tick() => {}
            }
            let now = (Instant::now(), published(&hub));
            let per_sec = (now.1 - last.1) as f64 / now.0.duration_since(last.0).as_secs_f64().max(0.001);
            last = now;
            let channels = hub.local_channels(ChannelKind::Dashboard);
            if channels.is_empty() {
                continue;
            }
            let values = vec![
                MetricValue { source: MetricSource::Connections, value: hub.connection_count() as f64 },
                MetricValue { source: MetricSource::EventsPerSecond, value: (per_sec * 10.0).round() / 10.0 },
                MetricValue { source: MetricSource::Webhooks, value: webhooks() as f64 },
                MetricValue { source: MetricSource::Demo, value: demo_wave(started.elapsed()) },
            ];
            for channel in channels {
                hub.signal_local(&channel, SignalBody::Metrics { values: values.clone() });
            }
        }
    });
}

fn published(hub: &Hub) -> u64 {
    hub.metrics().published.load(std::sync::atomic::Ordering::Relaxed)
}

/// 0 to 100 and back, smoothly.
fn demo_wave(elapsed: Duration) -> f64 {
    let phase = elapsed.as_secs_f64() / DEMO_PERIOD_SECS * std::f64::consts::TAU;
    (50.0 - 50.0 * phase.cos()).round()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_wave_stays_between_0_and_100() {
        assert_eq!(demo_wave(Duration::ZERO), 0.0);
        assert_eq!(demo_wave(Duration::from_secs_f64(DEMO_PERIOD_SECS / 2.0)), 100.0);
        for tenth in 0..400 {
            let v = demo_wave(Duration::from_millis(tenth * 100));
            assert!((0.0..=100.0).contains(&v), "{v}");
        }
    }
}
