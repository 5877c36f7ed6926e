//! The PostgreSQL search walk at a size where its windows matter: a project filled in one
//! statement (through the ports this would take minutes), searched through the port.

use rhythm_domain::issue::IssueFilter;
use rhythm_domain::pagination::{Limit, PageRequest};
use rhythm_domain::ports::SearchRepository;
use rhythm_domain::search::SearchQuery;
use rhythm_domain::values::{ProjectKey, ProjectRef};
use rhythm_postgres::PgStore;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// A member's project RHY with `count` issues: issue n is created n seconds after the first
/// and titled by `title`, a SQL expression in `n`. Returns the member.
async fn bulk_project(pool: &PgPool, count: i64, title: &str) -> Uuid {
    let user = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, 'ann@example.com', 'Ann', 'x')")
        .bind(user)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "WITH p AS (INSERT INTO projects (id, key, name) VALUES ($2, 'RHY', 'Rhythm') RETURNING id)
         INSERT INTO project_members (project_id, user_id, role) SELECT id, $1, 'owner' FROM p",
    )
    .bind(user)
    .bind(Uuid::now_v7())
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH p AS (UPDATE projects SET issue_counter = $2 WHERE key = 'RHY' RETURNING id)
         INSERT INTO issues (id, project_id, number, title, reporter_id, rank, created_at, updated_at)
         SELECT gen_random_uuid(), p.id, n, {title}, $1, rhythm_rank_for_position(n),
                now() - make_interval(secs => ($2 - n + 60)::float8),
                now() - make_interval(secs => ($2 - n + 60)::float8)
         FROM p CROSS JOIN generate_series(1, $2) AS n"
    )))
    .bind(user)
    .bind(count)
    .execute(pool)
    .await
    .unwrap();
    user
}

/// Every page of a search of RHY, as issue numbers in the order they came.
async fn walk_numbers(store: &PgStore, user: Uuid, q: &str) -> Vec<i64> {
    let filter =
        IssueFilter { text: Some(SearchQuery::parse(q).unwrap()), ..IssueFilter::default() };
    let project = ProjectRef::Key(ProjectKey::parse("RHY").unwrap());
    let as_of = OffsetDateTime::now_utc();
    let mut page = PageRequest::first(Limit::new(100).unwrap());
    let mut numbers = Vec::new();
    loop {
        let found = store.search(user, Some(project.clone()), &filter, &page, as_of).await;
        let found = found.unwrap().unwrap();
        numbers.extend(found.items.iter().map(|h| h.issue.number));
        match found.next {
            Some(next) => page.after = Some(next),
            None => return numbers,
        }
    }
}

/// Past the first walk over a project's newest issues, a word of a few percent is found by
/// walking further and a rare word through the index; either way the ranked candidates are
/// the project's newest matches, at most 300 (`docs/api.md` → Search).
#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn ranking_covers_the_newest_matches_beyond_the_first_walk(pool: PgPool) {
    // 8 000 issues: "kernel" in every 25th (320, 4 %: the first walk of 6 000 rows finds 240,
    // short of 300), "zebra" in every 500th (16, too rare for a bounded walk).
    let user = bulk_project(
        &pool,
        8000,
        "CASE WHEN n % 500 = 0 THEN 'Zebra crossing ' WHEN n % 25 = 0 THEN 'Kernel panic '
              ELSE 'Routine chore ' END || n",
    )
    .await;
    let store = PgStore::for_sqlx_pool(&pool).unwrap();
    let kernel = walk_numbers(&store, user, "kernel").await;
    let newest: Vec<i64> =
        (1..=8000).rev().filter(|n| n % 25 == 0 && n % 500 != 0).take(300).collect();
    assert_eq!(kernel, newest, "equal scores: newest first, exactly the 300 newest matches");

    let zebra = walk_numbers(&store, user, "zebra").await;
    let all: Vec<i64> = (1..=8000).rev().filter(|n| n % 500 == 0).collect();
    assert_eq!(zebra, all);
}

/// A word common among the newest issues but rare in older ones: the second walk, sized by the
/// density the first one saw, ends short, and the index still finds the old matches — with no
/// more than 300 matches, every one is ranked.
#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn a_word_rarer_in_older_issues_is_still_found_in_full(pool: PgPool) {
    // 20 000 issues: "omega" in every 40th of the newest 6 000 (150, so the second walk is
    // sized to 9 000 more rows), none in the 9 000 after those, and in 10 of the oldest 100.
    let user = bulk_project(
        &pool,
        20_000,
        "CASE WHEN (n > 14000 AND n % 40 = 0) OR (n <= 100 AND n % 10 = 0) THEN 'Omega release '
              ELSE 'Routine chore ' END || n",
    )
    .await;
    let found = walk_numbers(&PgStore::for_sqlx_pool(&pool).unwrap(), user, "omega").await;
    let all: Vec<i64> = (1..=20_000)
        .rev()
        .filter(|n| (*n > 14_000 && n % 40 == 0) || (*n <= 100 && n % 10 == 0))
        .collect();
    assert_eq!(found.len(), 160);
    assert_eq!(found, all, "all 160 matches, newest first");
}
