//! `cargo xtask seed`: the benchmark data set, deterministic for a given seed, through
//! PostgreSQL's bulk path (`COPY`).
//!
//! The rows are generated here (one pseudo-random stream per project, so the result does
//! not depend on scheduling) and streamed over two connections at once; the issues' plain
//! indexes are dropped for the load and rebuilt afterwards, two at a time. Titles and
//! descriptions draw from `xtask/data/vocabulary.txt` (real English words, most frequent
//! first) with a Zipf distribution steep enough that words exist at every frequency, from
//! nearly every issue down to a handful.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use fastrand::Rng;
use rhythm_domain::rank;
use sqlx::postgres::PgPoolCopyExt;
use sqlx::{Connection, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

const USERS: usize = 2000;
const PROJECTS: usize = 200;
/// Projects with sprints, four each: two closed, one active, one planned.
const SPRINT_PROJECTS: usize = 100;
/// Exponent of the words' Zipf distribution: the rarest words land in a handful of issues
/// of a million, the most common in nearly all.
const ZIPF_EXPONENT: f64 = 1.85;
/// Exponent of the projects' sizes: the largest holds about 7% of all issues.
const SIZE_EXPONENT: f64 = 0.7;
/// The password of every seeded user.
pub const PASSWORD: &str = "bench-password-1";
/// Search bands: target match counts at one million issues (scaled to the data set).
const BANDS: [i64; 5] = [5, 5_000, 30_000, 150_000, 900_000];

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

struct Vocabulary {
    words: Vec<String>,
    /// Cumulative probabilities of the Zipf distribution over `words`.
    cdf: Vec<f64>,
}

impl Vocabulary {
    fn load(root: &Path) -> anyhow::Result<Self> {
        let path = root.join("xtask").join("data").join("vocabulary.txt");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let words: Vec<String> =
            text.lines().map(str::trim).filter(|w| !w.is_empty()).map(str::to_owned).collect();
        ensure!(words.len() >= 100, "the vocabulary is too small");
        let weights: Vec<f64> =
            (1..=words.len()).map(|k| (k as f64).powf(-ZIPF_EXPONENT)).collect();
        let total: f64 = weights.iter().sum();
        let mut running = 0.0;
        let cdf = weights.iter().map(|w| {
            running += w / total;
            running
        });
        Ok(Self { cdf: cdf.collect(), words })
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.f64();
        self.cdf.partition_point(|c| *c < u).min(self.words.len() - 1)
    }
}

/// Issue titles made of the seeding vocabulary, for the benchmark's writes.
pub struct Titles(Vocabulary);

impl Titles {
    pub fn load(root: &Path) -> anyhow::Result<Self> {
        Ok(Self(Vocabulary::load(root)?))
    }

    /// A title of 4–10 words, the same for the same `seed`.
    pub fn title(&self, seed: u64) -> String {
        let mut rng = Rng::with_seed(seed);
        let words = 4 + rng.usize(0..7);
        let title: Vec<&str> =
            (0..words).map(|_| self.0.words[self.0.sample(&mut rng)].as_str()).collect();
        title.join(" ")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Owner,
    Maintainer,
    Member,
    Viewer,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Maintainer => "maintainer",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }
}

struct Project {
    id: Uuid,
    key: String,
    size: u64,
    /// (user index, role).
    members: Vec<(usize, Role)>,
    /// (sprint id, state).
    sprints: Vec<(Uuid, &'static str)>,
}

impl Project {
    /// Members who may work on issues (member or stronger), most active first.
    fn workers(&self) -> Vec<usize> {
        self.members.iter().filter(|(_, r)| *r != Role::Viewer).map(|(u, _)| *u).collect()
    }
}

fn uuid(rng: &mut Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.u128(..).to_le_bytes()).into_uuid()
}

fn pick_weighted<T: Copy>(rng: &mut Rng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|(_, w)| w).sum();
    let mut x = rng.u32(0..total.max(1));
    for (choice, weight) in choices {
        if x < *weight {
            return *choice;
        }
        x -= weight;
    }
    choices[0].0
}

