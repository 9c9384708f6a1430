//! A channel's listeners on this node, by connection id.
//!
//! Most channels have one listener: a person's own channel in one tab, a
//! session's connect flow. A hash map's smallest table is an allocation of
//! its own (about 116 bytes with its control bytes) for every such channel,
//! kept for as long as the socket lives; one listener is kept inline instead,
//! and a map is made only for a second (docs/PERFORMANCE.md, step 20). The
//! map is boxed, so the inline case is as small as one listener (step 27).

use std::collections::HashMap;

use super::ConnectionId;

#[derive(Debug, Default)]
pub(super) enum Listeners<V> {
    #[default]
    None,
    One(ConnectionId, V),
    /// Two or more. Boxed: inline, the map (48 bytes) would size every
    /// channel's entry, and most channels have one listener.
    #[allow(clippy::box_collection, reason = "the box keeps the common case (one listener) small")]
    Many(Box<HashMap<ConnectionId, V>>),
}

impl<V> Listeners<V> {
    /// Adds or replaces `id`'s listener; returns the one it replaced.
    pub(super) fn insert(&mut self, id: ConnectionId, listener: V) -> Option<V> {
        match self {
            Self::One(existing, value) if *existing == id => Some(std::mem::replace(value, listener)),
            Self::One(..) => {
                let Self::One(existing, value) = std::mem::take(self) else { unreachable!() };
                *self = Self::Many(Box::new(HashMap::from([(existing, value), (id, listener)])));
                None
            }
            Self::None => {
                *self = Self::One(id, listener);
                None
            }
            Self::Many(map) => map.insert(id, listener),
        }
    }

    pub(super) fn remove(&mut self, id: &ConnectionId) -> Option<V> {
        match self {
            Self::One(existing, _) if existing == id => match std::mem::take(self) {
                Self::One(_, value) => Some(value),
                Self::None | Self::Many(_) => unreachable!(),
            },
            Self::None | Self::One(..) => None,
            Self::Many(map) => {
                let removed = map.remove(id);
                if map.len() == 1 {
                    // Back to one inline: the map's table is freed.
                    let (last, value) = map.drain().next().expect("one left");
                    *self = Self::One(last, value);
                }
                removed
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Self::None => 0,
            Self::One(..) => 1,
            Self::Many(map) => map.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn contains_key(&self, id: &ConnectionId) -> bool {
        match self {
            Self::None => false,
            Self::One(existing, _) => existing == id,
            Self::Many(map) => map.contains_key(id),
        }
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        let (one, many) = match self {
            Self::None => (None, None),
            Self::One(_, value) => (Some(value), None),
            Self::Many(map) => (None, Some(map.values())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_a_map_would() {
        let mut listeners = Listeners::default();
        let mut model = HashMap::new();
        // Grows past one and shrinks back to one and to none, repeatedly.
        for step in 0..600u64 {
            let id = (step * 7919) % 5;
            if step % 3 == 2 {
                assert_eq!(listeners.remove(&id), model.remove(&id), "step {step}");
            } else {
                assert_eq!(listeners.insert(id, step), model.insert(id, step), "step {step}");
            }
            assert_eq!(listeners.len(), model.len());
            assert_eq!(listeners.is_empty(), model.is_empty());
            for probe in 0..5 {
                assert_eq!(listeners.contains_key(&probe), model.contains_key(&probe));
            }
            let mut values: Vec<u64> = listeners.values().copied().collect();
            let mut expected: Vec<u64> = model.values().copied().collect();
            values.sort_unstable();
            expected.sort_unstable();
            assert_eq!(values, expected, "step {step}");
        }
    }

    #[test]
    fn a_channel_s_listeners_stay_small() {
        // A table entry per channel with a listener here, for as long as its
        // sockets live (docs/PERFORMANCE.md, step 27): one listener inline,
        // nothing held for order.
        let size = std::mem::size_of::<crate::hub::ChannelListeners>();
        assert!(size <= 40, "a channel's listeners are {size} bytes, more than 40");
    }

    #[test]
    fn one_listener_is_kept_inline() {
        let mut listeners = Listeners::default();
        listeners.insert(1, ());
        assert!(matches!(listeners, Listeners::One(1, ())));
        listeners.insert(2, ());
        assert!(matches!(listeners, Listeners::Many(_)));
        listeners.remove(&1);
        assert!(matches!(listeners, Listeners::One(2, ())), "back inline when one is left");
    }
}
