//! Accounts and sessions, through the real router on each storage adapter.

use axum::http::StatusCode;
use base64::prelude::{BASE64_URL_SAFE_NO_PAD, Engine as _};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rhythm_api::state::{AuthConfig, Settings};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::{Account, PASSWORD, TestApp, TestDb, api_tests, test_settings};

api_tests! {
    register_returns_the_session_shape,
    register_reports_every_invalid_field_at_once,
    duplicate_email_in_any_case_is_409_email_taken,
    login_matches_email_case_insensitively,
    unknown_email_and_wrong_password_look_the_same,
    signup_can_be_turned_off,
    refresh_rotates_and_the_old_token_stops_working,
    reuse_revokes_only_its_own_chain,
    concurrent_refreshes_of_one_token_let_exactly_one_through,
    unknown_and_expired_refresh_tokens_are_refused,
    logout_revokes_and_is_idempotent,
    logout_with_a_rotated_token_revokes_the_chain,
    me_can_be_renamed,
    password_change_rules,
    only_genuine_current_access_tokens_pass,
    logins_are_rate_limited_per_email,
    sign_ins_are_rate_limited_per_address_and_forwarded_for_is_not_trusted,
    forwarded_for_is_used_when_trusted,
    the_limit_holds_across_replicas_and_each_window_starts_over,
    password_changes_are_rate_limited_per_account,
    refreshing_never_extends_a_session_past_its_absolute_lifetime,
    a_session_past_its_absolute_lifetime_cannot_refresh,
}

fn secret() -> Vec<u8> {
    AuthConfig::for_tests().jwt_secret
}

async fn login(app: &TestApp, email: &str, password: &str) -> crate::support::TestResponse {
    app.post("/api/v1/auth/login")
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
}

async fn refresh(app: &TestApp, token: &str) -> crate::support::TestResponse {
    app.post("/api/v1/auth/refresh").json(&json!({ "refresh_token": token })).send().await
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.get("/api/v1/me").token(token).send().await.status
}

async fn register_returns_the_session_shape(db: TestDb) {
    let app = TestApp::new(&db);
    let res = app
        .post("/api/v1/auth/register")
        .json(&json!({"email": "Ann.Lee@Example.com", "name": "  Ann Lee ", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["email"], "Ann.Lee@Example.com");
    assert_eq!(body["user"]["name"], "Ann Lee");
    let keys: Vec<_> = body["user"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["created_at", "email", "id", "name"]);
    let refresh_token = body["refresh_token"].as_str().unwrap();
    assert!(BASE64_URL_SAFE_NO_PAD.decode(refresh_token).unwrap().len() >= 32);

    // Stored: email as given, password hashed with argon2id, refresh token only as a hash.
    let (email, hash): (String, String) =
        db.fetch_one("SELECT email, password_hash FROM users", &[]).await;
    assert_eq!(email, "Ann.Lee@Example.com");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    let stored: Vec<Vec<u8>> = db.scalars("SELECT token_hash FROM refresh_tokens", &[]).await;
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], refresh_token.as_bytes());

    let me = app.get("/api/v1/me").token(body["access_token"].as_str().unwrap()).send().await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json(), body["user"]);
}

async fn register_reports_every_invalid_field_at_once(db: TestDb) {
    let app = TestApp::new(&db);
    let res = app
        .post("/api/v1/auth/register")
        .json(&json!({"email": "no-at-sign", "name": "   ", "password": "short"}))
        .send()
        .await;
    let body = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields: Vec<_> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "name", "password"]);
    assert_eq!(body["detail"], "3 fields are invalid");

    let missing =
        app.post("/api/v1/auth/register").json(&json!({"name": "x".repeat(101)})).send().await;
    let body = missing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        body["errors"],
        json!([
            {"field": "email", "message": "is required"},
            {"field": "name", "message": "must be 1 to 100 characters"},
            {"field": "password", "message": "is required"},
        ])
    );

    let unknown = app
        .post("/api/v1/auth/register")
        .json(&json!({"email": "a@b.c", "name": "A", "password": PASSWORD, "role": "owner"}))
        .send()
        .await;
    let body = unknown.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "role");

    let long_password = app
        .post("/api/v1/auth/register")
        .json(&json!({"email": "a@b.c", "name": "A", "password": "p".repeat(129)}))
        .send()
        .await;
    long_password.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let users: i64 = db.scalar("SELECT count(*) FROM users", &[]).await;
    assert_eq!(users, 0, "nothing is written for an invalid registration");
}