/// Users, projects with their sizes, memberships and sprints.
fn plan(issues: u64, seed: u64) -> (Vec<Uuid>, Vec<Project>) {
    let mut rng = Rng::with_seed(seed);
    let users: Vec<Uuid> = (0..USERS).map(|_| uuid(&mut rng)).collect();
    let weights: Vec<f64> = (1..=PROJECTS).map(|i| (i as f64).powf(-SIZE_EXPONENT)).collect();
    let total: f64 = weights.iter().sum();
    let mut sizes: Vec<u64> =
        weights.iter().map(|w| ((w / total) * issues as f64).floor().max(1.0) as u64).collect();
    let assigned: u64 = sizes.iter().sum();
    sizes[0] += issues.saturating_sub(assigned);
    let mut projects: Vec<Project> = sizes
        .iter()
        .enumerate()
        .map(|(i, size)| Project {
            id: uuid(&mut rng),
            key: format!("P{:03}", i + 1),
            size: *size,
            members: Vec::new(),
            sprints: Vec::new(),
        })
        .collect();
    // Every project gets an owner; then each user joins 3 to 30 projects, bigger ones more
    // often.
    for (i, project) in projects.iter_mut().enumerate() {
        project.members.push(((i * 7) % USERS, Role::Owner));
    }
    let pull: Vec<f64> = sizes.iter().map(|s| (*s as f64).powf(0.6)).collect();
    let pull_total: f64 = pull.iter().sum();
    for user in 0..USERS {
        let wanted = 3 + rng.usize(0..28);
        let mut attempts = 0;
        let mut joined = 0;
        while joined < wanted && attempts < wanted * 20 {
            attempts += 1;
            let mut x = rng.f64() * pull_total;
            let mut index = 0;
            while index + 1 < pull.len() && x >= pull[index] {
                x -= pull[index];
                index += 1;
            }
            if projects[index].members.iter().any(|(u, _)| *u == user) {
                continue;
            }
            let role = pick_weighted(
                &mut rng,
                &[(Role::Owner, 5), (Role::Maintainer, 15), (Role::Member, 55), (Role::Viewer, 25)],
            );
            projects[index].members.push((user, role));
            joined += 1;
        }
    }
    for project in projects.iter_mut().take(SPRINT_PROJECTS) {
        for state in ["closed", "closed", "active", "planned"] {
            project.sprints.push((uuid(&mut rng), state));
        }
    }
    (users, projects)
}

const TWO_YEARS: i64 = 730 * 24 * 3600;

fn timestamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn opt(value: Option<String>) -> String {
    value.unwrap_or_else(|| "\\N".to_owned())
}

