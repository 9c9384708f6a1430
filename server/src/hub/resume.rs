//! Where a reader resumes, decided once for the socket and the long-poll:
//! from its `since`, or with a `reset` when the log cannot serve that seq (or
//! the seq belongs to another epoch of the log: it was reset or truncated). And
//! the read that checks what it got: a batch must start right after the last
//! seq the reader has, or retention removed events in between and the reader
//! must reset instead of skipping them silently.

use protocol::{ChannelName, EventEnvelope, ResetReason};

use crate::store::events::LogBounds;
use crate::store::{Store, StoreError};

/// Where to start reading for a client that last saw `since` (`None`: only
/// new events) in `epoch` (`None`: a client that does not know it), and
/// whether it must first be told to reset.
pub fn start(since: Option<u64>, epoch: Option<&str>, bounds: &LogBounds) -> (u64, Option<ResetReason>) {
    match since {
        None => (bounds.head, None),
        Some(_) if epoch.is_some_and(|e| e != bounds.epoch) => (bounds.head, Some(ResetReason::EpochChanged)),
        Some(since) if since > bounds.head => (bounds.head, Some(ResetReason::AheadOfLog)),
        Some(since) if since.saturating_add(1) < bounds.first_retained => {
            (bounds.head, Some(ResetReason::BeyondRetention))
        }
        Some(since) => (since, None),
    }
}

/// What a read after a known seq found.
#[derive(Debug, PartialEq)]
pub enum Read {
    /// The events right after it (none when it was already at `up_to`).
    Events(Vec<EventEnvelope>),
    /// The next event is gone (retention ran between the bounds and the read).
    Gap,
}

/// Whether `batch`, read after `last` with events up to `up_to` committed,
/// continues without a hole.
pub fn check(last: u64, up_to: u64, batch: Vec<EventEnvelope>) -> Read {
    if last >= up_to {
        return Read::Events(Vec::new());
    }
    match batch.first() {
        Some(first) if first.seq == last + 1 => Read::Events(batch),
        _ => Read::Gap,
    }
}

/// Reads up to `limit` events in `(last, up_to]` and checks them with [`check`].
pub async fn read_after(
    store: &Store,
    channel: &ChannelName,
    last: u64,
    up_to: u64,
    limit: usize,
) -> Result<Read, StoreError> {
    if last >= up_to {
        return Ok(Read::Events(Vec::new()));
    }
    let batch = store.events_between(channel, last, up_to, limit).await?;
    Ok(check(last, up_to, batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(head: u64, first_retained: u64) -> LogBounds {
        LogBounds { head, first_retained, epoch: "e1".into() }
    }

    fn events(seqs: impl IntoIterator<Item = u64>) -> Vec<EventEnvelope> {
        seqs.into_iter()
            .map(|seq| EventEnvelope {
                channel: ChannelName::parse("user:00000000000000000000000000000000").unwrap(),
                seq,
                id: seq.to_string(),
                ts: 0,
                payload: serde_json::Value::Null,
            })
            .collect()
    }

    #[test]
    fn since_decides_start_or_reset() {
        let e1 = Some("e1");
        assert_eq!(start(None, e1, &bounds(10, 1)), (10, None));
        assert_eq!(start(Some(4), e1, &bounds(10, 1)), (4, None));
        assert_eq!(start(Some(4), e1, &bounds(10, 5)), (4, None), "5 is still there");
        assert_eq!(start(Some(3), e1, &bounds(10, 5)), (10, Some(ResetReason::BeyondRetention)));
        assert_eq!(start(Some(11), e1, &bounds(10, 1)), (10, Some(ResetReason::AheadOfLog)));
        assert_eq!(start(Some(u64::MAX), e1, &bounds(10, 1)), (10, Some(ResetReason::AheadOfLog)));
        assert_eq!(start(Some(0), e1, &bounds(0, 1)), (0, None), "an empty channel");
    }

    #[test]
    fn a_seq_from_another_epoch_is_never_trusted() {
        // The log was reset and grew past the client's seq again.
        assert_eq!(start(Some(4), Some("e0"), &bounds(10, 1)), (10, Some(ResetReason::EpochChanged)));
        // A client that never learnt the epoch is judged by its seq alone.
        assert_eq!(start(Some(4), None, &bounds(10, 1)), (4, None));
        // Only new events wanted: nothing to compare.
        assert_eq!(start(None, Some("e0"), &bounds(10, 1)), (10, None));
    }

    #[test]
    fn a_batch_must_start_right_after_the_last_seq() {
        assert_eq!(check(4, 10, events(5..=10)), Read::Events(events(5..=10)));
        // Retention ran between reading the bounds and reading the events.
        assert_eq!(check(4, 10, events(7..=10)), Read::Gap);
        assert_eq!(check(4, 10, Vec::new()), Read::Gap);
        assert_eq!(check(10, 10, Vec::new()), Read::Events(Vec::new()));
    }
}
