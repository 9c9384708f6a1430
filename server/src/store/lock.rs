//! A PostgreSQL session-level advisory lock on a connection of its own: held
//! while that connection lives. When the process dies, the server closes the
//! connection and the lock is free for another node at once; no lease to wait
//! out, no clock to trust.

use sqlx::{Connection, Row};

use super::{Backend, Store, StoreError};

/// A held lock; dropping it (or [`HeldLock::release`]) gives it up.
pub struct HeldLock {
    connection: sqlx::AnyConnection,
}

impl Store {
    /// Takes the advisory lock `key` if nobody holds it. On SQLite (one node
    /// by construction) there is nobody else: it is always granted.
    pub async fn try_lock(&self, key: i64) -> Result<Option<HeldLock>, StoreError> {
        let mut connection = self.pool().acquire().await?;
        if self.backend() == Backend::Sqlite {
            return Ok(Some(HeldLock { connection: connection.detach() }));
        }
        let taken: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *connection)
            .await?
            .try_get(0)?;
        // Held: the connection leaves the pool with the lock. Not held: it goes
        // back to the pool (it holds nothing), so asking again costs no connect.
        Ok(taken.then(|| HeldLock { connection: connection.detach() }))
    }
}

impl HeldLock {
    /// Whether the lock's connection still answers (if not, the server has
    /// or will shortly have released the lock: stop acting on it).
    pub async fn alive(&mut self) -> bool {
        self.connection.ping().await.is_ok()
    }

    /// Gives the lock up now, by closing its connection.
    pub async fn release(self) {
        let _ = self.connection.close().await;
    }
}