/// The issues of one project in COPY text format, counting each word's issues.
fn issue_rows(
    project: &Project,
    users: &[Uuid],
    vocabulary: &Vocabulary,
    seed: u64,
    now: OffsetDateTime,
    counts: &mut [u32],
    out: &mut String,
) {
    let mut rng = Rng::with_seed(
        seed ^ u64::from_le_bytes(project.id.as_bytes()[..8].try_into().unwrap_or([0; 8])),
    );
    let workers = project.workers();
    let start = now - time::Duration::seconds(TWO_YEARS);
    let active = project.sprints.iter().find(|(_, s)| *s == "active").map(|(id, _)| *id);
    let planned = project.sprints.iter().find(|(_, s)| *s == "planned").map(|(id, _)| *id);
    let closed: Vec<Uuid> =
        project.sprints.iter().filter(|(_, s)| *s == "closed").map(|(id, _)| *id).collect();
    let mut words_in_issue: Vec<usize> = Vec::with_capacity(80);
    for number in 1..=project.size {
        let age = number as f64 / project.size as f64; // 0 oldest … 1 newest
        let resolved = rng.f64() < 0.75 * (1.0 - age) + 0.05;
        let status = if resolved {
            if rng.u32(0..100) < 85 { "done" } else { "cancelled" }
        } else {
            pick_weighted(
                &mut rng,
                &[("backlog", 25), ("todo", 40), ("in_progress", 20), ("in_review", 15)],
            )
        };
        let priority = pick_weighted(&mut rng, &[(0u8, 30), (1, 25), (2, 25), (3, 15), (4, 5)]);
        let issue_type =
            pick_weighted(&mut rng, &[("task", 50), ("bug", 30), ("feature", 15), ("story", 5)]);
        let assignee = (rng.u32(0..100) < 80 && !workers.is_empty()).then(|| {
            workers[((rng.f64().powi(2)) * workers.len() as f64) as usize % workers.len()]
        });
        let reporter = if workers.is_empty() {
            project.members[0].0
        } else {
            workers[rng.usize(0..workers.len())]
        };
        let sprint = match (resolved, rng.u32(0..100)) {
            (true, x) if x < 50 && !closed.is_empty() => Some(closed[x as usize % closed.len()]),
            (false, x) if x < 30 => active,
            (false, x) if x < 40 => planned,
            _ => None,
        };
        let points = (rng.u32(0..100) < 60).then(|| [1, 2, 3, 5, 8, 13][rng.usize(0..6)]);
        let created =
            start + time::Duration::seconds((age * TWO_YEARS as f64) as i64 - rng.i64(0..3600));
        let room = (now - created).whole_seconds().clamp(1, 30 * 24 * 3600);
        let updated = created + time::Duration::seconds(rng.i64(0..room));
        let deleted = rng.u32(0..100) < 2;

        words_in_issue.clear();
        let title_len = 4 + rng.usize(0..7);
        let mut title = String::with_capacity(title_len * 8);
        for i in 0..title_len {
            let w = vocabulary.sample(&mut rng);
            words_in_issue.push(w);
            let word = &vocabulary.words[w];
            if i == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    title.extend(first.to_uppercase());
                    title.push_str(chars.as_str());
                }
            } else {
                title.push(' ');
                title.push_str(word);
            }
        }
        let description_len = 20 + rng.usize(0..41);
        let mut description = String::with_capacity(description_len * 8);
        for i in 0..description_len {
            let w = vocabulary.sample(&mut rng);
            words_in_issue.push(w);
            if i > 0 {
                description.push_str(if i % 11 == 0 { ". " } else { " " });
            }
            description.push_str(&vocabulary.words[w]);
        }
        description.push('.');
        if !deleted {
            words_in_issue.sort_unstable();
            words_in_issue.dedup();
            for w in &words_in_issue {
                counts[*w] += 1;
            }
        }
        let _ = writeln!(
            out,
            "{}\t{}\t{number}\t{title}\t{description}\t{status}\t{priority}\t{issue_type}\t{}\t{}\t{}\t{}\t{}\t1\t{}\t{}\t{}\t{}",
            uuid(&mut rng),
            project.id,
            opt(assignee.map(|u| users[u].to_string())),
            users[reporter],
            opt(sprint.map(|s| s.to_string())),
            opt(points.map(|p: u32| p.to_string())),
            rank::for_position(i64::try_from(number).unwrap_or(i64::MAX)),
            timestamp(created),
            timestamp(updated),
            opt(resolved.then(|| timestamp(updated))),
            opt(deleted.then(|| timestamp(updated))),
        );
    }
}

