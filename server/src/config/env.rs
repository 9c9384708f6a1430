//! Reading typed values from the environment, each failure naming its variable.

use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;

/// Longest any duration setting may be: ten years. Larger values would
/// overflow the millisecond arithmetic done with them.
const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 86_400);

/// A lookup function with typed readers on top.
pub(super) struct Env<F> {
    lookup: F,
}

pub(super) fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name, reason: reason.into() }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    /// The value, trimmed; unset and blank are the same.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// `host:port`, if set.
    pub fn address(&self, name: &'static str) -> Result<Option<SocketAddr>, ConfigError> {
        self.get(name)
            .map(|v| v.parse().map_err(|e| invalid(name, format!("`{v}` is not host:port ({e})"))))
            .transpose()
    }

    pub fn whole(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| invalid(name, format!("`{v}` is not a whole number ({e})"))),
        }
    }

    /// A whole number in `min..=max`.
    pub fn ranged(&self, name: &'static str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        let value = self.whole(name, default)?;
        if !(min..=max).contains(&value) {
            return Err(invalid(name, format!("{value} is outside {min}..={max}")));
        }
        Ok(value)
    }

    pub fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None | Some("false" | "0" | "no") => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some(other) => Err(invalid(name, format!("`{other}` is not true or false"))),
        }
    }

    /// `value * unit` as a duration, refusing overflow and absurd lengths.
    fn scaled(&self, name: &'static str, default: u64, unit: Duration) -> Result<Duration, ConfigError> {
        let value = self.whole(name, default)?;
        u32::try_from(value)
            .ok()
            .and_then(|v| unit.checked_mul(v))
            .filter(|d| *d <= MAX_DURATION)
            .ok_or_else(|| invalid(name, format!("{value} is longer than ten years")))
    }

    pub fn secs(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.scaled(name, default, Duration::from_secs(1))
    }

    pub fn millis(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.scaled(name, default, Duration::from_millis(1))
    }

    pub fn days(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.scaled(name, default, Duration::from_secs(86_400))
    }

    /// A non-zero duration set in milliseconds (`<base>_MS`, for tests) or
    /// seconds (`<base>_SECS`); milliseconds win.
    pub fn ms_or_secs(
        &self,
        ms_name: &'static str,
        secs_name: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let (name, value) = if self.get(ms_name).is_some() {
            (ms_name, self.millis(ms_name, 0)?)
        } else {
            (secs_name, self.secs(secs_name, default.as_secs())?)
        };
        if value.is_zero() {
            return Err(invalid(name, "must be greater than zero"));
        }
        Ok(value)
    }
}
