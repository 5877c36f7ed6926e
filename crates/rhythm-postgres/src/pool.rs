//! Connection pool construction: bounded waits everywhere, so an unreachable or overloaded
//! database turns into a quick "unavailable" instead of requests piling up.

use std::str::FromStr;
use std::time::Duration;

use log::LevelFilter;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// How the pool talks to PostgreSQL.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// Longest wait for a free connection before the request is answered "unavailable".
    pub acquire_timeout: Duration,
    /// Server-side cap on any one statement (`statement_timeout`).
    pub statement_timeout: Duration,
    /// Statements slower than this are logged at WARN through sqlx's own logging.
    pub slow_statement_threshold: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            slow_statement_threshold: Duration::from_millis(100),
        }
    }
}

/// Connections idle longer than this are pinged before use; busy ones are not, which keeps
/// a request at one round trip under load while still weeding out connections that died
/// during a quiet period (a database restart, a dropped TCP session).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// Builds the pool without connecting: the first query opens connections, so the process
/// can start (and report itself degraded) while the database is down.
pub fn connect_lazy(database_url: &str, settings: &PoolSettings) -> Result<PgPool, sqlx::Error> {
    let statement_timeout_ms = settings.statement_timeout.as_millis().to_string();
    let connect = PgConnectOptions::from_str(database_url)?
        .application_name("rhythm")
        .options([
            ("statement_timeout", statement_timeout_ms.as_str()),
            // A transaction left open by a bug must not hold locks forever.
            ("idle_in_transaction_session_timeout", "60000"),
            // Text search reports stop-word-only queries as NOTICEs; they are expected.
            ("client_min_messages", "warning"),
            // Requests are short and many run at once: parallel workers and JIT compilation
            // cost more than they save (JIT alone adds tens of milliseconds to a large board).
            ("max_parallel_workers_per_gather", "0"),
            ("jit", "off"),
        ])
        .log_statements(LevelFilter::Trace)
        .log_slow_statements(LevelFilter::Warn, settings.slow_statement_threshold);
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(Duration::from_secs(1800))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    use sqlx::Connection;
                    // A failed ping discards the connection; the pool opens a fresh one.
                    return Ok(conn.ping().await.is_ok());
                }
                Ok(true)
            })
        })
        .connect_lazy_with(connect);
    Ok(pool)
}
