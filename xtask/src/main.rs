//! `cargo xtask <command>`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `run`      serve the API (embedded SQLite in `./data`, or `DATABASE_URL`)
//! - `migrate`  apply migrations to `DATABASE_URL` (default: the embedded store)
//! - `test`     the whole suite: format check, clippy `-D warnings`, every test on PostgreSQL
//! - `seed`     the benchmark data set (1M issues by default) into `DATABASE_URL`
//! - `bench`    the benchmark workloads on a tuned cluster of their own
//! - `chaos`    break PostgreSQL under a running server; check clean 503s and self-recovery
//! - `soak`     steady load for N minutes: flat memory, bounded connections, no errors
//! - `conformance` fuzz the API against its OpenAPI document with schemathesis
//! - `screenshot` render `/docs` in headless Chromium into `docs/images/api-docs.png`
//! - `ci`       what `.ci/run` runs: `test` plus the harness smoke checks

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod chaos;
mod chaos_sqlite;
mod cluster;
mod conformance;
mod db;
mod floor;
mod load;
mod profile;
mod python;
mod screenshot;
mod seed;
mod server;

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use xshell::{Shell, cmd};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Rhythm project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API: on `DATABASE_URL` when set (a PostgreSQL database is created if
    /// missing), else on the embedded SQLite store in `./data` (nothing to install).
    Run {
        /// Build with optimizations.
        #[arg(long)]
        release: bool,
    },
    /// Apply pending migrations to `DATABASE_URL` (default: the embedded store in `./data`).
    Migrate,
    /// Format check, clippy -D warnings, then every test against PostgreSQL.
    Test,
    /// Fill `DATABASE_URL` (default: local `rhythm_bench`) with the benchmark data set.
    Seed {
        #[arg(long, default_value_t = 1_000_000)]
        issues: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Run the benchmark workloads (W1–W9) against a release build on a tuned PostgreSQL
    /// cluster kept under target/bench/; writes target/bench/<time>.json.
    Bench {
        /// Only these workloads (W1 … W8); all by default.
        #[arg(long, value_delimiter = ',')]
        workload: Vec<String>,
        /// Seconds per measured phase.
        #[arg(long, default_value_t = 15)]
        duration: u64,
        #[arg(long, default_value_t = 1_000_000)]
        issues: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Small data, a few seconds per workload, debug build: checks the harness itself.
        #[arg(long)]
        smoke: bool,
        /// Also sample the server with `perf` under W1: a flame graph and a self-time list in
        /// target/bench/profile-W1.*.
        #[arg(long)]
        profile: bool,
        /// `sqlite`: after PostgreSQL, run W1, W2, W4, W6, W7 and W8 on the embedded store
        /// too, on an SQLite copy of the same data set (use with `--issues 100000`).
        #[arg(long, value_enum, default_value_t = BenchStore::Postgres)]
        store: BenchStore,
    },
    /// Stop and kill PostgreSQL under a running server; every answer must be a clean 503
    /// and service must resume by itself. Uses its own throwaway cluster.
    Chaos {
        /// Seconds each fault lasts.
        #[arg(long, default_value_t = 10)]
        fault_secs: u64,
    },
    /// Fuzz the running API against its OpenAPI document with schemathesis (installed from
    /// PyPI into target/conformance-venv).
    Conformance {
        /// Seed of the generated inputs (CI uses the default).
        #[arg(long, default_value_t = conformance::SEED)]
        seed: u64,
        /// Test cases per API operation.
        #[arg(long, default_value_t = conformance::EXAMPLES)]
        max_examples: u32,
    },
    /// Render the `/docs` page in headless Chromium into docs/images/api-docs.png (installs
    /// Debian's chromium package through apt when missing and running as root).
    Screenshot,
    /// Steady mixed load for N minutes on a release build: RSS must stay flat, connections
    /// within the pool, every answer a success.
    Soak {
        #[arg(long, default_value_t = 10)]
        minutes: u64,
    },
    /// Everything CI checks.
    Ci,
}

/// Which stores `cargo xtask bench` measures.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BenchStore {
    /// PostgreSQL only.
    Postgres,
    /// PostgreSQL, then the embedded store on the same data.
    Sqlite,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sh = Shell::new()?;
    sh.change_dir(workspace_root());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match cli.command {
        Command::Run { release } => {
            let cargo = cargo();
            let profile: &[&str] = if release { &["--release"] } else { &[] };
            let serve =
                cmd!(sh, "{cargo} run {profile...} --package rhythm-server --bin rhythm -- serve");
            // No DATABASE_URL: the embedded store in ./data, nothing else to run.
            match std::env::var("DATABASE_URL").ok().filter(|u| !u.trim().is_empty()) {
                Some(url) if url.starts_with("postgres") => {
                    runtime.block_on(prepare_database(&url))?;
                    serve.env("DATABASE_URL", &url).run()?;
                }
                Some(url) => serve.env("DATABASE_URL", &url).run()?,
                None => serve.env_remove("DATABASE_URL").run()?,
            }
        }
        Command::Migrate => {
            let cargo = cargo();
            let migrate = cmd!(sh, "{cargo} run --package rhythm-server --bin rhythm -- migrate");
            match std::env::var("DATABASE_URL").ok().filter(|u| !u.trim().is_empty()) {
                Some(url) if url.starts_with("postgres") => {
                    runtime.block_on(prepare_database(&url))?;
                    migrate.env("DATABASE_URL", &url).run()?;
                }
                Some(url) => migrate.env("DATABASE_URL", &url).run()?,
                None => migrate.env_remove("DATABASE_URL").run()?,
            }
        }
        Command::Test => test(&sh, &runtime)?,
        Command::Seed { issues, seed } => {
            let url = db::url_or_default("rhythm_bench");
            runtime.block_on(prepare_database(&url))?;
            let report = runtime.block_on(seed::seed(&workspace_root(), &url, issues, seed))?;
            seed::print(&report);
        }
        Command::Bench { smoke: false, .. } if cfg!(debug_assertions) => {
            // The load generator shares the two cores with the server and the database: an
            // unoptimized one would take CPU time the figures are about.
            eprintln!("bench: running the load generator as a release build");
            let cargo = cargo();
            let args: Vec<String> = std::env::args().skip(1).collect();
            cmd!(sh, "{cargo} run --release --locked --package xtask -- {args...}").run()?;
        }
        Command::Bench { workload, duration, issues, seed, smoke, profile, store } => {
            let sqlite = store == BenchStore::Sqlite;
            let options = if smoke {
                bench::Options {
                    workloads: workload,
                    duration: Duration::from_secs(2),
                    smoke,
                    issues: 10_000,
                    seed,
                    profile,
                    sqlite,
                }
            } else {
                bench::Options {
                    workloads: workload,
                    duration: Duration::from_secs(duration),
                    smoke,
                    issues,
                    seed,
                    profile,
                    sqlite,
                }
            };
            bench::run(&sh, &options)?;
        }
        Command::Chaos { fault_secs } => chaos::run(&sh, &chaos::Options { fault_secs })?,
        Command::Soak { minutes } => chaos::soak(&sh, minutes)?,
        Command::Screenshot => screenshot::run(&sh, &runtime)?,
        Command::Conformance { seed, max_examples } => {
            conformance::run(&sh, &runtime, &conformance::Options { seed, max_examples })?;
        }
        Command::Ci => {
            test(&sh, &runtime)?;
            step("chaos (short)");
            chaos::run(&sh, &chaos::Options { fault_secs: 3 })?;
            step("bench (smoke)");
            bench::run(
                &sh,
                &bench::Options {
                    workloads: Vec::new(),
                    duration: Duration::from_secs(2),
                    smoke: true,
                    issues: 10_000,
                    seed: 42,
                    profile: false,
                    sqlite: true,
                },
            )?;
            step("conformance (schemathesis)");
            let options = conformance::Options {
                seed: conformance::SEED,
                max_examples: conformance::EXAMPLES,
            };
            conformance::run(&sh, &runtime, &options)?;
            eprintln!("ci: all checks passed");
        }
    }
    Ok(())
}

