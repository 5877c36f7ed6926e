//! The schema itself refuses impossible rows, whatever code writes them.

use sqlx::PgPool;
use uuid::Uuid;

async fn user(pool: &PgPool) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, 'U', 'h')")
        .bind(id)
        .bind(format!("{id}@example.com"))
        .execute(pool)
        .await
        .unwrap();
    id
}

async fn project(pool: &PgPool, key: &str) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO projects (id, key, name) VALUES ($1, $2, 'P')")
        .bind(id)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(id)
}

fn constraint_of(err: &sqlx::Error) -> Option<String> {
    err.as_database_error().and_then(|e| e.constraint()).map(str::to_owned)
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn refuses_a_project_key_that_breaks_the_pattern(pool: PgPool) {
    for bad in ["rhy", "R", "1AB", "ABCDEFGHIJK", "R-Y", "ÄB"] {
        let err = project(&pool, bad).await.expect_err(bad);
        assert_eq!(constraint_of(&err).as_deref(), Some("projects_key_format"), "{bad}");
    }
    project(&pool, "RHY").await.unwrap();
    let err = project(&pool, "RHY").await.unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("projects_key_key"));
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn refuses_a_duplicate_membership(pool: PgPool) {
    let (u, p) = (user(&pool).await, project(&pool, "RHY").await.unwrap());
    let add = |role: &'static str| {
        sqlx::query("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(p)
            .bind(u)
            .bind(role)
            .execute(&pool)
    };
    add("member").await.unwrap();
    let err = add("viewer").await.unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("project_members_pkey"));
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM project_members").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn refuses_an_unknown_role(pool: PgPool) {
    let (u, p) = (user(&pool).await, project(&pool, "RHY").await.unwrap());
    let err = sqlx::query(
        "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'admin')",
    )
    .bind(p)
    .bind(u)
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("project_members_role_valid"));
}

async fn sprint(pool: &PgPool, project: Uuid, state: &str) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO sprints (id, project_id, name, state, started_at)
         VALUES ($1, $2, 'S', $3, CASE WHEN $3 = 'active' THEN now() END)",
    )
    .bind(id)
    .bind(project)
    .bind(state)
    .execute(pool)
    .await?;
    Ok(id)
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn refuses_a_second_active_sprint(pool: PgPool) {
    let p = project(&pool, "RHY").await.unwrap();
    let other = project(&pool, "OTH").await.unwrap();
    sprint(&pool, p, "active").await.unwrap();
    sprint(&pool, p, "planned").await.unwrap();
    // Another project's active sprint is no conflict.
    sprint(&pool, other, "active").await.unwrap();
    let err = sprint(&pool, p, "active").await.unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("sprints_one_active_per_project"));
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn refuses_sprint_states_without_their_timestamps(pool: PgPool) {
    let p = project(&pool, "RHY").await.unwrap();
    let err = sqlx::query(
        "INSERT INTO sprints (id, project_id, name, state) VALUES ($1, $2, 'S', 'active')",
    )
    .bind(Uuid::now_v7())
    .bind(p)
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("sprints_state_timestamps"));
    let err = sqlx::query(
        "INSERT INTO sprints (id, project_id, name, starts_on, ends_on)
         VALUES ($1, $2, 'S', '2026-02-01', '2026-01-01')",
    )
    .bind(Uuid::now_v7())
    .bind(p)
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("sprints_dates_ordered"));
}