/// Streams `projects`' issues into the database.
async fn copy_issues(
    pool: PgPool,
    projects: Vec<usize>,
    plan: std::sync::Arc<(Vec<Uuid>, Vec<Project>)>,
    vocabulary: std::sync::Arc<Vocabulary>,
    seed: u64,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<u32>> {
    let mut counts = vec![0u32; vocabulary.words.len()];
    let mut copy = pool
        .copy_in_raw(
            "COPY issues (id, project_id, number, title, description, status, priority, type, assignee_id, reporter_id, \
             sprint_id, story_points, rank, version, created_at, updated_at, resolved_at, deleted_at) FROM STDIN",
        )
        .await?;
    let mut buffer = String::with_capacity(4 << 20);
    for index in projects {
        let project = &plan.1[index];
        issue_rows(project, &plan.0, &vocabulary, seed, now, &mut counts, &mut buffer);
        if buffer.len() > (2 << 20) {
            copy.send(std::mem::take(&mut buffer).into_bytes()).await?;
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.into_bytes()).await?;
    }
    copy.finish().await?;
    Ok(counts)
}

async fn copy_rows(conn: &mut PgConnection, statement: &str, rows: String) -> anyhow::Result<()> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(rows.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// Migrates the database at `url` and replaces its contents with the data set.
pub async fn seed(root: &Path, url: &str, issues: u64, seed: u64) -> anyhow::Result<Report> {
    let started = Instant::now();
    let vocabulary = std::sync::Arc::new(Vocabulary::load(root)?);
    let mut conn = PgConnection::connect(url)
        .await
        .with_context(|| format!("connecting to {}", crate::db::redact(url)))?;
    rhythm_postgres::MIGRATOR.run(&mut conn).await.context("migrating")?;
    let password_hash = {
        use argon2::password_hash::PasswordHasher;
        let params =
            argon2::Params::new(19 * 1024, 2, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password_with_salt(PASSWORD.as_bytes(), b"rhythm-bench-salt")
            .map_err(|e| anyhow::anyhow!("hashing the bench password: {e}"))?
            .to_string()
    };
    let plan = std::sync::Arc::new(plan(issues, seed));
    let (users, projects) = (&plan.0, &plan.1);
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());

    sqlx::raw_sql(
        "TRUNCATE users, refresh_tokens, projects, project_members, sprints, issues, issue_events CASCADE;
         DROP TABLE IF EXISTS bench_terms;",
    )
    .execute(&mut conn)
    .await?;
    // The issues' plain indexes are rebuilt after the load: faster than maintaining them
    // row by row. Constraint indexes (primary key, unique) stay.
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i
         WHERE i.schemaname = 'public' AND i.tablename = 'issues'
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
    )
    .fetch_all(&mut conn)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {name}"))).execute(&mut conn).await?;
    }

    let mut rows = String::new();
    for (i, id) in users.iter().enumerate() {
        let _ = writeln!(
            rows,
            "{id}\tuser{:04}@bench.rhythm.test\tUser {:04}\t{password_hash}",
            i + 1,
            i + 1
        );
    }
    copy_rows(&mut conn, "COPY users (id, email, name, password_hash) FROM STDIN", rows).await?;
    let mut rows = String::new();
    for project in projects {
        let _ = writeln!(
            rows,
            "{}\t{}\tProject {}\tBenchmark project {}\t{}",
            project.id, project.key, project.key, project.key, project.size
        );
    }
    copy_rows(
        &mut conn,
        "COPY projects (id, key, name, description, issue_counter) FROM STDIN",
        rows,
    )
    .await?;
    let mut rows = String::new();
    for project in projects {
        for (user, role) in &project.members {
            let _ = writeln!(rows, "{}\t{}\t{}", project.id, users[*user], role.name());
        }
    }
    copy_rows(&mut conn, "COPY project_members (project_id, user_id, role) FROM STDIN", rows)
        .await?;
    let mut rows = String::new();
    for project in projects {
        for (n, (id, state)) in project.sprints.iter().enumerate() {
            let weeks_ago = 2 * (4 - n as i64);
            let starts = (now - time::Duration::weeks(weeks_ago)).date();
            let ends = starts + time::Duration::days(13);
            let started =
                (*state != "planned").then(|| timestamp(now - time::Duration::weeks(weeks_ago)));
            let completed =
                (*state == "closed").then(|| timestamp(now - time::Duration::weeks(weeks_ago - 2)));
            let _ = writeln!(
                rows,
                "{id}\t{}\tSprint {}\tShip the next increment\t{starts}\t{ends}\t{state}\t{}\t{}",
                project.id,
                n + 1,
                opt(started),
                opt(completed)
            );
        }
    }
    copy_rows(
        &mut conn,
        "COPY sprints (id, project_id, name, goal, starts_on, ends_on, state, started_at, completed_at) FROM STDIN",
        rows,
    )
    .await?;

    // Two streams of issues, balanced by size, each on its own connection.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // Bulk-load settings for this session only; the data is generated valid,
                // so the per-row foreign-key and board-total triggers can rest (superusers
                // only; the totals are counted once afterwards).
                sqlx::raw_sql("SET synchronous_commit = off").execute(&mut *conn).await?;
                let _ = sqlx::raw_sql("SET session_replication_role = replica")
                    .execute(&mut *conn)
                    .await;
                Ok(())
            })
        })
        .connect(url)
        .await?;
    let mut order: Vec<usize> = (0..projects.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(projects[*i].size));
    let (mut left, mut right, mut left_size, mut right_size) = (Vec::new(), Vec::new(), 0, 0);
    for i in order {
        if left_size <= right_size {
            left_size += projects[i].size;
            left.push(i);
        } else {
            right_size += projects[i].size;
            right.push(i);
        }
    }
    let (a, b) = tokio::join!(
        copy_issues(pool.clone(), left, plan.clone(), vocabulary.clone(), seed, now),
        copy_issues(pool.clone(), right, plan.clone(), vocabulary.clone(), seed, now)
    );
    let mut counts = a?;
    for (total, more) in counts.iter_mut().zip(b?) {
        *total += more;
    }

    // Rebuild the indexes two at a time, the big full-text one first.
    let mut definitions: Vec<String> = indexes.into_iter().map(|(_, def)| def).collect();
    definitions.sort_by_key(|def| !def.contains("USING gin"));
    let (even, odd): (Vec<_>, Vec<_>) =
        definitions.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let build = |defs: Vec<(usize, String)>| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.acquire().await?;
            sqlx::raw_sql("SET maintenance_work_mem = '1GB'").execute(&mut *conn).await?;
            for (_, def) in defs {
                sqlx::query(sqlx::AssertSqlSafe(def)).execute(&mut *conn).await?;
            }
            anyhow::Ok(())
        }
    };
    let (x, y) = tokio::join!(build(even), build(odd));
    x?;
    y?;
    // The loading sessions ran without triggers: count the board totals once.
    sqlx::raw_sql("SELECT rhythm_recount_board_totals()").execute(&mut conn).await?;
    sqlx::raw_sql("ANALYZE").execute(&mut conn).await?;
    let terms = choose_terms(&mut conn, &vocabulary, &counts, issues).await?;
    pool.close().await;
    report(&mut conn, started.elapsed()).await.map(|mut r| {
        r.terms = terms;
        r
    })
}

