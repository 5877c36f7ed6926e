//! `cargo xtask seed`: the benchmark's data set through PostgreSQL's bulk paths
//! (set-based `INSERT … SELECT`), deterministic for a given seed.
//!
//! The SQL lives in `xtask/sql/seed.sql`; the vocabulary its titles and descriptions are
//! drawn from (Zipf-distributed, most common first) in `xtask/sql/vocabulary.txt`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use sqlx::{Connection, PgConnection};

/// A search term chosen for a frequency band.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Term {
    pub band: String,
    pub term: String,
    pub matches: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub issues: i64,
    pub projects: i64,
    pub users: i64,
    pub memberships: i64,
    pub sprints: i64,
    pub largest_project: (String, i64),
    pub terms: Vec<Term>,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The seed script with its parameters filled in.
pub fn script(root: &Path, issues: u64, seed: u64) -> anyhow::Result<String> {
    let sql_dir = root.join("xtask").join("sql");
    let sql =
        std::fs::read_to_string(sql_dir.join("seed.sql")).context("reading xtask/sql/seed.sql")?;
    let words = std::fs::read_to_string(sql_dir.join("vocabulary.txt"))
        .context("reading xtask/sql/vocabulary.txt")?;
    let mut vocabulary = Vec::new();
    for word in words.lines().map(str::trim).filter(|w| !w.is_empty()) {
        // The script splices the words into SQL: only plain lowercase words may pass.
        ensure!(
            word.bytes().all(|b| b.is_ascii_lowercase()),
            "vocabulary word {word:?} is not plain lowercase"
        );
        vocabulary.push(format!("'{word}'"));
    }
    ensure!(!vocabulary.is_empty(), "the vocabulary is empty");
    Ok(sql
        .replace("{{ISSUES}}", &issues.to_string())
        .replace("{{SEED}}", &seed.to_string())
        .replace("{{VOCABULARY}}", &vocabulary.join(",")))
}

/// Migrates the database at `url` and fills it with the data set.
pub async fn seed(root: &Path, url: &str, issues: u64, seed: u64) -> anyhow::Result<Report> {
    let script = script(root, issues, seed)?;
    let mut conn = PgConnection::connect(url)
        .await
        .with_context(|| format!("connecting to {}", crate::db::redact(url)))?;
    rhythm_postgres::MIGRATOR.run(&mut conn).await.context("migrating")?;
    let started = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(script))
        .execute(&mut conn)
        .await
        .context("running the seed script")?;
    let elapsed = started.elapsed();
    report(&mut conn, elapsed).await
}

/// What the database holds now.
pub async fn report(conn: &mut PgConnection, elapsed: Duration) -> anyhow::Result<Report> {
    let count = |table: &'static str| {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
    };
    let largest: (String, i64) = sqlx::query_as(
        "SELECT key, issue_counter FROM projects ORDER BY issue_counter DESC, key LIMIT 1",
    )
    .fetch_one(&mut *conn)
    .await?;
    let terms: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT band, term, matches FROM bench_terms ORDER BY matches")
            .fetch_all(&mut *conn)
            .await?;
    Ok(Report {
        issues: count("issues").fetch_one(&mut *conn).await?,
        projects: count("projects").fetch_one(&mut *conn).await?,
        users: count("users").fetch_one(&mut *conn).await?,
        memberships: count("project_members").fetch_one(&mut *conn).await?,
        sprints: count("sprints").fetch_one(&mut *conn).await?,
        largest_project: largest,
        terms: terms
            .into_iter()
            .map(|(band, term, matches)| Term { band, term, matches })
            .collect(),
        elapsed,
    })
}

pub fn print(report: &Report) {
    println!(
        "seeded {} issues, {} projects (largest {} with {}), {} users, {} memberships, {} sprints in {:.1} s",
        report.issues,
        report.projects,
        report.largest_project.0,
        report.largest_project.1,
        report.users,
        report.memberships,
        report.sprints,
        report.elapsed.as_secs_f64()
    );
    for term in &report.terms {
        println!("  search band {:>7}: {:<16} {:>8} matches", term.band, term.term, term.matches);
    }
}
