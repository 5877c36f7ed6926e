//! Connection pool construction: bounded waits everywhere, so an unreachable or overloaded
//! database turns into a quick "unavailable" instead of requests piling up.

use std::time::Duration;

/// How the pool talks to PostgreSQL.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// Longest wait for a free connection before the request is answered "unavailable".
    pub acquire_timeout: Duration,
    /// Server-side cap on any one statement (`statement_timeout`).
    pub statement_timeout: Duration,
    /// Statements slower than this are logged at WARN.
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

/// Connections older than this are replaced at their next checkout, so server-side memory
/// held by a long-lived backend (plan caches, catalog caches) is given back now and then.
const MAX_LIFETIME: Duration = Duration::from_secs(1800);

/// Builds the pool without connecting: the first query opens connections, so the process
/// can start (and report itself degraded) while the database is down.
pub fn connect_pool(
    database_url: &str,
    settings: &PoolSettings,
) -> Result<deadpool_postgres::Pool, String> {
    let config: tokio_postgres::Config =
        database_url.parse().map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
    pool_from_config(config, settings)
}

pub(crate) fn pool_from_config(
    mut config: tokio_postgres::Config,
    settings: &PoolSettings,
) -> Result<deadpool_postgres::Pool, String> {
    use deadpool_postgres::{
        Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime,
    };
    let options = format!(
        "-c statement_timeout={} -c idle_in_transaction_session_timeout=60000 \
         -c client_min_messages=warning -c max_parallel_workers_per_gather=0 -c jit=off",
        settings.statement_timeout.as_millis()
    );
    config.application_name("rhythm").options(&options).connect_timeout(settings.acquire_timeout);
    crate::db::set_slow_statement_threshold(settings.slow_statement_threshold);
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        // Fast: a connection whose socket closed is dropped; the ping below covers the ones
        // that sat idle long enough to have died unnoticed.
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    Pool::builder(manager)
        .max_size(settings.max_connections as usize)
        .wait_timeout(Some(settings.acquire_timeout))
        .create_timeout(Some(settings.acquire_timeout))
        .recycle_timeout(Some(settings.acquire_timeout))
        .runtime(Runtime::Tokio1)
        .pre_recycle(Hook::async_fn(|client, metrics| {
            Box::pin(async move {
                if metrics.age() > MAX_LIFETIME {
                    return Err(HookError::Message("connection reached its lifetime".into()));
                }
                if metrics.last_used() > PING_IF_IDLE_FOR {
                    // A failed ping discards the connection; the pool opens a fresh one.
                    client.simple_query("").await.map_err(HookError::Backend)?;
                }
                Ok(())
            })
        }))
        .build()
        .map_err(|e| format!("building the connection pool: {e}"))
}
