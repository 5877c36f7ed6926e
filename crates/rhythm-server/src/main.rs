//! The `rhythm` binary: `rhythm serve`, `rhythm migrate`, `rhythm backup` and
//! `rhythm migrate-store`. The only place that knows both the HTTP adapter and the storage
//! adapters, and wires one onto the other.

mod cli;
mod migrate_store;
mod store;

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use rhythm_api::state::{AppState, Store};
use rhythm_api::{server, telemetry};
use rhythm_postgres::PgStore;
use rhythm_sqlite::SqliteStore;
use tokio::net::TcpListener;

use crate::cli::{
    BackupArgs, Cli, Command, DatabaseArgs, JwtSecret, ServeArgs, resolve_jwt_secret,
};
use crate::store::StoreChoice;

/// The system allocator keeps freed password-hashing memory (19 MiB a hash, in whichever
/// thread's arena it ran) resident; mimalloc hands it back, keeping the server's footprint
/// small under sign-in bursts.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long startup waits for the database before giving up (it retries meanwhile).
const STARTUP_DATABASE_WAIT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Migrate(db) => {
            telemetry::init(db.log_format);
            match StoreChoice::from_args(&db)? {
                StoreChoice::Postgres(url) => migrate_postgres(&url).await,
                StoreChoice::Sqlite(path) => {
                    open_sqlite(&path, &db).await?.close().await;
                    tracing::info!(path = %path.display(), "database schema is up to date");
                    Ok(())
                }
            }
        }
        Command::Backup(args) => {
            telemetry::init(args.db.log_format);
            backup(&args).await
        }
        Command::MigrateStore(args) => {
            telemetry::init(args.log_format);
            migrate_store::run(&args).await
        }
        Command::Serve(args) => {
            telemetry::init(args.db.log_format);
            serve(args).await
        }
    }
}

fn open_postgres(database_url: &str, db: &DatabaseArgs) -> anyhow::Result<PgStore> {
    let pool = rhythm_postgres::connect_pool(database_url, &db.pool_settings())
        .map_err(anyhow::Error::msg)
        .context("DATABASE_URL")?;
    Ok(PgStore::new(pool))
}

/// Opens (creating and migrating) the SQLite file.
async fn open_sqlite(path: &std::path::Path, db: &DatabaseArgs) -> anyhow::Result<SqliteStore> {
    Ok(SqliteStore::open(path, &db.sqlite_settings()).await?)
}

/// Copies the embedded store into a new file while it may be in use.
async fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let StoreChoice::Sqlite(source) = StoreChoice::from_args(&args.db)? else {
        anyhow::bail!(
            "rhythm backup copies the embedded SQLite store; back up PostgreSQL with pg_dump"
        );
    };
    rhythm_sqlite::backup(&source, &args.target).await?;
    tracing::info!(from = %source.display(), to = %args.target.display(), "backup written");
    Ok(())
}

/// Applies PostgreSQL migrations, retrying while the database is still coming up.
async fn migrate_postgres(database_url: &str) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        match PgStore::migrate(database_url).await {
            Ok(()) => {
                tracing::info!("database schema is up to date");
                return Ok(());
            }
            Err(sqlx::migrate::MigrateError::Execute(err))
                if started.elapsed() < STARTUP_DATABASE_WAIT && is_connection_error(&err) =>
            {
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis(), "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(err) => return Err(err).context("applying migrations failed"),
        }
    }
}

fn is_connection_error(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_))
        || err.as_database_error().and_then(|e| e.code()).is_some_and(|code| code == "57P03")
}

/// Runs `task` every `period` (the first run right away) for the life of the process.
fn spawn_every<F, Fut>(period: Duration, mut task: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        loop {
            ticks.tick().await;
            task().await;
        }
    });
}

/// Keeps the sign-in attempt counters as small as the last minute's traffic. Every replica
/// runs this; a second deletion of the same rows finds nothing.
fn spawn_rate_limit_pruning(state: &AppState) {
    let limits = state.auth_limits.clone();
    spawn_every(Duration::from_secs(60), move || {
        let limits = limits.clone();
        async move {
            if let Err(err) = limits.forget_ended().await {
                tracing::warn!(status = %err.status(), "could not drop ended sign-in attempt counters");
            }
        }
    });
}

/// Deletes sessions that are over (expired, revoked, past `RHYTHM_SESSION_MAX_AGE_SECS`),
/// hourly. Every replica runs this; the second deletion finds nothing.
fn spawn_session_pruning(state: &AppState) {
    let auth = state.auth.clone();
    spawn_every(Duration::from_secs(3600), move || {
        let auth = auth.clone();
        async move {
            match auth.prune_sessions().await {
                Ok(deleted) => tracing::debug!(deleted, "pruned ended sessions"),
                Err(err) => tracing::warn!(error = %err, "could not prune ended sessions"),
            }
        }
    });
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let jwt_secret =
        match resolve_jwt_secret(args.jwt_secret.as_deref()).map_err(anyhow::Error::msg)? {
            JwtSecret::Configured(secret) => secret,
            JwtSecret::Ephemeral(secret) => {
                tracing::warn!(
                    "RHYTHM_JWT_SECRET is not set: using a random secret for this process only. \
                 Every token dies on restart and replicas reject each other's tokens. \
                 Set RHYTHM_JWT_SECRET (at least 32 bytes) in production."
                );
                secret
            }
        };
    let choice = StoreChoice::from_args(&args.db)?;
    tracing::info!(store = %choice.describe(), "opening the store");
    match choice {
        StoreChoice::Postgres(url) => {
            migrate_postgres(&url).await?;
            let store = open_postgres(&url, &args.db)?;
            let pool = store.pool().clone();
            run(store, &args, jwt_secret).await?;
            pool.close();
        }
        StoreChoice::Sqlite(path) => {
            let store = open_sqlite(&path, &args.db).await?;
            run(store.clone(), &args, jwt_secret).await?;
            store.close().await;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Serves the API on `store` until a shutdown signal.
async fn run<S: Store>(store: S, args: &ServeArgs, jwt_secret: Vec<u8>) -> anyhow::Result<()> {
    let state = AppState::new(store, args.settings(jwt_secret)).map_err(anyhow::Error::msg)?;
    spawn_rate_limit_pruning(&state);
    spawn_session_pruning(&state);
    let app = rhythm_api::router(state);
    let listener = TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    tracing::info!(address = %listener.local_addr()?, "rhythm is listening");
    server::serve(listener, app, Duration::from_secs(args.shutdown_grace_secs)).await?;
    Ok(())
}
