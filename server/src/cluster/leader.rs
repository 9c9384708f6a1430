//! Which node runs the background jobs (stall poller, deadlines, retention):
//! the one holding a PostgreSQL advisory lock. The others retry every
//! `BEACON_LEADER_RETRY_MS`; when the leader dies its connection closes, the
//! lock frees, and the next retry elsewhere takes it over.
//!
//! A leader that loses its database connection stops at once (its jobs check
//! [`Leadership::is_leader`] before each round). A partitioned leader whose
//! connection the server has not noticed yet keeps the lock until the
//! server's TCP keepalive gives up; the jobs are idempotent, so an overlap
//! costs duplicate work, never a wrong state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::Store;

/// The advisory lock key: "beacon" in ASCII, so it is recognisable in `pg_locks`.
pub const JOBS_LOCK: i64 = 0x6265_6163_6f6e;

#[derive(Clone)]
pub struct Leadership {
    leading: Arc<AtomicBool>,
}

impl Leadership {
    /// Competes for the jobs lock until shutdown.
    pub fn elect(store: Store, retry: Duration, shutdown: CancellationToken, tasks: &TaskTracker) -> Self {
        let leadership = Self { leading: Arc::default() };
        let leading = leadership.leading.clone();
        tasks.spawn(async move {
            let mut held = None;
            loop {
                held = match held {
                    None => match store.try_lock(JOBS_LOCK).await {
                        Ok(Some(lock)) => {
                            tracing::info!("this node now runs the background jobs");
                            leading.store(true, Ordering::Relaxed);
                            Some(lock)
                        }
                        Ok(None) => None,
                        Err(err) => {
                            tracing::warn!(error = %err, "could not ask for the background-jobs lock");
                            None
                        }
                    },
                    Some(mut lock) => {
                        if lock.alive().await {
                            Some(lock)
                        } else {
                            tracing::warn!(
                                "lost the database connection holding the jobs lock; stepping down"
                            );
                            leading.store(false, Ordering::Relaxed);
                            None
                        }
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(retry) => {}
                }
            }
            leading.store(false, Ordering::Relaxed);
            if let Some(lock) = held {
                lock.release().await;
            }
        });
        leadership
    }

    /// Whether this node should run the background jobs now.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }
}
