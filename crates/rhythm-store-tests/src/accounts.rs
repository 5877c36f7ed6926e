//! Accounts and sessions: email uniqueness, refresh-token rotation.

use std::time::Duration;

use rhythm_domain::error::{Conflict, RepoError};
use rhythm_domain::ports::{AttemptCounter, AttemptKey, SessionRepository, Store};
use rhythm_domain::user::{NewRefreshToken, NewUser, Replacement, Rotation, TokenHash};
use rhythm_domain::values::{Email, UserName};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::fixture::Fixture;

pub async fn emails_are_unique_in_any_letter_case_including_non_ascii<S: Store>(store: S) {
    let f = Fixture::new(store);
    let tag = Uuid::now_v7().simple().to_string();
    let first = f.user_with_email("Åsa", &format!("Åsa.Élodie-{tag}@Exemple.fr")).await;
    for other in [format!("åsa.élodie-{tag}@exemple.fr"), format!("ÅSA.ÉLODIE-{tag}@EXEMPLE.FR")]
    {
        let again = NewUser {
            id: Uuid::now_v7(),
            email: Email::parse(&other).unwrap(),
            name: UserName::new("Other").unwrap(),
            password_hash: "h".into(),
        };
        let refused = f.user_repo().create(&again).await;
        assert!(
            matches!(refused, Err(RepoError::Conflict(Conflict::EmailTaken))),
            "{other} must be taken: {refused:?}"
        );
        let found = f.user_repo().find_by_email(&other).await.unwrap().map(|u| u.id);
        assert_eq!(found, Some(first.id), "{other} finds the account");
    }
    // Stored as typed.
    assert_eq!(f.user_repo().find(first.id).await.unwrap().unwrap().email, first.email);
    assert!(first.email.starts_with("Åsa.Élodie"));
}

fn token(user: Uuid, hash: u8, now: OffsetDateTime) -> NewRefreshToken {
    NewRefreshToken {
        id: Uuid::now_v7(),
        user_id: user,
        hash: TokenHash([hash; 32]),
        expires_at: now + Duration::from_secs(3600),
        session_expires_at: now + Duration::from_secs(7200),
    }
}

fn replacement(hash: [u8; 32], now: OffsetDateTime) -> Replacement {
    Replacement {
        id: Uuid::now_v7(),
        hash: TokenHash(hash),
        expires_at: now + Duration::from_secs(3600),
    }
}

pub async fn exactly_one_of_many_concurrent_rotations_wins<S: Store>(store: S) {
    let f = Fixture::new(store);
    let user = f.user("ann").await;
    let now = OffsetDateTime::now_utc();
    f.session_repo().start(&token(user.id, 1, now)).await.unwrap();
    let mut rotations = tokio::task::JoinSet::new();
    for n in 0..20u8 {
        let store: std::sync::Arc<dyn SessionRepository> = f.store.clone();
        rotations.spawn(async move {
            let mut hash = [2; 32];
            hash[0] = n;
            let outcome = store.rotate(&TokenHash([1; 32]), &replacement(hash, now), now).await;
            (hash, outcome.unwrap())
        });
    }
    let outcomes = rotations.join_all().await;
    let winners: Vec<[u8; 32]> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Rotation::Rotated { user_id } if *user_id == user.id))
        .map(|(hash, _)| *hash)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one rotation wins: {outcomes:?}");
    assert!(
        outcomes.iter().all(|(_, o)| matches!(o, Rotation::Rotated { .. } | Rotation::Reused)),
        "the others find the token rotated: {outcomes:?}"
    );
    // The losers replayed a rotated token, which revoked the chain, the winner's new token too.
    let winner =
        f.session_repo().rotate(&TokenHash(winners[0]), &replacement([9; 32], now), now).await;
    assert_eq!(winner.unwrap(), Rotation::Refused);
}

