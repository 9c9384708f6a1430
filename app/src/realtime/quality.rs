//! Connection quality as the header shows it, from what the client measures
//! itself: the round trip of its own pings, and how often it had to reconnect.
//! Pure functions, tested on the host.

/// Round trips at or under this are good.
pub const GOOD_RTT_MS: f64 = 300.0;
/// Round trips over this are poor.
pub const POOR_RTT_MS: f64 = 1000.0;
/// Reconnects counted within this window.
pub const RECONNECT_WINDOW_MS: f64 = 5.0 * 60.0 * 1000.0;
/// Samples the round-trip average keeps.
const RTT_SAMPLES: usize = 5;

/// What the header's quality indicator says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Good,
    Degraded,
    Poor,
    /// No connection at all.
    Offline,
    /// Events arrive by long-polling: it works, with more delay.
    Polling,
}

impl Quality {
    pub fn key(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Degraded => "degraded",
            Self::Poor => "poor",
            Self::Offline => "offline",
            Self::Polling => "polling",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Good => "Good connection",
            Self::Degraded => "Slow connection",
            Self::Poor => "Poor connection",
            Self::Offline => "Offline",
            Self::Polling => "Polling",
        }
    }
}

/// Recent round trips and reconnects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurements {
    rtts: Vec<f64>,
    reconnects: Vec<f64>,
}

impl Measurements {
    /// Records a round trip; keeps the newest few.
    pub fn rtt(&mut self, ms: f64) {
        if self.rtts.len() == RTT_SAMPLES {
            self.rtts.remove(0);
        }
        self.rtts.push(ms.max(0.0));
    }

    /// Records a reconnect at `now_ms`, forgetting those out of the window.
    pub fn reconnected(&mut self, now_ms: f64) {
        self.reconnects.retain(|t| now_ms - t < RECONNECT_WINDOW_MS);
        self.reconnects.push(now_ms);
    }

    /// The average of the kept round trips.
    pub fn average_rtt(&self) -> Option<f64> {
        (!self.rtts.is_empty()).then(|| self.rtts.iter().sum::<f64>() / self.rtts.len() as f64)
    }

    fn recent_reconnects(&self, now_ms: f64) -> usize {
        self.reconnects.iter().filter(|t| now_ms - **t < RECONNECT_WINDOW_MS).count()
    }

    /// The quality of a live socket with these measurements.
    pub fn quality(&self, now_ms: f64) -> Quality {
        let rtt = self.average_rtt().unwrap_or(0.0);
        let reconnects = self.recent_reconnects(now_ms);
        if rtt > POOR_RTT_MS || reconnects >= 3 {
            Quality::Poor
        } else if rtt > GOOD_RTT_MS || reconnects >= 1 {
            Quality::Degraded
        } else {
            Quality::Good
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_set_the_quality() {
        let mut m = Measurements::default();
        assert_eq!(m.quality(0.0), Quality::Good, "nothing measured yet");
        m.rtt(40.0);
        assert_eq!(m.quality(0.0), Quality::Good);
        for _ in 0..5 {
            m.rtt(600.0);
        }
        assert_eq!(m.quality(0.0), Quality::Degraded);
        for _ in 0..5 {
            m.rtt(1500.0);
        }
        assert_eq!(m.quality(0.0), Quality::Poor);
        assert_eq!(m.average_rtt(), Some(1500.0), "only the newest samples count");
    }

    #[test]
    fn reconnects_degrade_until_they_age_out() {
        let mut m = Measurements::default();
        m.reconnected(1_000.0);
        assert_eq!(m.quality(2_000.0), Quality::Degraded);
        m.reconnected(2_000.0);
        m.reconnected(3_000.0);
        assert_eq!(m.quality(3_000.0), Quality::Poor);
        assert_eq!(m.quality(3_000.0 + RECONNECT_WINDOW_MS), Quality::Good);
    }
}