/// For each band, the word whose matches come closest to the band's target (scaled to the
/// data set). Counts from generation guide the choice; the database's own count (after
/// stemming, which merges some words) decides.
async fn choose_terms(
    conn: &mut PgConnection,
    vocabulary: &Vocabulary,
    counts: &[u32],
    issues: u64,
) -> anyhow::Result<Vec<Term>> {
    sqlx::raw_sql("CREATE TABLE bench_terms (band text PRIMARY KEY, term text NOT NULL, matches bigint NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let scale = issues as f64 / 1_000_000.0;
    let mut terms = Vec::new();
    for band in BANDS {
        let target = ((band as f64) * scale).round().max(1.0) as i64;
        let mut candidates: Vec<usize> = (0..counts.len()).collect();
        candidates.sort_by_key(|w| (i64::from(counts[*w]) - target).abs());
        let mut best: Option<(String, i64)> = None;
        for w in candidates.into_iter().take(4) {
            let word = &vocabulary.words[w];
            let matches: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM issues WHERE deleted_at IS NULL AND search @@ to_tsquery('english', $1)",
            )
            .bind(word)
            .fetch_one(&mut *conn)
            .await?;
            if best.as_ref().is_none_or(|(_, m)| (matches - target).abs() < (m - target).abs()) {
                best = Some((word.clone(), matches));
            }
        }
        let (term, matches) = best.context("no candidate terms")?;
        sqlx::query("INSERT INTO bench_terms VALUES ($1, $2, $3)")
            .bind(band.to_string())
            .bind(&term)
            .bind(matches)
            .execute(&mut *conn)
            .await?;
        terms.push(Term { band: band.to_string(), term, matches });
    }
    Ok(terms)
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
