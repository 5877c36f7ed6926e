//! Command line and environment configuration of the `rhythm` binary. Every option can be
//! given as a flag or through the environment variable named in `--help`; secrets are never
//! echoed by `--help` nor logged.
//!
//! This module belongs to the binary, not the library: it is the one place (with `main`)
//! that knows the storage adapter.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};
use rhythm_postgres::PoolSettings;

use rhythm_api::state::{AuthConfig, HttpSettings, Settings};
use rhythm_api::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "rhythm", version, about = "Rhythm: a fast, self-hosted issue tracker backend")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the API.
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate(DatabaseArgs),
    /// Copy the embedded SQLite store into a new file, consistently, while the server runs.
    Backup(BackupArgs),
    /// Copy every row of one store into another, empty one: SQLite to PostgreSQL, or back.
    ///
    /// Copies users, refresh tokens (sessions stay signed in), projects with their issue
    /// counters, members, sprints, issues and their history, keeping every id, time,
    /// version, rank and number. Board totals, project locks and search indexes are built
    /// by the target itself from the copied rows, and the totals checked against the rows
    /// before the commit. Not copied:
    /// sign_in_attempts, the sign-in rate-limit counters of the last minute.
    ///
    /// The source is read in one consistent snapshot and never written: stop the server
    /// (or its writes) first, or what is written after the copy starts stays behind. The
    /// target gets its migrations first and must hold no rows; it is written in one
    /// transaction, so a failed copy leaves it empty. Prints each table's rows in source
    /// and target, and fails if they differ.
    MigrateStore(MigrateStoreArgs),
}

