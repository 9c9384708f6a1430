//! Storage through sqlx: SQLite by default, Postgres when `DATABASE_URL` says so.
//! Both speak the same SQL here (the `Any` driver with `$n` parameters); each has
//! its own migrations under `server/migrations/`.
//!
//! - [`events`]: the per-channel event log (append, read since).
//! - [`retention`]: what the log keeps, removed in batches.
//! - [`conversations`]: conversations, members, invites.
//! - [`messages`]: conversation messages, idempotent per client id.
//! - [`grants`]: access to dashboard channels published to through the API.
//! - [`dashboards`]: dashboards, members, share links, snapshots; [`dashboard_ops`]: applying ops.
//! - [`notifications`]: the notification inbox, each change announced in its transaction.
//! - [`sessions`]: connect sessions and their owners.
//! - [`webhooks`]: identity-platform webhooks, stored first and deduplicated.
//! - [`users`]: registered people.
//! - [`sign_ins`]: their sign-ins, revocable.

pub mod appender;
pub mod conversations;
pub mod dashboard_ops;
pub mod dashboards;
pub mod events;
pub mod grants;
pub mod heads;
pub mod history;
pub mod lock;
pub mod messages;
mod migrations;
pub mod notifications;
pub mod retention;
pub mod sessions;
pub mod sign_ins;
pub mod users;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A cloneable handle to the database pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: the single writer of the event log.
    appender: Option<appender::Appender>,
    /// Postgres only: connections kept for the log's appends (events and
    /// conversation messages). In a reconnect storm thousands of resubscribes
    /// read log bounds through `pool`, and a publish queued behind them for a
    /// connection waited most of a second (docs/PERFORMANCE.md, step 21).
    log_writes: Option<AnyPool>,
    /// SQLite only (this process writes the log alone): the channels' log bounds.
    heads: heads::LogHeads,
}

/// A storage failure; the cause is logged where it is turned into a response.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("event log write failed: {0}")]
    Failed(String),
    #[error("the event log writer has stopped")]
    WriterGone,
}

/// Every SQLite connection's settings (the pool's and the appender's own).
async fn sqlite_settings(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    // WAL lets readers run beside the one writer; the busy timeout makes
    // concurrent writers wait instead of failing.
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA busy_timeout = 5000").await?;
    // FULL: every commit is on disk before it is acknowledged. With NORMAL a
    // power loss can roll back the last commits after clients saw their seqs,
    // and the log would hand the same seqs out again for different events.
    // Group commit (see `appender`) shares one sync among many appends.
    conn.execute("PRAGMA synchronous = FULL").await?;
    // Checkpoints (the fsyncs) run from `checkpoint`, off the publish path,
    // instead of inside whichever commit crosses the WAL size threshold.
    conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
    Ok(())
}

impl Store {
    /// Connects, creating the SQLite file and its folder when needed, and migrates.
    /// On Postgres, up to [`log_write_connections`] more connections are kept
    /// for the log's appends.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite };
        let mut url = url.to_owned();
        if backend == Backend::Sqlite {
            if let Some(dir) = sqlite_path(&url).and_then(|p| p.parent().map(ToOwned::to_owned))
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            if !url.contains("mode=") {
                url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
            }
        }
        let options = AnyConnectOptions::from_str(&url)
            .context("parsing DATABASE_URL")?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlite_settings(conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .with_context(|| format!("connecting to the {} database", backend.as_str()))?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.context("running migrations")?;
        let heads = match backend {
            Backend::Sqlite => heads::LogHeads::sole_writer(),
            Backend::Postgres => heads::LogHeads::disabled(),
        };
        let (appender, log_writes) = match backend {
            Backend::Sqlite => (
                Some(appender::Appender::start(options, heads.clone()).context("starting the log writer")?),
                None,
            ),
            Backend::Postgres => {
                let log_writes = AnyPoolOptions::new()
                    .max_connections(log_write_connections(max_connections))
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
                    .context("connecting the event log's writers to the postgres database")?;
                (None, Some(log_writes))
            }
        };
        Ok(Self { pool, backend, appender, log_writes, heads })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The shared pool: reads, and every write but the log's appends.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Where the log's appends get a connection on Postgres (SQLite has its writer).
    fn log_write_pool(&self) -> &AnyPool {
        self.log_writes.as_ref().unwrap_or(&self.pool)
    }

    /// What SQLite's log writer committed (`None` on Postgres: no single writer).
    pub fn log_writer_counts(&self) -> Option<&appender::WriterCounts> {
        self.appender.as_ref().map(appender::Appender::counts)
    }

    /// The cache of log bounds (a no-op on Postgres); see [`heads`].
    pub fn log_heads(&self) -> &heads::LogHeads {
        &self.heads
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Whether a commit is on stable storage when it returns: always on
    /// Postgres (with its default `synchronous_commit`); on SQLite, read back
    /// from the connection (`synchronous` FULL or EXTRA).
    pub async fn durable_commits(&self) -> Result<bool, StoreError> {
        match self.backend {
            Backend::Postgres => {
                let row = sqlx::query("SELECT current_setting('synchronous_commit') AS value")
                    .fetch_one(&self.pool)
                    .await?;
                let value: String = sqlx::Row::try_get(&row, "value")?;
                Ok(value != "off")
            }
            Backend::Sqlite => {
                let row = sqlx::query("PRAGMA synchronous").fetch_one(&self.pool).await?;
                let level: i64 = sqlx::Row::try_get(&row, 0)?;
                Ok(level >= 2)
            }
        }
    }

    /// SQLite: copies the write-ahead log into the database without blocking
    /// writers. Run every second by the server; a no-op on Postgres.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&self.pool).await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(log_writes) = &self.log_writes {
            log_writes.close().await;
        }
    }
}

fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.into())
}

/// `$first, …` for `count` bound values: a list for `IN (…)`, one
/// placeholder per value.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Connections kept for the log's appends on Postgres, beside a pool of
/// `max_connections`: half as many again, at least 2 and at most 16. Each
/// append holds one for a transaction of a few round trips.
pub fn log_write_connections(max_connections: u32) -> u32 {
    (max_connections / 2).clamp(2, 16)
}
