//! One side of the copy: a single connection to either store, with the few operations the
//! copy needs, each written once per dialect. A transaction is begun and ended with plain
//! `BEGIN`/`COMMIT`; closing the connection before `COMMIT` (any error) rolls it back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{
    AssertSqlSafe, ConnectOptions, Connection, PgConnection, Postgres, QueryBuilder, Sqlite,
    SqliteConnection,
};
use uuid::Uuid;

use super::codec::{bind_postgres, bind_sqlite, decode_postgres, decode_sqlite};
use super::tables::{Kind, TABLES, Table, Val};
use crate::store::StoreChoice;

/// The board's columns, in the order of PostgreSQL's total arrays.
const STATUSES: [&str; 6] = ["backlog", "todo", "in_progress", "in_review", "done", "cancelled"];

/// How long a lock another process holds is waited for.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Issues and story points of a project's board column.
pub type Totals = BTreeMap<(Uuid, String), (i64, i64)>;

pub enum Endpoint {
    Postgres(PgConnection),
    Sqlite { conn: SqliteConnection, path: PathBuf },
}

impl Endpoint {
    /// The source, opened for reading only: an SQLite file that must exist (never created
    /// nor migrated), or a PostgreSQL database.
    pub async fn open_source(choice: &StoreChoice) -> anyhow::Result<Self> {
        let endpoint = match choice {
            StoreChoice::Postgres(url) => Self::Postgres(connect_postgres(url).await?),
            StoreChoice::Sqlite(path) => {
                ensure!(path.is_file(), "there is no SQLite database at {}", path.display());
                let options = sqlite_options(path).read_only(true);
                let conn = options.connect().await.with_context(|| open_failed(path))?;
                Self::Sqlite { conn, path: path.clone() }
            }
        };
        Ok(endpoint)
    }

    /// The target, created if it is a missing SQLite file, with its migrations applied.
    pub async fn open_target(choice: &StoreChoice) -> anyhow::Result<Self> {
        match choice {
            StoreChoice::Postgres(url) => {
                let mut conn = connect_postgres(url).await?;
                rhythm_postgres::MIGRATOR
                    .run(&mut conn)
                    .await
                    .context("applying migrations to the target failed")?;
                Ok(Self::Postgres(conn))
            }
            StoreChoice::Sqlite(path) => {
                // A rollback journal while loading: pages appended to a new file need no
                // journal, so the load is written once (WAL would write it twice). The
                // store's own WAL mode is set back when the copy is committed.
                let options = sqlite_options(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Delete)
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("cache_size", "-131072")
                    .pragma("temp_store", "memory");
                let mut conn = options.connect().await.with_context(|| {
                    format!("{} (is a server using the file?)", open_failed(path))
                })?;
                rhythm_sqlite::MIGRATOR
                    .run(&mut conn)
                    .await
                    .context("applying migrations to the target failed")?;
                Ok(Self::Sqlite { conn, path: path.clone() })
            }
        }
    }

