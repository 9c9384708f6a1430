//! Connection counts on this node: a map behind a std mutex, one entry per
//! principal with open connections (removed at zero).

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Admission, ConnectionCounts, CountFuture};
use crate::auth::Principal;

#[derive(Default)]
pub struct MemoryCounts {
    counts: Mutex<HashMap<Principal, usize>>,
}

impl MemoryCounts {
    pub fn try_add(&self, principal: &Principal, limit: usize) -> bool {
        let mut counts = self.counts.lock().expect("counts lock poisoned");
        let count = counts.entry(principal.clone()).or_default();
        if *count >= limit {
            return false;
        }
        *count += 1;
        true
    }

    pub fn remove(&self, principal: &Principal) {
        let mut counts = self.counts.lock().expect("counts lock poisoned");
        if let Some(count) = counts.get_mut(principal) {
            *count -= 1;
            if *count == 0 {
                counts.remove(principal);
            }
        }
    }

    /// Every principal with its count, for re-registering elsewhere.
    pub fn all(&self) -> Vec<(Principal, usize)> {
        let counts = self.counts.lock().expect("counts lock poisoned");
        counts.iter().map(|(p, c)| (p.clone(), *c)).collect()
    }
}

impl ConnectionCounts for MemoryCounts {
    fn acquire<'a>(&'a self, principal: &'a Principal, limit: usize) -> CountFuture<'a, Admission> {
        let admitted = self.try_add(principal, limit);
        Box::pin(async move { if admitted { Admission::Local } else { Admission::Refused } })
    }

    fn release<'a>(&'a self, principal: &'a Principal, _admission: Admission) -> CountFuture<'a, ()> {
        self.remove(principal);
        Box::pin(async {})
    }
}
