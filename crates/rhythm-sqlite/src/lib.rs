//! SQLite adapter: [`SqliteStore`] implements every port of `rhythm-domain` on one SQLite
//! file, through sqlx with the bundled libsqlite3. It is Rhythm's embedded default: nothing
//! to install, one file to back up.
//!
//! Writes serialize through one writer connection, each in a `BEGIN IMMEDIATE`
//! transaction, so a write holds the database's write lock from its first read: the
//! read-lock-decide-write paths of the ports need no row locks, and no two writes of this
//! process can fail each other. Reads run on a pool of read-only connections, which WAL
//! lets proceed beside the writer. A lock held by another process (a backup, a second
//! server on the same file) is waited for up to the busy timeout, then answered
//! `Unavailable` (503), never a server error.
//!
//! One module per aggregate, as in `rhythm-postgres`; [`db`] holds the conversions
//! (ids, times) and the transaction helpers, [`error`] maps SQLite's refusals.

mod attempts;
mod boards;
pub mod db;
pub mod error;
mod health;
mod issues;
mod projects;
mod search;
mod sprints;
mod users;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rhythm_domain::RepoError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The embedded migrations of `migrations/sqlite/` at the workspace root.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How the store uses its file.
#[derive(Clone, Debug)]
pub struct SqliteSettings {
    /// Read-only connections, for requests that only read.
    pub read_connections: u32,
    /// Longest wait for a connection (the writer included) before answering "unavailable".
    pub acquire_timeout: Duration,
    /// Longest wait for a lock another process holds on the file.
    pub busy_timeout: Duration,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        Self {
            read_connections: 8,
            acquire_timeout: Duration::from_secs(3),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The SQLite store: one writer connection and a pool of readers on one file. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    path: PathBuf,
}

/// What can go wrong opening the store.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the SQLite database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("applying migrations to {path} failed: {source}")]
    Migrate { path: PathBuf, source: sqlx::migrate::MigrateError },
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`, applies pending migrations
    /// and opens the connections.
    pub async fn open(path: &Path, settings: &SqliteSettings) -> Result<Self, OpenError> {
        let open_err = |source| OpenError::Open { path: path.to_owned(), source };
        let base = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(settings.busy_timeout)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL loses no committed transaction on a process crash (only on
            // power loss, the last ones), and spares an fsync per commit.
            .synchronous(SqliteSynchronous::Normal)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16384");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            // The writer lives as long as the store: SQLite connections are cheap to keep
            // and the page cache is worth keeping warm.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(open_err)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|source| OpenError::Migrate { path: path.to_owned(), source })?;
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.read_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.read_only(true))
            .await
            .map_err(open_err)?;
        Ok(Self { writer, reader, path: path.to_owned() })
    }

    /// Opens the store a `sqlite:` URL names (`sqlite:PATH` or `sqlite://PATH`, options
    /// after `?` are ignored: the store sets its own).
    pub async fn open_url(url: &str, settings: &SqliteSettings) -> Result<Self, OpenError> {
        let path = path_of_url(url);
        Self::open(&path, settings).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Begins a write: the writer connection, in a transaction that holds the database's
    /// write lock from its start.
    pub(crate) async fn write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, RepoError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(error::map_sqlx)
    }

    /// A read-only connection.
    pub(crate) async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, RepoError> {
        self.reader.acquire().await.map_err(error::map_sqlx)
    }

    /// The read-only pool, for statements that need no transaction.
    pub(crate) fn readers(&self) -> &SqlitePool {
        &self.reader
    }

    /// Closes every connection (the WAL is checkpointed by the last one to close).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// The file a `sqlite:` URL names.
pub fn path_of_url(url: &str) -> PathBuf {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
    PathBuf::from(rest)
}

/// Copies the database at `source` into the new file `target` with `VACUUM INTO`: a
/// consistent snapshot (one read transaction, so a running server's writes go on), compacted.
/// Refuses to overwrite an existing file.
pub async fn backup(source: &Path, target: &Path) -> Result<(), BackupError> {
    if target.exists() {
        return Err(BackupError::TargetExists(target.to_owned()));
    }
    if !source.exists() {
        return Err(BackupError::NoSource(source.to_owned()));
    }
    let target_text =
        target.to_str().ok_or_else(|| BackupError::TargetNotUtf8(target.to_owned()))?;
    let options = SqliteConnectOptions::new()
        .filename(source)
        .busy_timeout(SqliteSettings::default().busy_timeout);
    let mut conn = sqlx::ConnectOptions::connect(&options).await?;
    sqlx::query("VACUUM INTO $1").bind(target_text).execute(&mut conn).await?;
    sqlx::Connection::close(conn).await?;
    Ok(())
}

/// Why a backup was not written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; a backup never overwrites a file")]
    TargetExists(PathBuf),
    #[error("there is no database at {0}")]
    NoSource(PathBuf),
    #[error("the backup path {0} is not valid UTF-8")]
    TargetNotUtf8(PathBuf),
    #[error("the backup failed: {0}")]
    Sqlite(#[from] sqlx::Error),
}
