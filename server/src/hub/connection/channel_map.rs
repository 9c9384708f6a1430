//! A connection's per-channel state (its subscriptions, each channel with the
//! highest seq sent on it; its memberships), in a vector sorted by name.
//!
//! A socket holds a handful of channels (at most
//! `BEACON_MAX_CHANNELS_PER_CONNECTION`, 64 unless raised): a binary search
//! over them costs less than hashing the name on every delivery, and one
//! subscription is a 24-byte allocation where a hash map's smallest table is
//! 128 bytes, kept for as long as an idle socket lives (docs/PERFORMANCE.md,
//! step 19).

use protocol::ChannelName;

#[derive(Debug)]
pub(super) struct ChannelMap<V> {
    /// Sorted by channel name, each channel once.
    entries: Vec<(ChannelName, V)>,
}

/// Channel -> highest seq delivered.
pub(super) type Subscriptions = ChannelMap<u64>;

impl<V> Default for ChannelMap<V> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<V> ChannelMap<V> {
    fn position(&self, channel: &ChannelName) -> Result<usize, usize> {
        self.entries.binary_search_by(|(name, _)| name.as_str().cmp(channel.as_str()))
    }

    pub(super) fn contains_key(&self, channel: &ChannelName) -> bool {
        self.position(channel).is_ok()
    }

    pub(super) fn get(&self, channel: &ChannelName) -> Option<&V> {
        self.position(channel).ok().map(|at| &self.entries[at].1)
    }

    pub(super) fn get_key_value(&self, channel: &ChannelName) -> Option<(&ChannelName, &V)> {
        self.position(channel).ok().map(|at| (&self.entries[at].0, &self.entries[at].1))
    }

    pub(super) fn get_mut(&mut self, channel: &ChannelName) -> Option<&mut V> {
        self.position(channel).ok().map(|at| &mut self.entries[at].1)
    }

    /// Sets the channel's value; returns the one it replaced.
    pub(super) fn insert(&mut self, channel: ChannelName, value: V) -> Option<V> {
        match self.position(&channel) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                // One slot at a time: `Vec`'s first growth is four entries,
                // three of them never used by a socket of one channel.
                self.entries.reserve_exact(1);
                self.entries.insert(at, (channel, value));
                None
            }
        }
    }

    pub(super) fn remove(&mut self, channel: &ChannelName) -> Option<V> {
        let at = self.position(channel).ok()?;
        let (_, value) = self.entries.remove(at);
        if self.entries.is_empty() {
            // An idle socket keeps nothing for channels it left.
            self.entries = Vec::new();
        }
        Some(value)
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &ChannelName> {
        self.entries.iter().map(|(name, _)| name)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn channel(n: u32) -> ChannelName {
        ChannelName::parse(&format!("user:{n}")).unwrap()
    }

    #[test]
    fn answers_as_a_map_would() {
        let mut subscriptions = Subscriptions::default();
        let mut model = HashMap::new();
        // Inserts, overwrites and removes in an order that is neither sorted nor reversed.
        for step in 0..400u32 {
            let c = channel((step * 7919) % 23);
            match step % 5 {
                0..=2 => assert_eq!(
                    subscriptions.insert(c.clone(), u64::from(step)),
                    model.insert(c, u64::from(step))
                ),
                3 => assert_eq!(subscriptions.remove(&c), model.remove(&c)),
                _ => {
                    if let (Some(seq), Some(expected)) = (subscriptions.get_mut(&c), model.get_mut(&c)) {
                        *seq += 1;
                        *expected += 1;
                    }
                }
            }
            assert_eq!(subscriptions.len(), model.len());
            for n in 0..23 {
                assert_eq!(subscriptions.get(&channel(n)), model.get(&channel(n)), "step {step}, user:{n}");
                assert_eq!(subscriptions.contains_key(&channel(n)), model.contains_key(&channel(n)));
                assert_eq!(subscriptions.get_key_value(&channel(n)), model.get_key_value(&channel(n)));
            }
        }
        let mut keys: Vec<_> = subscriptions.keys().cloned().collect();
        let mut expected: Vec<_> = model.keys().cloned().collect();
        assert!(keys.is_sorted_by(|a, b| a.as_str() < b.as_str()), "kept sorted, each once");
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
    }

    #[test]
    fn holds_room_for_its_channels_only() {
        // Every idle socket keeps this vector: spare slots are memory per socket.
        let mut subscriptions = Subscriptions::default();
        for n in 1..=3 {
            subscriptions.insert(channel(n), 0);
            assert_eq!(subscriptions.entries.capacity(), n as usize);
        }
    }
}
