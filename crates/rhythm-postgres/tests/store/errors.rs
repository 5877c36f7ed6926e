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