async fn duplicate_email_in_any_case_is_409_email_taken(db: TestDb) {
    let app = TestApp::new(&db);
    app.register("Ann@Example.com", "Ann").await;
    let res = app
        .post("/api/v1/auth/register")
        .json(&json!({"email": "ann@EXAMPLE.com", "name": "Impostor", "password": PASSWORD}))
        .send()
        .await;
    res.assert_problem(StatusCode::CONFLICT, "email_taken");
    let emails: Vec<String> = db.scalars("SELECT email FROM users", &[]).await;
    assert_eq!(emails, ["Ann@Example.com"]);
}

async fn login_matches_email_case_insensitively(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("Ann@Example.com", "Ann").await;
    let res = login(&app, "ANN@example.COM", PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    assert_eq!(body["user"]["id"], ann.id.to_string());
    assert_eq!(body["user"]["email"], "Ann@Example.com");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(me_status(&app, body["access_token"].as_str().unwrap()).await, StatusCode::OK);
}

async fn unknown_email_and_wrong_password_look_the_same(db: TestDb) {
    let app = TestApp::new(&db);
    app.register("ann@example.com", "Ann").await;
    let wrong = login(&app, "ann@example.com", "not the password").await;
    let unknown = login(&app, "ghost@example.com", "not the password").await;
    let garbage = login(&app, "not an email", "x").await;
    for res in [&wrong, &unknown, &garbage] {
        res.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, garbage.body);
}

async fn signup_can_be_turned_off(db: TestDb) {
    let mut settings = test_settings();
    settings.auth.allow_signup = false;
    let app = TestApp::with_settings(&db, settings);
    let res = app
        .post("/api/v1/auth/register")
        .json(&json!({"email": "a@b.c", "name": "A", "password": PASSWORD}))
        .send()
        .await;
    res.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let users: i64 = db.scalar("SELECT count(*) FROM users", &[]).await;
    assert_eq!(users, 0);
}

async fn refresh_rotates_and_the_old_token_stops_working(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    let res = refresh(&app, &ann.refresh).await;
    assert_eq!(res.status, StatusCode::OK);
    let rotated = Account::from_session(&res.json());
    assert_ne!(rotated.refresh, ann.refresh);
    assert_eq!(rotated.id, ann.id);
    assert_eq!(me_status(&app, &rotated.token).await, StatusCode::OK);

    // The new refresh token works once more…
    let again = refresh(&app, &rotated.refresh).await;
    assert_eq!(again.status, StatusCode::OK);
    let newest = Account::from_session(&again.json());

    // …and replaying the first one revokes the whole chain, the newest token included.
    refresh(&app, &ann.refresh).await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    refresh(&app, &newest.refresh).await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let live: i64 =
        db.scalar("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL", &[]).await;
    assert_eq!(live, 0);
}

async fn reuse_revokes_only_its_own_chain(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    let other_session =
        Account::from_session(&login(&app, "ann@example.com", PASSWORD).await.json());
    let rotated = Account::from_session(&refresh(&app, &ann.refresh).await.json());
    refresh(&app, &ann.refresh).await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    refresh(&app, &rotated.refresh).await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // The session of the other login is untouched.
    assert_eq!(refresh(&app, &other_session.refresh).await.status, StatusCode::OK);
}

async fn concurrent_refreshes_of_one_token_let_exactly_one_through(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    let attempts = (0..2).map(|_| {
        let app = app.clone();
        let token = ann.refresh.clone();
        tokio::spawn(async move { refresh(&app, &token).await.status })
    });
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
}

async fn unknown_and_expired_refresh_tokens_are_refused(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    refresh(&app, "made-up-token").await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // A day after the refresh token's lifetime.
    app.clock.advance(
        AuthConfig::for_tests().refresh_token_ttl + std::time::Duration::from_secs(86_400),
    );
    refresh(&app, &ann.refresh).await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn logout_revokes_and_is_idempotent(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    let logout = |token: String| {
        let app = app.clone();
        async move {
            app.post("/api/v1/auth/logout").json(&json!({ "refresh_token": token })).send().await
        }
    };
    let res = logout(ann.refresh.clone()).await;
    assert_eq!((res.status, res.body.len()), (StatusCode::NO_CONTENT, 0));
    refresh(&app, &ann.refresh).await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // Again, and an unknown token: still 204.
    assert_eq!(logout(ann.refresh.clone()).await.status, StatusCode::NO_CONTENT);
    assert_eq!(logout("never-issued".into()).await.status, StatusCode::NO_CONTENT);
}

async fn logout_with_a_rotated_token_revokes_the_chain(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    let rotated = Account::from_session(&refresh(&app, &ann.refresh).await.json());
    let res =
        app.post("/api/v1/auth/logout").json(&json!({ "refresh_token": ann.refresh })).send().await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    refresh(&app, &rotated.refresh).await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn me_can_be_renamed(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    let res =
        app.patch("/api/v1/me").token(&ann.token).json(&json!({"name": "  Ann B. "})).send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["name"], "Ann B.");
    let unchanged = app.patch("/api/v1/me").token(&ann.token).json(&json!({})).send().await;
    assert_eq!(
        (unchanged.status, unchanged.json()["name"].clone()),
        (StatusCode::OK, json!("Ann B."))
    );
    let invalid = app.patch("/api/v1/me").token(&ann.token).json(&json!({"name": ""})).send().await;
    invalid.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let read_only =
        app.patch("/api/v1/me").token(&ann.token).json(&json!({"email": "x@y.z"})).send().await;
    read_only.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(app.get("/api/v1/me").token(&ann.token).send().await.json()["name"], "Ann B.");
}

async fn password_change_rules(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    let change = |current: &str, new: &str| {
        app.post("/api/v1/me/password")
            .token(&ann.token)
            .json(&json!({"current_password": current, "new_password": new}))
    };
    // The new password is checked first: invalid new + wrong current → 422.
    change("wrong", "short")
        .send()
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    change("wrong", "a fine new password")
        .send()
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // Nothing changed so far.
    assert_eq!(login(&app, "ann@example.com", PASSWORD).await.status, StatusCode::OK);

    let res = change(PASSWORD, "a fine new password").send().await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let live: i64 =
        db.scalar("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL", &[]).await;
    assert_eq!(live, 0, "every refresh token of the user is revoked");
    refresh(&app, &ann.refresh).await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    login(&app, "ann@example.com", PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(login(&app, "ann@example.com", "a fine new password").await.status, StatusCode::OK);
}

fn claims(sub: &str, overrides: Value) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "sub": sub, "iat": now, "exp": now + 600,
        "iss": "rhythm", "aud": "rhythm-api", "typ": "access",
    });
    for (key, value) in overrides.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

fn sign(alg: Algorithm, claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

async fn only_genuine_current_access_tokens_pass(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    let sub = ann.id.to_string();
    let key = secret();

    // The control: a token made the same way with the right claims passes.
    assert_eq!(
        me_status(&app, &sign(Algorithm::HS256, &claims(&sub, json!({})), &key)).await,
        StatusCode::OK
    );

    let b64 = |v: &Value| BASE64_URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(&sub, json!({})))
    );
    let genuine = sign(Algorithm::HS256, &claims(&sub, json!({})), &key);
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    parts[1] = b64(&claims(&Uuid::now_v7().to_string(), json!({})));
    let tampered = parts.join(".");

    let past = jsonwebtoken::get_current_timestamp() - 120;
    let refused = [
        ("missing", None),
        ("malformed", Some("not-a-jwt".to_owned())),
        ("alg none", Some(alg_none)),
        ("other algorithm", Some(sign(Algorithm::HS512, &claims(&sub, json!({})), &key))),
        (
            "other key",
            Some(sign(
                Algorithm::HS256,
                &claims(&sub, json!({})),
                b"another-secret-another-secret-another",
            )),
        ),
        ("tampered payload", Some(tampered)),
        (
            "expired",
            Some(sign(
                Algorithm::HS256,
                &claims(&sub, json!({"iat": past - 600, "exp": past})),
                &key,
            )),
        ),
        (
            "wrong audience",
            Some(sign(Algorithm::HS256, &claims(&sub, json!({"aud": "someone-else"})), &key)),
        ),
        ("wrong issuer", Some(sign(Algorithm::HS256, &claims(&sub, json!({"iss": "evil"})), &key))),
        ("no audience", Some(sign(Algorithm::HS256, &claims(&sub, json!({"aud": null})), &key))),
        ("no issued-at", Some(sign(Algorithm::HS256, &claims(&sub, json!({"iat": null})), &key))),
        (
            "refresh type",
            Some(sign(Algorithm::HS256, &claims(&sub, json!({"typ": "refresh"})), &key)),
        ),
        ("refresh token as access token", Some(ann.refresh.clone())),
    ];
    for (case, token) in refused {
        let mut req = app.get("/api/v1/me");
        if let Some(token) = &token {
            req = req.token(token);
        }
        let res = req.send().await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{case}");
        res.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(res.header("www-authenticate"), Some("Bearer"), "{case}");
    }
    let basic =
        app.get("/api/v1/me").header(axum::http::header::AUTHORIZATION, "Basic YTpi").send().await;
    basic.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

fn rate_limited_app(db: &TestDb, per_minute: u32, trust_forwarded_for: bool) -> TestApp {
    let mut settings: Settings = test_settings();
    settings.auth.rate_per_min = per_minute;
    settings.http.trust_forwarded_for = trust_forwarded_for;
    TestApp::with_settings(db, settings)
}

async fn logins_are_rate_limited_per_email(db: TestDb) {
    let app = rate_limited_app(&db, 3, false);
    // Registering is the email's first attempt of three.
    app.register("ann@example.com", "Ann").await;
    for i in 0..2 {
        let res = app
            .post("/api/v1/auth/login")
            .client_ip([10, 0, 0, i + 1])
            .json(&json!({"email": "ann@example.com", "password": "wrong password"}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password from yet another address: the email is out of attempts.
    let res = app
        .post("/api/v1/auth/login")
        .client_ip([10, 0, 0, 9])
        .json(&json!({"email": "ANN@example.com", "password": PASSWORD}))
        .send()
        .await;
    res.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // Another account is unaffected.
    app.register("bob@example.com", "Bob").await;
    let bob = app
        .post("/api/v1/auth/login")
        .client_ip([10, 0, 0, 10])
        .json(&json!({"email": "bob@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(bob.status, StatusCode::OK);
}

async fn sign_ins_are_rate_limited_per_address_and_forwarded_for_is_not_trusted(db: TestDb) {
    let app = rate_limited_app(&db, 3, false);
    for i in 0..3 {
        let res = app
            .post("/api/v1/auth/register")
            .client_ip([192, 0, 2, 1])
            .header("x-forwarded-for", &format!("203.0.113.{i}"))
            .json(&json!({"email": format!("user{i}@example.com"), "name": "U", "password": PASSWORD}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
    }
    let res = app
        .post("/api/v1/auth/login")
        .client_ip([192, 0, 2, 1])
        .header("x-forwarded-for", "203.0.113.99")
        .json(&json!({"email": "user0@example.com", "password": PASSWORD}))
        .send()
        .await;
    res.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another address is unaffected.
    let other = app
        .post("/api/v1/auth/login")
        .client_ip([192, 0, 2, 2])
        .json(&json!({"email": "user1@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(other.status, StatusCode::OK);
}

async fn forwarded_for_is_used_when_trusted(db: TestDb) {
    let app = rate_limited_app(&db, 2, true);
    let attempt = |forwarded: &'static str, email: &'static str| {
        app.post("/api/v1/auth/login")
            .client_ip([10, 1, 1, 1])
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": email, "password": "whatever pass"}))
            .send()
    };
    assert_eq!(attempt("198.51.100.7", "a@x.io").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt("1.2.3.4, 198.51.100.7", "b@x.io").await.status, StatusCode::UNAUTHORIZED);
    attempt("198.51.100.7", "c@x.io")
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // The same proxy, another client.
    assert_eq!(attempt("198.51.100.8", "d@x.io").await.status, StatusCode::UNAUTHORIZED);
}

/// Two routers on one database are two replicas behind a load balancer: the counters are in
/// the database, so the limit is the deployment's, not each process's.
async fn the_limit_holds_across_replicas_and_each_window_starts_over(db: TestDb) {
    let first = rate_limited_app(&db, 2, false);
    let second = rate_limited_app(&db.replica().await, 2, false);
    let attempt = |app: &TestApp| {
        app.post("/api/v1/auth/login")
            .client_ip([10, 2, 2, 2])
            .json(&json!({"email": "nobody@example.com", "password": "wrong password"}))
            .send()
    };
    assert_eq!(attempt(&first).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(&second).await.status, StatusCode::UNAUTHORIZED);
    attempt(&first).await.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    attempt(&second).await.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // One row per address and per email, holding digests only.
    let rows: Vec<(Vec<u8>, i32)> =
        db.fetch_all("SELECT key, attempts FROM sign_in_attempts ORDER BY key", &[]).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|(key, attempts)| key.len() == 32 && *attempts == 4), "{rows:?}");

    // Once the window has ended, counting starts over.
    second.clock.advance(std::time::Duration::from_secs(61));
    assert_eq!(attempt(&second).await.status, StatusCode::UNAUTHORIZED);
    let attempts: Vec<i32> = db.scalars("SELECT attempts FROM sign_in_attempts", &[]).await;
    assert_eq!(attempts, [1, 1]);
}

async fn password_changes_are_rate_limited_per_account(db: TestDb) {
    let app = rate_limited_app(&db, 3, false);
    let ann = app.register("ann@example.com", "Ann").await;
    let change = |ip: u8, current: &'static str| {
        let (app, token) = (app.clone(), ann.token.clone());
        async move {
            app.post("/api/v1/me/password")
                .token(&token)
                .client_ip([10, 0, 1, ip])
                .json(&json!({"current_password": current, "new_password": "a brand new password"}))
                .send()
                .await
        }
    };
    // Three guesses from three addresses, then the account is out of attempts: even the
    // right password from a fourth address waits.
    for ip in 1..=3 {
        change(ip, "a wrong guess").await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let res = change(4, PASSWORD).await;
    res.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(res.header("retry-after").is_some());
    // Nothing changed: the old password still signs in.
    let login = app
        .post("/api/v1/auth/login")
        .client_ip([10, 0, 2, 1])
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(login.status, StatusCode::OK);
}

async fn refreshing_never_extends_a_session_past_its_absolute_lifetime(db: TestDb) {
    let mut settings = test_settings();
    settings.auth.session_max_age = std::time::Duration::from_secs(3600);
    let app = TestApp::with_settings(&db, settings);
    let ann = app.register("ann@example.com", "Ann").await;
    let refreshed = refresh(&app, &ann.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let tokens = db.refresh_token_expiries(ann.id).await;
    assert_eq!(tokens.len(), 2);
    let session_end = tokens[0].1;
    let login_plus_an_hour = OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert!(session_end <= login_plus_an_hour, "the session ends an hour after login");
    for (expires_at, session_expires_at) in &tokens {
        assert_eq!(*session_expires_at, session_end, "a rotation inherits the session's end");
        assert!(*expires_at <= session_end, "no token outlives its session (30-day TTL)");
    }
}

async fn a_session_past_its_absolute_lifetime_cannot_refresh(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    // Refreshed just before each token expires, until the session's lifetime is over.
    let config = AuthConfig::for_tests();
    let step = config.refresh_token_ttl - std::time::Duration::from_secs(60);
    let mut token = ann.refresh.clone();
    let mut elapsed = std::time::Duration::ZERO;
    while elapsed + step < config.session_max_age {
        app.clock.advance(step);
        elapsed += step;
        let refreshed = refresh(&app, &token).await;
        assert_eq!(refreshed.status, StatusCode::OK, "still within the session");
        token = refreshed.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    app.clock.advance(config.session_max_age - elapsed + std::time::Duration::from_secs(1));
    refresh(&app, &token).await.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}