async fn issue(
    pool: &PgPool,
    project: Uuid,
    reporter: Uuid,
    number: i64,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO issues (id, project_id, number, title, reporter_id, rank)
         VALUES ($1, $2, $3, 'T', $4, rhythm_rank_for_position($3))",
    )
    .bind(id)
    .bind(project)
    .bind(number)
    .bind(reporter)
    .execute(pool)
    .await?;
    Ok(id)
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn refuses_a_duplicate_issue_number_in_one_project(pool: PgPool) {
    let u = user(&pool).await;
    let (p, q) = (project(&pool, "RHY").await.unwrap(), project(&pool, "OTH").await.unwrap());
    issue(&pool, p, u, 1).await.unwrap();
    // The same number in another project is fine.
    issue(&pool, q, u, 1).await.unwrap();
    let err = issue(&pool, p, u, 1).await.unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("issues_project_number_key"));
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn refuses_a_sprint_of_another_project(pool: PgPool) {
    let u = user(&pool).await;
    let (p, q) = (project(&pool, "RHY").await.unwrap(), project(&pool, "OTH").await.unwrap());
    let foreign_sprint = sprint(&pool, q, "planned").await.unwrap();
    let i = issue(&pool, p, u, 1).await.unwrap();
    let err = sqlx::query("UPDATE issues SET sprint_id = $1 WHERE id = $2")
        .bind(foreign_sprint)
        .bind(i)
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("issues_sprint_same_project_fkey"));
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn refuses_resolved_at_out_of_step_with_status(pool: PgPool) {
    let u = user(&pool).await;
    let p = project(&pool, "RHY").await.unwrap();
    let i = issue(&pool, p, u, 1).await.unwrap();
    let err = sqlx::query("UPDATE issues SET status = 'done' WHERE id = $1")
        .bind(i)
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("issues_resolved_iff_closed"));
    sqlx::query("UPDATE issues SET status = 'done', resolved_at = now() WHERE id = $1")
        .bind(i)
        .execute(&pool)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn emails_are_unique_regardless_of_case(pool: PgPool) {
    let insert = |email: &'static str| {
        sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, 'U', 'h')")
            .bind(Uuid::now_v7())
            .bind(email)
            .execute(&pool)
    };
    insert("Ann@Example.com").await.unwrap();
    let err = insert("ann@example.COM").await.unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("users_email_lower_key"));
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn ranks_order_bytewise_and_are_unique_per_project(pool: PgPool) {
    let u = user(&pool).await;
    let p = project(&pool, "RHY").await.unwrap();
    let a = issue(&pool, p, u, 1).await.unwrap();
    let b = issue(&pool, p, u, 2).await.unwrap();
    // Upper case sorts before lower case in byte order, whatever the database's collation.
    sqlx::query("UPDATE issues SET rank = 'a' WHERE id = $1").bind(a).execute(&pool).await.unwrap();
    sqlx::query("UPDATE issues SET rank = 'B' WHERE id = $1").bind(b).execute(&pool).await.unwrap();
    let order: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM issues WHERE project_id = $1 ORDER BY rank")
            .bind(p)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(order, vec![b, a]);
    let err = sqlx::query("UPDATE issues SET rank = 'a' WHERE id = $1")
        .bind(b)
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("issues_project_rank_key"));
    let err = sqlx::query("UPDATE issues SET rank = 'a-b' WHERE id = $1")
        .bind(b)
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(constraint_of(&err).as_deref(), Some("issues_rank_format"));
    for bad in [String::new(), "z".repeat(256)] {
        let err = sqlx::query("UPDATE issues SET rank = $2 WHERE id = $1")
            .bind(b)
            .bind(&bad)
            .execute(&pool)
            .await
            .unwrap_err();
        assert_eq!(constraint_of(&err).as_deref(), Some("issues_rank_format"), "{}", bad.len());
    }
    sqlx::query("UPDATE issues SET rank = $2 WHERE id = $1")
        .bind(b)
        .bind("z".repeat(255))
        .execute(&pool)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn search_vector_is_maintained_by_the_database(pool: PgPool) {
    let u = user(&pool).await;
    let p = project(&pool, "RHY").await.unwrap();
    let i = issue(&pool, p, u, 1).await.unwrap();
    sqlx::query("UPDATE issues SET title = 'Deploying the server', description = 'rollback plan' WHERE id = $1")
        .bind(i)
        .execute(&pool)
        .await
        .unwrap();
    let hits: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM issues WHERE search @@ websearch_to_tsquery('english', 'deploy rollback')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(hits, vec![i]);
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn the_sql_rank_of_a_position_is_the_domains(pool: PgPool) {
    for position in [1_i64, 2, 9, 10, 15, 16, 255, 4096, 70_000, 1_000_000, 281_474_976_710_655] {
        let sql: String = sqlx::query_scalar("SELECT rhythm_rank_for_position($1)")
            .bind(position)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(sql, rhythm_domain::rank::for_position(position), "{position}");
    }
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn the_sql_board_columns_are_in_the_domains_order(pool: PgPool) {
    for (k, status) in rhythm_domain::values::IssueStatus::ALL.iter().enumerate() {
        let column: i32 = sqlx::query_scalar("SELECT rhythm_status_column($1)")
            .bind(status.as_str())
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(usize::try_from(column).unwrap(), k + 1, "{}", status.as_str());
    }
}

/// The totals the triggers keep, and the same counted from the rows.
async fn board_totals(
    pool: &PgPool,
    project: Uuid,
) -> ((Vec<i64>, Vec<i64>), (Vec<i64>, Vec<i64>)) {
    let kept: (Vec<i64>, Vec<i64>) =
        sqlx::query_as("SELECT issues, points FROM project_board_totals WHERE project_id = $1")
            .bind(project)
            .fetch_one(pool)
            .await
            .unwrap();
    let counted: (Vec<i64>, Vec<i64>) = sqlx::query_as(
        "SELECT array_agg(n ORDER BY k), array_agg(p ORDER BY k) FROM (
             SELECT g.k, count(i.id) AS n, COALESCE(sum(i.story_points), 0)::bigint AS p
             FROM generate_series(1, 6) AS g(k)
             LEFT JOIN issues i ON i.project_id = $1 AND i.deleted_at IS NULL
                               AND rhythm_status_column(i.status) = g.k
             GROUP BY g.k) c",
    )
    .bind(project)
    .fetch_one(pool)
    .await
    .unwrap();
    (kept, counted)
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn board_totals_follow_every_kind_of_issue_write(pool: PgPool) {
    let reporter = user(&pool).await;
    let (p, other) = (project(&pool, "RHY").await.unwrap(), project(&pool, "OTH").await.unwrap());
    let mut ids = Vec::new();
    for number in 1..=6 {
        ids.push(issue(&pool, p, reporter, number).await.unwrap());
    }
    issue(&pool, other, reporter, 1).await.unwrap();
    let run = |sql: &'static str, id: Uuid| sqlx::query(sql).bind(id).execute(&pool);
    run("UPDATE issues SET story_points = 5 WHERE id = $1", ids[0]).await.unwrap();
    run("UPDATE issues SET status = 'in_progress', story_points = 3 WHERE id = $1", ids[1])
        .await
        .unwrap();
    run("UPDATE issues SET status = 'done', resolved_at = now() WHERE id = $1", ids[0])
        .await
        .unwrap();
    run("UPDATE issues SET title = 'renamed' WHERE id = $1", ids[2]).await.unwrap();
    run("UPDATE issues SET deleted_at = now() WHERE id = $1", ids[3]).await.unwrap();
    run("UPDATE issues SET story_points = 8 WHERE id = $1", ids[3]).await.unwrap();
    run("UPDATE issues SET deleted_at = now() WHERE id = $1", ids[4]).await.unwrap();
    run("UPDATE issues SET deleted_at = NULL, status = 'backlog' WHERE id = $1", ids[4])
        .await
        .unwrap();
    run("DELETE FROM issues WHERE id = $1", ids[5]).await.unwrap();

    let (kept, counted) = board_totals(&pool, p).await;
    assert_eq!(kept, counted);
    // backlog: #5 (restored there) · todo: #3 · in_progress: #2 (3 points) · done: #1 (5 points).
    assert_eq!(kept, (vec![1, 1, 1, 0, 1, 0], vec![0, 0, 3, 0, 5, 0]));
    let (kept, counted) = board_totals(&pool, other).await;
    assert_eq!(kept, counted);
    assert_eq!(kept.0, [0, 1, 0, 0, 0, 0], "another project's totals are its own");

    // A rolled-back write leaves them as they were.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE issues SET status = 'cancelled', resolved_at = now() WHERE project_id = $1",
    )
    .bind(p)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    let (kept, counted) = board_totals(&pool, p).await;
    assert_eq!(kept, counted);
    assert_eq!(kept.0, [1, 1, 1, 0, 1, 0]);

    // The recount agrees with what the triggers kept.
    sqlx::query("SELECT rhythm_recount_board_totals()").execute(&pool).await.unwrap();
    assert_eq!(board_totals(&pool, p).await.0.0, [1, 1, 1, 0, 1, 0]);
}