    /// Refuses a source whose schema is not the one this binary knows: the copy reads the
    /// current columns.
    pub async fn ensure_current_schema(&mut self) -> anyhow::Result<()> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        let (applied, known): (Result<Vec<i64>, _>, _) = match self {
            Self::Postgres(conn) => {
                (sqlx::query_scalar(sql).fetch_all(conn).await, &rhythm_postgres::MIGRATOR)
            }
            Self::Sqlite { conn, .. } => {
                (sqlx::query_scalar(sql).fetch_all(conn).await, &rhythm_sqlite::MIGRATOR)
            }
        };
        let applied = applied.context("the source holds no Rhythm schema")?;
        let known: Vec<i64> = known
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .collect();
        if let Some(unknown) = applied.iter().find(|v| !known.contains(v)) {
            bail!(
                "the source has migration {unknown}, which this binary does not know: use the binary that wrote it"
            );
        }
        if applied.len() < known.len() {
            bail!(
                "the source's schema is behind this binary ({} of {} migrations): run `rhythm migrate` on it first",
                applied.len(),
                known.len()
            );
        }
        Ok(())
    }

    /// Begins the read of the source: one snapshot for every table.
    pub async fn begin_snapshot(&mut self) -> anyhow::Result<()> {
        match self {
            Self::Postgres(conn) => {
                sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(conn)
                    .await?;
            }
            // Deferred: the first read takes the snapshot (in WAL mode a writer goes on).
            Self::Sqlite { conn, .. } => {
                sqlx::raw_sql("BEGIN DEFERRED").execute(conn).await?;
            }
        }
        Ok(())
    }

    /// Begins the write of the target and refuses it unless every copied table is empty.
    /// The write lock (SQLite's, PostgreSQL's table locks) keeps it so until the commit.
    pub async fn begin_write_into_empty(&mut self) -> anyhow::Result<()> {
        let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        match self {
            Self::Postgres(conn) => {
                let lock = format!(
                    "BEGIN; SET LOCAL lock_timeout = '{}ms'; LOCK TABLE {} IN EXCLUSIVE MODE; \
                     SET LOCAL lock_timeout = 0",
                    LOCK_WAIT.as_millis(),
                    names.join(", ")
                );
                sqlx::raw_sql(AssertSqlSafe(lock))
                    .execute(conn)
                    .await
                    .context("cannot lock the target's tables (is a server using it?)")?;
            }
            Self::Sqlite { conn, .. } => {
                sqlx::raw_sql("BEGIN IMMEDIATE")
                    .execute(conn)
                    .await
                    .context("cannot lock the target file (is a server using it?)")?;
            }
        }
        for name in names {
            let rows = self.count(name).await?;
            if rows > 0 {
                bail!(
                    "the target is not empty ({name} has {rows} rows): migrate-store copies into \
                     an empty store only, so nothing there is overwritten or mixed"
                );
            }
        }
        Ok(())
    }

    pub async fn count(&mut self, table: &str) -> anyhow::Result<i64> {
        let sql = AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
        let rows = match self {
            Self::Postgres(conn) => sqlx::query_scalar(sql).fetch_one(conn).await,
            Self::Sqlite { conn, .. } => sqlx::query_scalar(sql).fetch_one(conn).await,
        };
        rows.with_context(|| format!("counting {table}"))
    }

    /// Every row of `table`, in its copy order, streamed.
    pub fn rows<'c>(
        &'c mut self,
        table: &'static Table,
    ) -> BoxStream<'c, anyhow::Result<Vec<Val>>> {
        match self {
            Self::Postgres(conn) => {
                let columns: Vec<String> = table
                    .columns
                    .iter()
                    .map(|(name, kind)| match kind {
                        // Decoded as one Rust type whatever the column's width.
                        Kind::Int => format!("\"{name}\"::int8"),
                        Kind::Json => format!("\"{name}\"::text"),
                        _ => format!("\"{name}\""),
                    })
                    .collect();
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    columns.join(", "),
                    table.name,
                    table.postgres_order
                );
                sqlx::query(AssertSqlSafe(sql))
                    .fetch(conn)
                    .map(move |row| decode_postgres(&row?, table))
                    .boxed()
            }
            Self::Sqlite { conn, .. } => {
                let columns: Vec<String> =
                    table.columns.iter().map(|(name, _)| format!("\"{name}\"")).collect();
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    columns.join(", "),
                    table.name,
                    table.sqlite_order
                );
                sqlx::query(AssertSqlSafe(sql))
                    .fetch(conn)
                    .map(move |row| decode_sqlite(&row?, table))
                    .boxed()
            }
        }
    }

    /// Inserts `rows` of `table` in one statement.
    pub async fn insert(&mut self, table: &Table, rows: Vec<Vec<Val>>) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut names: Vec<String> =
            table.columns.iter().map(|(name, _)| format!("\"{name}\"")).collect();
        let done = match self {
            Self::Postgres(conn) => {
                let mut query = QueryBuilder::<Postgres>::new(format!(
                    "INSERT INTO {} ({}) ",
                    table.name,
                    names.join(", ")
                ));
                query.push_values(rows, |mut values, row| {
                    for ((_, kind), val) in table.columns.iter().zip(row) {
                        bind_postgres(&mut values, *kind, val);
                    }
                });
                query.build().execute(conn).await.map(drop)
            }
            Self::Sqlite { conn, .. } => {
                names.extend(table.sqlite_derived.iter().map(|(name, _)| format!("\"{name}\"")));
                let mut query = QueryBuilder::<Sqlite>::new(format!(
                    "INSERT INTO {} ({}) ",
                    table.name,
                    names.join(", ")
                ));
                query.push_values(rows, |mut values, row| {
                    let derived: Vec<Val> =
                        table.sqlite_derived.iter().map(|(_, derive)| derive(&row)).collect();
                    for ((_, kind), val) in table.columns.iter().zip(row) {
                        bind_sqlite(&mut values, *kind, val);
                    }
                    for val in derived {
                        bind_sqlite(&mut values, Kind::Text, val);
                    }
                });
                query.build().execute(conn).await.map(drop)
            }
        };
        done.with_context(|| format!("the target refused rows of {}", table.name))?;
        Ok(())
    }

    /// Prepares the target for the rows of `table`. On PostgreSQL, the issues' board-totals
    /// trigger rests while they go in: each of its row updates would leave one more version
    /// of the project's totals row, all uncommitted and so never pruned, which every later
    /// update wades through (100 000 issues took minutes; without it, seconds). The schema's
    /// own `rhythm_recount_board_totals()` then counts them once ([`Endpoint::after_rows`]).
    /// DDL is transactional: nobody ever sees the trigger off, and the table is locked
    /// until the commit. Returns whether the trigger rests; if it cannot (the target's
    /// tables belong to another role), the trigger keeps working, only slower.
    pub async fn before_rows(&mut self, table: &Table) -> anyhow::Result<bool> {
        let Self::Postgres(conn) = self else { return Ok(false) };
        if table.name != "issues" {
            return Ok(false);
        }
        sqlx::raw_sql("SAVEPOINT bulk_issues").execute(&mut *conn).await?;
        match sqlx::raw_sql("ALTER TABLE issues DISABLE TRIGGER issues_board_totals")
            .execute(&mut *conn)
            .await
        {
            Ok(_) => Ok(true),
            Err(err) => {
                tracing::warn!(error = %err, "cannot pause the board-totals trigger; the copy of issues will be slower");
                sqlx::raw_sql("ROLLBACK TO SAVEPOINT bulk_issues").execute(&mut *conn).await?;
                Ok(false)
            }
        }
    }

    /// Ends what [`Endpoint::before_rows`] began when it returned `true`.
    pub async fn after_rows(&mut self, table: &Table, paused: bool) -> anyhow::Result<()> {
        if let (Self::Postgres(conn), true, "issues") = (self, paused, table.name) {
            sqlx::raw_sql(
                "SELECT rhythm_recount_board_totals(); \
                 ALTER TABLE issues ENABLE TRIGGER issues_board_totals",
            )
            .execute(conn)
            .await
            .context("counting the board totals")?;
        }
        Ok(())
    }

    /// Checks what the target's triggers derived from the copied rows: the board totals of
    /// every project and column equal a count of its live issues (and on PostgreSQL every
    /// project has its lock rows).
    pub async fn verify_derived(&mut self) -> anyhow::Result<()> {
        let projects: Vec<Uuid> = self.fetch_ids("SELECT id FROM projects").await?;
        let mut expected = Totals::new();
        for project in &projects {
            for status in STATUSES {
                expected.insert((*project, status.to_owned()), (0, 0));
            }
        }
        let counted = "SELECT project_id, status, count(*), coalesce(sum(story_points), 0) \
                       FROM issues WHERE deleted_at IS NULL GROUP BY project_id, status";
        expected.extend(self.fetch_totals(counted).await?);
        let stored = match self {
            Self::Postgres(_) => {
                "SELECT t.project_id, s.status, t.issues[s.k], t.points[s.k] \
                 FROM project_board_totals t CROSS JOIN unnest(ARRAY['backlog', 'todo', \
                 'in_progress', 'in_review', 'done', 'cancelled']) WITH ORDINALITY AS s (status, k)"
            }
            Self::Sqlite { .. } => {
                "SELECT project_id, status, issues, points FROM project_board_totals"
            }
        };
        let stored = self.fetch_totals(stored).await?;
        if let Some(((project, status), want)) =
            expected.iter().find(|(key, want)| stored.get(*key) != Some(*want))
        {
            let key = (*project, status.clone());
            bail!(
                "the target's board totals disagree with its issues: project {project}, column \
                 {status}: (issues, points) counted {want:?}, stored {:?}",
                stored.get(&key)
            );
        }
        ensure!(stored.len() == expected.len(), "the target has board totals of unknown columns");
        if let Self::Postgres(_) = self {
            let locks = self.count("project_locks").await?;
            ensure!(
                usize::try_from(locks).ok() == Some(2 * projects.len()),
                "the target has {locks} project lock rows for {} projects",
                projects.len()
            );
        }
        Ok(())
    }

    async fn fetch_ids(&mut self, sql: &'static str) -> anyhow::Result<Vec<Uuid>> {
        let ids = match self {
            Self::Postgres(conn) => sqlx::query_scalar(sql).fetch_all(conn).await,
            Self::Sqlite { conn, .. } => sqlx::query_scalar(sql).fetch_all(conn).await,
        };
        Ok(ids?)
    }

    async fn fetch_totals(&mut self, sql: &'static str) -> anyhow::Result<Totals> {
        let rows: Vec<(Uuid, String, i64, i64)> = match self {
            Self::Postgres(conn) => sqlx::query_as(sql).fetch_all(conn).await?,
            Self::Sqlite { conn, .. } => sqlx::query_as(sql).fetch_all(conn).await?,
        };
        Ok(rows.into_iter().map(|(p, s, i, n)| ((p, s), (i, n))).collect())
    }

    pub async fn commit(&mut self) -> anyhow::Result<()> {
        match self {
            Self::Postgres(conn) => {
                sqlx::raw_sql("COMMIT").execute(conn).await?;
            }
            Self::Sqlite { conn, .. } => {
                sqlx::raw_sql("COMMIT").execute(conn).await?;
            }
        }
        Ok(())
    }

    /// After the commit: leaves the target as its server expects it (statistics for the
    /// planner on PostgreSQL, WAL mode on SQLite) and closes the connection.
    pub async fn finish_target(self) -> anyhow::Result<()> {
        match self {
            Self::Postgres(mut conn) => {
                let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
                let analyze = format!("ANALYZE {}, project_board_totals", names.join(", "));
                sqlx::raw_sql(AssertSqlSafe(analyze)).execute(&mut conn).await?;
                conn.close().await?;
            }
            Self::Sqlite { mut conn, path } => {
                sqlx::raw_sql("PRAGMA journal_mode = WAL")
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("setting WAL mode on {}", path.display()))?;
                conn.close().await?;
            }
        }
        Ok(())
    }

    /// Ends the read (nothing was written) and closes the connection.
    pub async fn close(self) -> anyhow::Result<()> {
        match self {
            Self::Postgres(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await?;
                conn.close().await?;
            }
            Self::Sqlite { mut conn, .. } => {
                sqlx::raw_sql("ROLLBACK").execute(&mut conn).await?;
                conn.close().await?;
            }
        }
        Ok(())
    }
}

/// A PostgreSQL connection for a long copy: no statement or idle-in-transaction limit
/// (a role's defaults could cut a large copy short).
async fn connect_postgres(url: &str) -> anyhow::Result<PgConnection> {
    // The URL may carry a password: never in a message.
    let options = PgConnectOptions::from_str(url).context("not a PostgreSQL URL")?;
    let mut conn = quiet(options).connect().await.context("cannot connect to PostgreSQL")?;
    sqlx::raw_sql("SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0")
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

fn sqlite_options(path: &Path) -> SqliteConnectOptions {
    quiet(SqliteConnectOptions::new().filename(path).foreign_keys(true).busy_timeout(LOCK_WAIT))
}

/// Without sqlx's statement logs: a copy's statements are long by design, and a batch of
/// a thousand rows would be logged in full.
fn quiet<O: ConnectOptions>(options: O) -> O {
    options.disable_statement_logging()
}

fn open_failed(path: &Path) -> String {
    format!("cannot open the SQLite database {}", path.display())
}
