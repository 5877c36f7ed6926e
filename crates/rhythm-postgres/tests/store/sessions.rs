//! Session pruning: chains whose every token is dead go; a chain with a live token keeps
//! all of its rows, the rotated ones included (replay detection needs them).

use rhythm_domain::ports::{SessionRepository, UserRepository};
use rhythm_domain::user::{NewRefreshToken, NewUser, Replacement, Rotation, TokenHash};
use rhythm_domain::values::{Email, UserName};
use rhythm_postgres::PgStore;
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn token(user_id: Uuid, byte: u8) -> NewRefreshToken {
    let now = OffsetDateTime::now_utc();
    NewRefreshToken {
        id: Uuid::now_v7(),
        user_id,
        hash: TokenHash([byte; 32]),
        expires_at: now + Duration::days(30),
        session_expires_at: now + Duration::days(90),
    }
}

fn replacement(byte: u8) -> Replacement {
    let now = OffsetDateTime::now_utc();
    Replacement {
        id: Uuid::now_v7(),
        hash: TokenHash([byte; 32]),
        expires_at: now + Duration::days(30),
    }
}

async fn rows(pool: &PgPool) -> Vec<u8> {
    let hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT token_hash FROM refresh_tokens ORDER BY token_hash")
            .fetch_all(pool)
            .await
            .unwrap();
    hashes.into_iter().map(|h| h[0]).collect()
}

#[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
async fn pruning_drops_dead_chains_only(pool: PgPool) {
    let store = PgStore::for_sqlx_pool(&pool).unwrap();
    let user = store
        .create(&NewUser {
            id: Uuid::now_v7(),
            email: Email::parse("ann@example.com").unwrap(),
            name: UserName::new("Ann").unwrap(),
            password_hash: "$argon2id$stub".into(),
        })
        .await
        .unwrap();
    // Live chain: 1 rotated into 2. Logged out: 3. Session over: 4.
    store.start(&token(user.id, 1)).await.unwrap();
    let rotation = store
        .rotate(&TokenHash([1; 32]), &replacement(2), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(rotation, Rotation::Rotated { user_id: user.id });
    store.start(&token(user.id, 3)).await.unwrap();
    store.revoke(&TokenHash([3; 32])).await.unwrap();
    let mut ended = token(user.id, 4);
    ended.session_expires_at = OffsetDateTime::now_utc() + Duration::milliseconds(1);
    ended.expires_at = ended.session_expires_at;
    store.start(&ended).await.unwrap();
    sqlx::query("UPDATE refresh_tokens SET session_expires_at = now() WHERE token_hash = $1")
        .bind([4u8; 32].as_slice())
        .execute(&pool)
        .await
        .unwrap();

    assert_eq!(store.prune().await.unwrap(), 2);
    assert_eq!(rows(&pool).await, [1, 2], "the live chain keeps its rotated token");
    // Replaying the rotated token is still detected, and revokes the chain.
    let replay = store
        .rotate(&TokenHash([1; 32]), &replacement(5), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(replay, Rotation::Reused);
    assert_eq!(store.prune().await.unwrap(), 2, "now that chain is dead too");
    assert!(rows(&pool).await.is_empty());
}