#[derive(Debug, Args)]
pub struct MigrateStoreArgs {
    /// The store to copy from: `sqlite:PATH` (an existing file) or `postgres://…`.
    #[arg(long, env = "RHYTHM_MIGRATE_FROM", hide_env_values = true)]
    pub from: String,
    /// The store to copy into: `postgres://…` (an empty database) or `sqlite:PATH` (a new
    /// or empty file).
    #[arg(long, env = "RHYTHM_MIGRATE_TO", hide_env_values = true)]
    pub to: String,
    /// Log output: `pretty` for terminals, `json` for log pipelines.
    #[arg(long, env = "RHYTHM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The file to write; it must not exist yet.
    pub target: PathBuf,
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Where the data lives: `postgres://…` for PostgreSQL, `sqlite:PATH` for an SQLite
    /// file. Unset: the embedded SQLite file `rhythm.db` in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory of the embedded store (used when DATABASE_URL is unset); created if missing.
    #[arg(long, env = "RHYTHM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Size of the connection pool (on SQLite: the read-only connections; writes go
    /// through one writer connection).
    #[arg(long, env = "RHYTHM_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Longest wait for a pooled connection before answering 503.
    #[arg(long, env = "RHYTHM_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3000)]
    pub db_acquire_timeout_ms: u64,
    /// Server-side limit on any one SQL statement (PostgreSQL only).
    #[arg(long, env = "RHYTHM_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub db_statement_timeout_ms: u64,
    /// Statements slower than this are logged at WARN.
    #[arg(long, env = "RHYTHM_SLOW_QUERY_MS", default_value_t = 100)]
    pub slow_query_ms: u64,
    /// Log output: `pretty` for terminals, `json` for log pipelines.
    #[arg(long, env = "RHYTHM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

impl DatabaseArgs {
    pub fn sqlite_settings(&self) -> rhythm_sqlite::SqliteSettings {
        rhythm_sqlite::SqliteSettings {
            read_connections: self.db_max_connections.max(1),
            acquire_timeout: Duration::from_millis(self.db_acquire_timeout_ms),
            ..rhythm_sqlite::SqliteSettings::default()
        }
    }

    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.db_max_connections.max(1),
            acquire_timeout: Duration::from_millis(self.db_acquire_timeout_ms),
            statement_timeout: Duration::from_millis(self.db_statement_timeout_ms),
            slow_statement_threshold: Duration::from_millis(self.slow_query_ms),
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "RHYTHM_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// HMAC secret for access tokens, at least 32 bytes. Unset: a random one per start
    /// (tokens die with the process; replicas disagree) — never for production.
    #[arg(long, env = "RHYTHM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Lifetime of access tokens.
    #[arg(long, env = "RHYTHM_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens.
    #[arg(long, env = "RHYTHM_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,
    /// Absolute lifetime of a session from its login: refreshing cannot extend it.
    #[arg(long, env = "RHYTHM_SESSION_MAX_AGE_SECS", default_value_t = 90 * 24 * 3600)]
    pub session_max_age_secs: u64,
    /// Whether anyone may register an account.
    #[arg(long, env = "RHYTHM_ALLOW_SIGNUP", default_value = "true", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub allow_signup: bool,
    /// Register/login attempts per minute per client address and per email; 0 turns it off.
    #[arg(long, env = "RHYTHM_AUTH_RATE_PER_MIN", default_value_t = 20)]
    pub auth_rate_per_min: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    #[arg(long, env = "RHYTHM_TRUST_FORWARDED_FOR", default_value = "false", action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub trust_forwarded_for: bool,
    /// Password hashes computed at once (each takes ~19 MiB and tens of ms of one core);
    /// default: one less than the number of cores, so sign-ins never starve other requests.
    #[arg(long, env = "RHYTHM_PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<usize>,
    /// Longest time a request may run before it is answered 503.
    #[arg(long, env = "RHYTHM_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// On SIGTERM, how long in-flight requests may take to finish.
    #[arg(long, env = "RHYTHM_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,
}

impl ServeArgs {
    pub fn settings(&self, jwt_secret: Vec<u8>) -> Settings {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Settings {
            http: HttpSettings {
                request_timeout: Duration::from_millis(self.request_timeout_ms.max(1)),
                trust_forwarded_for: self.trust_forwarded_for,
                ..HttpSettings::default()
            },
            auth: AuthConfig {
                jwt_secret,
                access_token_ttl: Duration::from_secs(self.access_token_ttl_secs.max(1)),
                refresh_token_ttl: Duration::from_secs(self.refresh_token_ttl_secs.max(1)),
                session_max_age: Duration::from_secs(self.session_max_age_secs.max(1)),
                allow_signup: self.allow_signup,
                rate_per_min: self.auth_rate_per_min,
                hash_concurrency: self
                    .password_hash_concurrency
                    .unwrap_or(cores.saturating_sub(1))
                    .max(1),
            },
        }
    }
}

/// The shortest accepted access-token secret: HS256 wants a key as long as its output.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Where the JWT secret came from.
#[derive(Debug, PartialEq, Eq)]
pub enum JwtSecret {
    Configured(Vec<u8>),
    /// None was configured: a random one, valid for this process only.
    Ephemeral(Vec<u8>),
}

/// A configured secret must be long enough: a short one is a mistake to stop on, not to
/// paper over. Only a missing one falls back to a random per-start secret.
pub fn resolve_jwt_secret(configured: Option<&str>) -> Result<JwtSecret, String> {
    match configured {
        Some(secret) if secret.len() >= MIN_JWT_SECRET_BYTES => {
            Ok(JwtSecret::Configured(secret.as_bytes().to_vec()))
        }
        Some(secret) => Err(format!(
            "RHYTHM_JWT_SECRET is {} bytes; it must be at least {MIN_JWT_SECRET_BYTES}",
            secret.len()
        )),
        None => {
            let mut bytes = vec![0u8; 64];
            getrandom::fill(&mut bytes).map_err(|e| format!("no randomness available: {e}"))?;
            Ok(JwtSecret::Ephemeral(bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_missing_ones_replaced() {
        assert!(resolve_jwt_secret(Some("too-short")).is_err());
        let long = "x".repeat(32);
        assert_eq!(resolve_jwt_secret(Some(&long)), Ok(JwtSecret::Configured(long.into_bytes())));
        match resolve_jwt_secret(None) {
            Ok(JwtSecret::Ephemeral(bytes)) => assert_eq!(bytes.len(), 64),
            other => panic!("expected an ephemeral secret, got {other:?}"),
        }
    }

    #[test]
    fn environment_configures_the_server() {
        let cli = Cli::try_parse_from([
            "rhythm",
            "serve",
            "--database-url",
            "postgres://localhost/rhythm",
            "--allow-signup",
            "false",
            "--bind",
            "0.0.0.0:9000",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else { panic!("expected serve") };
        assert!(!args.allow_signup);
        assert_eq!(args.bind.port(), 9000);
        assert_eq!(args.auth_rate_per_min, 20);
        assert_eq!(args.db.slow_query_ms, 100);
    }
}
