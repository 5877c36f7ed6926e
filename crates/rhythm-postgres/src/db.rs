//! Running statements on tokio-postgres: every statement is prepared once per connection
//! and cached (deadpool's statement cache), parameters and rows travel in the binary
//! format, and statements slower than the configured threshold are logged. [`Sql`] builds
//! the statements whose shape depends on the request (filters, cursors), numbering their
//! parameters as it goes.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rhythm_domain::RepoError;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Row, Statement};

use uuid::Uuid;

use crate::error::map_pg as map_err;

/// A parameter of a statement.
pub(crate) type Param<'a> = &'a (dyn ToSql + Sync);

/// Distinct statement texts kept prepared per connection. Request-shaped statements (the
/// filter combinations of a listing) are bounded in practice, but not by construction:
/// past this many the cache starts over rather than grow without end.
const MAX_CACHED_STATEMENTS: usize = 512;

/// Statements slower than this are logged at WARN (microseconds; set once by the pool).
static SLOW_STATEMENT_MICROS: AtomicU64 = AtomicU64::new(100_000);

pub(crate) fn set_slow_statement_threshold(threshold: Duration) {
    let micros = u64::try_from(threshold.as_micros()).unwrap_or(u64::MAX);
    SLOW_STATEMENT_MICROS.store(micros, Ordering::Relaxed);
}