pub async fn rotation_goes_by_the_time_it_is_given<S: Store>(store: S) {
    let f = Fixture::new(store);
    let user = f.user("ann").await;
    let start = OffsetDateTime::now_utc();
    // Expires an hour after `start`, the session two hours after.
    f.session_repo().start(&token(user.id, 1, start)).await.unwrap();
    let late = start + Duration::from_secs(3601);
    let refused =
        f.session_repo().rotate(&TokenHash([1; 32]), &replacement([2; 32], late), late).await;
    assert_eq!(refused.unwrap(), Rotation::Refused, "expired by the given time");
    let in_time = start + Duration::from_secs(3000);
    let rotated =
        f.session_repo().rotate(&TokenHash([1; 32]), &replacement([3; 32], in_time), in_time).await;
    assert_eq!(rotated.unwrap(), Rotation::Rotated { user_id: user.id });
    // Token 3 lives to in_time + 1 h. Rotated at start + 100 min, its replacement would live
    // another hour, but the session ends at start + 2 h.
    let later = start + Duration::from_secs(6000);
    let rotated =
        f.session_repo().rotate(&TokenHash([3; 32]), &replacement([5; 32], later), later).await;
    assert_eq!(rotated.unwrap(), Rotation::Rotated { user_id: user.id });
    let after_session = start + Duration::from_secs(7201);
    let ended = f
        .session_repo()
        .rotate(&TokenHash([5; 32]), &replacement([6; 32], after_session), after_session)
        .await;
    assert_eq!(ended.unwrap(), Rotation::Refused, "the session's end holds for the chain");
}

pub async fn a_replayed_token_revokes_its_chain<S: Store>(store: S) {
    let f = Fixture::new(store);
    let user = f.user("ann").await;
    let now = OffsetDateTime::now_utc();
    f.session_repo().start(&token(user.id, 1, now)).await.unwrap();
    let rotated =
        f.session_repo().rotate(&TokenHash([1; 32]), &replacement([2; 32], now), now).await;
    assert_eq!(rotated.unwrap(), Rotation::Rotated { user_id: user.id });
    let replayed =
        f.session_repo().rotate(&TokenHash([1; 32]), &replacement([3; 32], now), now).await;
    assert_eq!(replayed.unwrap(), Rotation::Reused);
    let newest =
        f.session_repo().rotate(&TokenHash([2; 32]), &replacement([4; 32], now), now).await;
    assert_eq!(newest.unwrap(), Rotation::Refused, "the chain's newest token is revoked");
    // Unknown tokens are refused; logging out an unknown or revoked one is no error.
    let unknown =
        f.session_repo().rotate(&TokenHash([8; 32]), &replacement([5; 32], now), now).await;
    assert_eq!(unknown.unwrap(), Rotation::Refused);
    f.session_repo().revoke(&TokenHash([8; 32])).await.unwrap();
    f.session_repo().revoke(&TokenHash([2; 32])).await.unwrap();
}

pub async fn sign_in_attempts_count_per_window_by_the_time_given<S: Store>(store: S) {
    let f = Fixture::new(store);
    let counter: std::sync::Arc<dyn AttemptCounter> = f.store.clone();
    let window = Duration::from_secs(60);
    let start = OffsetDateTime::now_utc();
    let (a, b) = (AttemptKey([1; 32]), AttemptKey([2; 32]));
    // 20 attempts at once on the same two keys: every one is counted, none deadlocks.
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (counter, keys) = (counter.clone(), [b.clone(), a.clone()]);
        attempts.spawn(async move { counter.count_attempt(&keys, window, start).await.unwrap() });
    }
    let mut seen: Vec<u32> = attempts.join_all().await.iter().map(|c| c[0].attempts).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<_>>(), "each attempt sees its own count");
    // Counts come back in the order the keys were given; the window runs from its first attempt.
    let later = start + Duration::from_secs(30);
    let counts =
        counter.count_attempt(&[a.clone(), AttemptKey([3; 32])], window, later).await.unwrap();
    assert_eq!((counts[0].attempts, counts[1].attempts), (21, 1));
    assert!(counts[0].window_left <= Duration::from_secs(30), "{:?}", counts[0].window_left);
    assert!(counts[1].window_left > Duration::from_secs(59), "{:?}", counts[1].window_left);
    // Once the window has ended, counting starts over, and ended windows can be forgotten.
    let next_window = start + Duration::from_secs(61);
    let counts =
        counter.count_attempt(std::slice::from_ref(&a), window, next_window).await.unwrap();
    assert_eq!(counts[0].attempts, 1);
    let forgotten = counter.forget_ended(window, start + Duration::from_secs(95)).await.unwrap();
    assert_eq!(forgotten, 2, "b's and the third key's windows ended, a's has not");
    let counts =
        counter.count_attempt(&[b], window, start + Duration::from_secs(96)).await.unwrap();
    assert_eq!(counts[0].attempts, 1);
}