async fn prepare_database(url: &str) -> anyhow::Result<()> {
    db::ensure_reachable(url).await?;
    db::ensure_database(url).await
}

fn test(sh: &Shell, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let cargo = cargo();
    step("format check");
    cmd!(sh, "{cargo} fmt --all -- --check")
        .run()
        .context("run `cargo fmt --all` to fix formatting")?;
    step("clippy");
    cmd!(sh, "{cargo} clippy --workspace --all-targets --locked -- -D warnings").run()?;
    step("dependency rule");
    domain_stays_pure(sh)?;

    // Tests make one fresh database per test on this server (`#[sqlx::test]`); the database
    // named here only holds their bookkeeping.
    let url = db::url_or_default("rhythm_test");
    runtime.block_on(prepare_database(&url))?;
    step("tests");
    if cmd!(sh, "{cargo} nextest --version").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        cmd!(sh, "{cargo} nextest run --workspace --locked --no-fail-fast")
            .env("DATABASE_URL", &url)
            .run()?;
    } else {
        eprintln!(
            "cargo-nextest not found; falling back to `cargo test` (install: cargo install cargo-nextest --locked)"
        );
        cmd!(sh, "{cargo} test --workspace --locked --no-fail-fast")
            .env("DATABASE_URL", &url)
            .run()?;
    }
    Ok(())
}

/// Crates the domain must never depend on, directly or not: it holds no I/O.
const FORBIDDEN_IN_DOMAIN: &[&str] =
    &["sqlx", "sqlx-core", "axum", "hyper", "tokio", "mio", "reqwest", "tower"];

/// Crates the HTTP adapter must never depend on: it knows the domain, not a store.
const FORBIDDEN_IN_API: &[&str] = &["sqlx", "sqlx-core", "rhythm-postgres", "rhythm-sqlite"];

/// Fails when `rhythm-domain`'s normal dependency tree reaches a database, HTTP or async I/O
/// crate, or `rhythm-api`'s reaches a storage adapter or driver: the hexagon's dependency
/// rule, checked on every test run.
fn domain_stays_pure(sh: &Shell) -> anyhow::Result<()> {
    for (package, forbidden) in [
        ("rhythm-domain", FORBIDDEN_IN_DOMAIN),
        ("rhythm-api", FORBIDDEN_IN_API),
        // The contract suite is written against the ports, for any adapter.
        ("rhythm-store-tests", FORBIDDEN_IN_API),
    ] {
        let offending = forbidden_dependencies(sh, package, forbidden)?;
        if !offending.is_empty() {
            anyhow::bail!("{package} must not depend on {offending:?} (the dependency rule)");
        }
        eprintln!("{package} depends on none of {forbidden:?}");
    }
    Ok(())
}

/// Which of `forbidden` the normal dependency tree of `package` holds.
fn forbidden_dependencies(
    sh: &Shell,
    package: &str,
    forbidden: &[&str],
) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let cargo = cargo();
    let tree =
        cmd!(sh, "{cargo} tree -p {package} -e normal --prefix none --locked").quiet().read()?;
    Ok(tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| forbidden.contains(name))
        .map(str::to_owned)
        .collect())
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn workspace_root() -> std::path::PathBuf {
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}