/// A pooled connection or a transaction on one: where statements run.
pub(crate) trait Conn: Sync {
    fn prepare(&self, sql: &str) -> impl Future<Output = Result<Statement, RepoError>> + Send;
    fn rows(
        &self,
        statement: &Statement,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send;
    fn affected(
        &self,
        statement: &Statement,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<u64, tokio_postgres::Error>> + Send;
    /// Runs `sql` unprepared, its parameter types given: one round trip, planned for these
    /// values.
    fn rows_unprepared(
        &self,
        sql: &str,
        params: &[(Param<'_>, Type)],
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send;
}

fn bound_cache(cache: &deadpool_postgres::StatementCache) {
    if cache.size() > MAX_CACHED_STATEMENTS {
        cache.clear();
    }
}

/// Both kinds of connection run statements the same way: through deadpool's statement
/// cache and tokio-postgres' query calls, which they share by deref.
macro_rules! impl_conn {
    ($($conn:ty),*) => {$(
        impl Conn for $conn {
            async fn prepare(&self, sql: &str) -> Result<Statement, RepoError> {
                bound_cache(&self.statement_cache);
                self.prepare_cached(sql).await.map_err(map_err)
            }

            async fn rows(
                &self,
                statement: &Statement,
                params: &[Param<'_>],
            ) -> Result<Vec<Row>, tokio_postgres::Error> {
                self.query(statement, params).await
            }

            async fn affected(
                &self,
                statement: &Statement,
                params: &[Param<'_>],
            ) -> Result<u64, tokio_postgres::Error> {
                self.execute(statement, params).await
            }

            async fn rows_unprepared(
                &self,
                sql: &str,
                params: &[(Param<'_>, Type)],
            ) -> Result<Vec<Row>, tokio_postgres::Error> {
                self.query_typed(sql, params).await
            }
        }
    )*};
}

impl_conn!(deadpool_postgres::Object, deadpool_postgres::Transaction<'_>);

fn log_if_slow(sql: &str, started: Instant) {
    let elapsed = started.elapsed();
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if micros >= SLOW_STATEMENT_MICROS.load(Ordering::Relaxed) {
        let statement: String = sql.chars().take(300).collect();
        tracing::warn!(elapsed_ms = micros / 1000, statement, "slow statement");
    }
}

/// Every row of `sql`.
pub(crate) async fn fetch_all(
    conn: &impl Conn,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<Row>, RepoError> {
    let statement = conn.prepare(sql).await?;
    let started = Instant::now();
    let rows = conn.rows(&statement, params).await.map_err(map_err);
    log_if_slow(sql, started);
    rows
}

/// The first row of `sql`, if any (a statement of this adapter returns at most one).
pub(crate) async fn fetch_optional(
    conn: &impl Conn,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Option<Row>, RepoError> {
    Ok(fetch_all(conn, sql, params).await?.into_iter().next())
}

/// The one row of `sql`; none is a bug of the statement, not a missing entity.
pub(crate) async fn fetch_one(
    conn: &impl Conn,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Row, RepoError> {
    fetch_optional(conn, sql, params)
        .await?
        .ok_or_else(|| RepoError::Internal("a statement returned no row".into()))
}

/// Runs `sql`; the number of rows it touched.
pub(crate) async fn execute(
    conn: &impl Conn,
    sql: &str,
    params: &[Param<'_>],
) -> Result<u64, RepoError> {
    let statement = conn.prepare(sql).await?;
    let started = Instant::now();
    let affected = conn.affected(&statement, params).await.map_err(map_err);
    log_if_slow(sql, started);
    affected
}

/// Column `name` of `row`.
pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, name: &str) -> Result<T, RepoError> {
    row.try_get(name).map_err(|e| RepoError::Internal(format!("decoding column {name}: {e}")))
}

/// The PostgreSQL type a Rust value is sent as, for statements sent unprepared (the server
/// then takes the type from the client instead of inferring it).
pub(crate) trait SqlType {
    const TYPE: Type;
}

macro_rules! sql_types {
    ($($rust:ty => $pg:ident),* $(,)?) => {
        $(
            impl SqlType for $rust {
                const TYPE: Type = Type::$pg;
            }
            impl SqlType for Option<$rust> {
                const TYPE: Type = Type::$pg;
            }
        )*
    };
}

sql_types! {
    bool => BOOL,
    i16 => INT2,
    i32 => INT4,
    i64 => INT8,
    f32 => FLOAT4,
    f64 => FLOAT8,
    String => TEXT,
    &'static str => TEXT,
    Uuid => UUID,
    time::OffsetDateTime => TIMESTAMPTZ,
    Vec<String> => TEXT_ARRAY,
    Vec<&'static str> => TEXT_ARRAY,
    Vec<i16> => INT2_ARRAY,
    Vec<Uuid> => UUID_ARRAY,
}

/// A statement assembled from pieces, with its parameters numbered as they are bound.
#[derive(Default)]
pub(crate) struct Sql {
    text: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
    types: Vec<Type>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Self { text: text.to_owned(), params: Vec::new(), types: Vec::new() }
    }

    pub(crate) fn push(&mut self, text: impl AsRef<str>) -> &mut Self {
        self.text.push_str(text.as_ref());
        self
    }

    /// Appends `$n` for `value`.
    pub(crate) fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: ToSql + SqlType + Sync + Send + 'static,
    {
        self.params.push(Box::new(value));
        self.types.push(T::TYPE);
        self.text.push('$');
        self.text.push_str(&self.params.len().to_string());
        self
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn params(&self) -> Vec<Param<'_>> {
        self.params.iter().map(|p| p.as_ref() as Param<'_>).collect()
    }

    pub(crate) async fn fetch_all(&self, conn: &impl Conn) -> Result<Vec<Row>, RepoError> {
        fetch_all(conn, &self.text, &self.params()).await
    }

    /// Every row, the statement sent unprepared: planned for these very values (search
    /// terms, board filters), never with a generic plan made for earlier ones.
    pub(crate) async fn fetch_all_unprepared(
        &self,
        conn: &impl Conn,
    ) -> Result<Vec<Row>, RepoError> {
        let typed: Vec<(Param<'_>, Type)> = self
            .params
            .iter()
            .zip(&self.types)
            .map(|(p, t)| (p.as_ref() as Param<'_>, t.clone()))
            .collect();
        let started = Instant::now();
        let rows = conn.rows_unprepared(&self.text, &typed).await.map_err(map_err);
        log_if_slow(&self.text, started);
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_in_binding_order() {
        let mut sql = Sql::new("SELECT 1 WHERE a = ");
        sql.bind(1_i64).push(" AND b = ").bind("x".to_owned());
        assert_eq!(sql.text(), "SELECT 1 WHERE a = $1 AND b = $2");
        assert_eq!(sql.params().len(), 2);
    }
}
