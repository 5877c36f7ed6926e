//! Driver errors become the domain's errors: the contract's 503 (`unavailable`, with
//! `Retry-After`) for a conflict that the same request would win when retried.

use rhythm_domain::RepoError;
use rhythm_postgres::error::map_err;
use sqlx::{Connection, PgConnection, PgPool};

/// Two rows to fight over.
async fn counters(pool: &PgPool) {
    sqlx::query("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO counters VALUES (1, 0), (2, 0)").execute(pool).await.unwrap();
}

async fn connect(pool: &PgPool) -> PgConnection {
    PgConnection::connect_with(&pool.connect_options()).await.unwrap()
}

fn sqlstate(err: &sqlx::Error) -> Option<String> {
    err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned())
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn a_serialization_failure_is_unavailable(pool: PgPool) {
    counters(&pool).await;
    let mut reader = connect(&pool).await;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ").execute(&mut reader).await.unwrap();
    sqlx::query("SELECT n FROM counters WHERE id = 1").execute(&mut reader).await.unwrap();
    // Another session changes the row the snapshot saw.
    sqlx::query("UPDATE counters SET n = n + 1 WHERE id = 1").execute(&pool).await.unwrap();
    let err = sqlx::query("UPDATE counters SET n = n + 1 WHERE id = 1")
        .execute(&mut reader)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("40001"));
    assert!(matches!(map_err(err), RepoError::Unavailable(_)));
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn a_deadlock_is_unavailable(pool: PgPool) {
    counters(&pool).await;
    let (mut a, mut b) = (connect(&pool).await, connect(&pool).await);
    for conn in [&mut a, &mut b] {
        sqlx::query("SET deadlock_timeout = '50ms'").execute(&mut *conn).await.unwrap();
        sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
    }
    sqlx::query("UPDATE counters SET n = 1 WHERE id = 1").execute(&mut a).await.unwrap();
    sqlx::query("UPDATE counters SET n = 1 WHERE id = 2").execute(&mut b).await.unwrap();
    // Each now waits for the row the other holds: PostgreSQL aborts one of them.
    let second_of_a = tokio::spawn(async move {
        let result = sqlx::query("UPDATE counters SET n = 2 WHERE id = 2").execute(&mut a).await;
        (result.map(|_| ()), a)
    });
    let second_of_b = sqlx::query("UPDATE counters SET n = 2 WHERE id = 1").execute(&mut b).await;
    let failed = match second_of_b {
        Err(err) => err,
        Ok(_) => {
            // B went through, so A was the one aborted.
            sqlx::query("COMMIT").execute(&mut b).await.unwrap();
            second_of_a.await.unwrap().0.unwrap_err()
        }
    };
    assert_eq!(sqlstate(&failed).as_deref(), Some("40P01"));
    assert!(matches!(map_err(failed), RepoError::Unavailable(_)));
}

/// A project and a sprint to break rules on, made straight in the schema.
async fn project_with_sprint(pool: &PgPool) -> (uuid::Uuid, uuid::Uuid) {
    let (project, sprint) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    sqlx::query("INSERT INTO projects (id, key, name) VALUES ($1, 'RHY', 'Rhythm')")
        .bind(project)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO sprints (id, project_id, name, starts_on, ends_on)
         VALUES ($1, $2, 'S1', '2027-01-01', '2027-01-31')",
    )
    .bind(sprint)
    .bind(project)
    .execute(pool)
    .await
    .unwrap();
    (project, sprint)
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn a_check_on_a_client_value_is_that_fields_error(pool: PgPool) {
    let (project, sprint) = project_with_sprint(&pool).await;
    let cases = [
        ("UPDATE sprints SET ends_on = '2026-12-01' WHERE id = $1", sprint, "ends_on"),
        ("UPDATE sprints SET name = '' WHERE id = $1", sprint, "name"),
        ("UPDATE projects SET name = repeat('x', 101) WHERE id = $1", project, "name"),
        (
            "UPDATE projects SET description = repeat('x', 10001) WHERE id = $1",
            project,
            "description",
        ),
    ];
    for (statement, id, field) in cases {
        let err = sqlx::query(statement).bind(id).execute(&pool).await.unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("23514"), "{statement}");
        match map_err(err) {
            RepoError::Invalid(error) => assert_eq!(error.field, field, "{statement}"),
            other => panic!("{statement}: {other:?}"),
        }
    }
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn a_check_on_a_value_only_rhythm_writes_is_internal(pool: PgPool) {
    let (project, _) = project_with_sprint(&pool).await;
    let err = sqlx::query("UPDATE projects SET issue_counter = -1 WHERE id = $1")
        .bind(project)
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(matches!(map_err(err), RepoError::Internal(_)));
}
