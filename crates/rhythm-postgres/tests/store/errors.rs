//! Driver errors become the domain's errors: the contract's 503 (`unavailable`, with
//! `Retry-After`) for a conflict that the same request would win when retried.

use rhythm_domain::RepoError;
use rhythm_postgres::error::map_pg;
use sqlx::PgPool;
use tokio_postgres::Client;

/// Two rows to fight over.
async fn counters(pool: &PgPool) {
    sqlx::query("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO counters VALUES (1, 0), (2, 0)").execute(pool).await.unwrap();
}

/// A tokio-postgres session of its own on the test's database.
async fn connect(pool: &PgPool) -> Client {
    let options = pool.connect_options();
    let mut config = tokio_postgres::Config::new();
    config
        .host(options.get_host())
        .port(options.get_port())
        .user(options.get_username())
        .dbname(options.get_database().unwrap());
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

fn sqlstate(err: &tokio_postgres::Error) -> Option<String> {
    err.code().map(|c| c.code().to_owned())
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn a_serialization_failure_is_unavailable(pool: PgPool) {
    counters(&pool).await;
    let reader = connect(&pool).await;
    reader.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await.unwrap();
    reader.batch_execute("SELECT n FROM counters WHERE id = 1").await.unwrap();
    // Another session changes the row the snapshot saw.
    sqlx::query("UPDATE counters SET n = n + 1 WHERE id = 1").execute(&pool).await.unwrap();
    let err = reader.execute("UPDATE counters SET n = n + 1 WHERE id = 1", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("40001"));
    assert!(matches!(map_pg(err), RepoError::Unavailable(_)));
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn a_deadlock_is_unavailable(pool: PgPool) {
    counters(&pool).await;
    let (a, b) = (connect(&pool).await, connect(&pool).await);
    for conn in [&a, &b] {
        conn.batch_execute("SET deadlock_timeout = '50ms'; BEGIN").await.unwrap();
    }
    a.batch_execute("UPDATE counters SET n = 1 WHERE id = 1").await.unwrap();
    b.batch_execute("UPDATE counters SET n = 1 WHERE id = 2").await.unwrap();
    // Each now waits for the row the other holds: PostgreSQL aborts one of them.
    let second_of_a = tokio::spawn(async move {
        let result = a.execute("UPDATE counters SET n = 2 WHERE id = 2", &[]).await;
        (result.map(|_| ()), a)
    });
    let second_of_b = b.execute("UPDATE counters SET n = 2 WHERE id = 1", &[]).await;
    let failed = match second_of_b {
        Err(err) => err,
        Ok(_) => {
            // B went through, so A was the one aborted.
            b.batch_execute("COMMIT").await.unwrap();
            second_of_a.await.unwrap().0.unwrap_err()
        }
    };
    assert_eq!(sqlstate(&failed).as_deref(), Some("40P01"));
    assert!(matches!(map_pg(failed), RepoError::Unavailable(_)));
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
    let client = connect(&pool).await;
    for (statement, id, field) in cases {
        let err = client.execute(statement, &[&id]).await.unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("23514"), "{statement}");
        match map_pg(err) {
            RepoError::Invalid(error) => assert_eq!(error.field, field, "{statement}"),
            other => panic!("{statement}: {other:?}"),
        }
    }
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn a_check_on_a_value_only_rhythm_writes_is_internal(pool: PgPool) {
    let (project, _) = project_with_sprint(&pool).await;
    let client = connect(&pool).await;
    let err = client
        .execute("UPDATE projects SET issue_counter = -1 WHERE id = $1", &[&project])
        .await
        .unwrap_err();
    assert!(matches!(map_pg(err), RepoError::Internal(_)));
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn a_lost_connection_is_unavailable(pool: PgPool) {
    let client = connect(&pool).await;
    let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    // The server ends the session, as on a restart or a failover.
    sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&pool).await.unwrap();
    let err = loop {
        match client.execute("SELECT 1", &[]).await {
            Err(err) => break err,
            // The termination may land a moment after the call returns.
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    };
    assert!(matches!(map_pg(err), RepoError::Unavailable(_)));
}
