//! A value parked with no task, until whatever it waits on wakes it.
//!
//! An idle socket waits on three things (its socket's bytes, its outbox, its
//! timer), and a Tokio task to wait for them costs a cell sized by the busiest
//! moment of the socket's life, for the whole of it (docs/PERFORMANCE.md, step
//! 27). Parked instead, the connection's state sits in a [`Slot`] of its own
//! size, and the slot itself is the waker handed to those three: the first
//! wake takes the state out and [`Resume::resume`]s it (on a new task, or,
//! for what needs no waiting, right there: `connection::inline`). Later
//! wakes through stale copies of the waker find the slot spent and do nothing.
//!
//! Parking is two steps, so that a wake cannot be lost between them:
//! [`Parking::begin`] makes the waker, with which the caller polls what it
//! waits on; [`Parking::finish`] then stores the state. A wake that came in
//! between (something was ready after all) makes `finish` hand the state back
//! to the caller, which goes on running it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Wake, Waker};

/// What is parked: resumed (given a task again) by the first wake.
pub(super) trait Resume: Send + 'static {
    fn resume(self);
}

/// One lock over the state and the value, not an atomic beside it: the
/// value's own niches hold the tag, so a parked connection's slot is the
/// connection and a lock word (step 27).
enum Slot<T> {
    /// The waker exists; the value is not stored yet.
    Parking,
    /// Woken while parking: `finish` hands the value back.
    Woken,
    /// Stored; the first wake takes it.
    Parked(T),
    /// Taken: every later wake does nothing.
    Spent,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // Nothing under this lock panics; a poisoned lock still holds the value.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A park in progress: see the module's documentation.
pub(super) struct Parking<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Resume> Parking<T> {
    pub(super) fn begin() -> Self {
        Self { shared: Arc::new(Shared { slot: Mutex::new(Slot::Parking) }) }
    }

    /// The waker to poll with before [`Self::finish`].
    pub(super) fn waker(&self) -> Waker {
        Waker::from(self.shared.clone())
    }

    /// Parks `value` until the waker is woken, or hands it back when it
    /// already was (what it waits on may be ready: the caller runs it).
    pub(super) fn finish(self, value: T) -> Result<(), T> {
        let mut slot = self.shared.lock();
        match *slot {
            Slot::Parking => {
                *slot = Slot::Parked(value);
                Ok(())
            }
            _ => {
                *slot = Slot::Spent;
                Err(value)
            }
        }
    }
}

impl<T: Resume> Wake for Shared<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let parked = {
            let mut slot = self.lock();
            match std::mem::replace(&mut *slot, Slot::Spent) {
                Slot::Parking => {
                    *slot = Slot::Woken;
                    None
                }
                Slot::Parked(value) => Some(value),
                Slot::Woken => {
                    *slot = Slot::Woken;
                    None
                }
                Slot::Spent => None,
            }
        };
        // Resumed outside the lock: resuming may drop wakers that point back
        // at this slot.
        if let Some(value) = parked {
            value.resume();
        }
    }
}

/// The size of a parked value's shared slot, for the size tests.
#[cfg(test)]
pub(super) const fn slot_size<T>() -> usize {
    std::mem::size_of::<Mutex<Slot<T>>>()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts its resumes and its drops.
    struct Probe {
        resumed: Arc<AtomicUsize>,
        dropped: Arc<AtomicUsize>,
    }

    impl Resume for Probe {
        fn resume(self) {
            self.resumed.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn probe() -> (Probe, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (resumed, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        (Probe { resumed: resumed.clone(), dropped: dropped.clone() }, resumed, dropped)
    }

    #[test]
    fn the_first_wake_after_parking_resumes_once() {
        let (value, resumed, _) = probe();
        let parking = Parking::begin();
        let waker = parking.waker();
        let copy = waker.clone();
        assert!(parking.finish(value).is_ok());
        assert_eq!(resumed.load(Ordering::SeqCst), 0, "parked until woken");
        waker.wake_by_ref();
        copy.wake();
        waker.wake();
        assert_eq!(resumed.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_wake_while_parking_hands_the_value_back() {
        let (value, resumed, _) = probe();
        let parking = Parking::begin();
        let waker = parking.waker();
        waker.wake_by_ref();
        assert!(parking.finish(value).is_err(), "something was ready: the caller runs it");
        waker.wake();
        assert_eq!(resumed.load(Ordering::SeqCst), 0, "the caller has it; no wake resumes it");
    }

    #[test]
    fn a_value_never_woken_is_dropped_with_its_last_waker() {
        let (value, resumed, dropped) = probe();
        let parking = Parking::begin();
        let waker = parking.waker();
        assert!(parking.finish(value).is_ok());
        drop(waker);
        assert_eq!((resumed.load(Ordering::SeqCst), dropped.load(Ordering::SeqCst)), (0, 1));
    }

    #[test]
    fn wakes_racing_from_threads_resume_exactly_once() {
        for _ in 0..200 {
            let (value, resumed, dropped) = probe();
            let parking = Parking::begin();
            let wakers: Vec<Waker> = (0..4).map(|_| parking.waker()).collect();
            let threads: Vec<_> =
                wakers.into_iter().map(|waker| std::thread::spawn(move || waker.wake())).collect();
            // Whether a wake came before or after: resumed by a waker, or handed back here.
            let handed_back = match parking.finish(value) {
                Ok(()) => 0,
                Err(value) => {
                    drop(value);
                    1
                }
            };
            for thread in threads {
                thread.join().unwrap();
            }
            assert_eq!(resumed.load(Ordering::SeqCst) + handed_back, 1);
            assert_eq!(dropped.load(Ordering::SeqCst), 1, "the value is not leaked or dropped twice");
        }
    }
}
