//! "At most N at once per key", as permits that give their place back when
//! dropped. A key's entry exists only while it holds a permit, so the map is
//! never larger than the number of live permits.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

pub struct ConcurrencyLimit<K> {
    max: usize,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

/// One place of `key`, held until dropped. The map and the key, not a boxed
/// closure over them: an idle socket holds two of these for its whole life,
/// and a closure was an allocation of its own beside each (step 28).
pub struct Permit<K: Eq + Hash> {
    held: Arc<Mutex<HashMap<K, usize>>>,
    key: K,
}

impl<K: Eq + Hash> Drop for Permit<K> {
    fn drop(&mut self) {
        let mut held = self.held.lock().expect("concurrency map poisoned");
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

impl<K: Eq + Hash + Clone> ConcurrencyLimit<K> {
    pub fn new(max: usize) -> Self {
        Self { max, held: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// A permit for `key`, or `None` when `key` holds `max` already.
    pub fn acquire(&self, key: K) -> Option<Permit<K>> {
        {
            let mut held = self.held.lock().expect("concurrency map poisoned");
            let count = held.entry(key.clone()).or_insert(0);
            if *count >= self.max {
                return None;
            }
            *count += 1;
        }
        Some(Permit { held: Arc::clone(&self.held), key })
    }

    /// Keys holding at least one permit.
    pub fn keys(&self) -> usize {
        self.held.lock().expect("concurrency map poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_counted_per_key_and_given_back() {
        let limit = ConcurrencyLimit::new(2);
        let a1 = limit.acquire("a").unwrap();
        let _a2 = limit.acquire("a").unwrap();
        assert!(limit.acquire("a").is_none());
        let b = limit.acquire("b").unwrap();
        drop(a1);
        let _a3 = limit.acquire("a").unwrap();
        drop(b);
        assert_eq!(limit.keys(), 1, "a key without permits leaves the map");
    }
}
