//! One rule for `null` in every request body: on a field that cannot be null it is 422
//! naming the field, on create and on update alike, and nothing is written.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Account, TestApp, TestDb, api_tests};

api_tests! {
    null_on_a_non_nullable_field_is_422_naming_it_everywhere,
    null_clears_what_can_be_cleared,
    an_if_match_that_is_not_text_is_400_and_writes_nothing,
    a_null_optional_body_is_no_body,
}

/// Every non-nullable field of every body, with a body that is otherwise valid.
fn cases(sprint: &str, member: &str) -> Vec<(Method, String, Value, &'static str)> {
    let project = "/api/v1/projects/RHY".to_owned();
    let issues = format!("{project}/issues");
    let sprint_path = format!("{project}/sprints/{sprint}");
    let member_path = format!("{project}/members/{member}");
    let mut cases = Vec::new();
    let mut each = |method: Method, path: &str, body: Value, fields: &[&'static str]| {
        for field in fields {
            let mut body = body.clone();
            body[*field] = Value::Null;
            cases.push((method.clone(), path.to_owned(), body, *field));
        }
    };
    each(
        Method::POST,
        "/api/v1/auth/register",
        json!({"email": "new@example.com", "name": "New", "password": "correct horse battery"}),
        &["email", "name", "password"],
    );
    each(
        Method::POST,
        "/api/v1/auth/login",
        json!({"email": "new@example.com", "password": "correct horse battery"}),
        &["email", "password"],
    );
    each(Method::POST, "/api/v1/auth/refresh", json!({"refresh_token": "x"}), &["refresh_token"]);
    each(Method::PATCH, "/api/v1/me", json!({"name": "Renamed"}), &["name"]);
    each(
        Method::POST,
        "/api/v1/me/password",
        json!({"current_password": "a long password", "new_password": "another long one"}),
        &["current_password", "new_password"],
    );
    each(
        Method::POST,
        "/api/v1/projects",
        json!({"key": "NEW", "name": "New", "description": "d"}),
        &["key", "name", "description"],
    );
    each(
        Method::PATCH,
        &project,
        json!({"name": "N", "description": "d"}),
        &["name", "description"],
    );
    each(
        Method::POST,
        &format!("{project}/members"),
        json!({"email": "someone@example.com", "role": "member"}),
        &["email", "role"],
    );
    each(Method::PATCH, &member_path, json!({"role": "member"}), &["role"]);
    each(
        Method::POST,
        &issues,
        json!({"title": "T", "description": "d", "status": "todo", "priority": "low", "type": "bug"}),
        &["title", "description", "status", "priority", "type"],
    );
    each(
        Method::PATCH,
        &format!("{issues}/1"),
        json!({"title": "T", "description": "d", "status": "todo", "priority": "low", "type": "bug"}),
        &["title", "description", "status", "priority", "type"],
    );
    each(
        Method::POST,
        &format!("{issues}/1/move"),
        json!({"status": "todo", "before": 2}),
        &["status", "before"],
    );
    each(Method::POST, &format!("{issues}/1/move"), json!({"after": 2}), &["after"]);
    each(
        Method::POST,
        &format!("{project}/sprints"),
        json!({"name": "S", "goal": "g"}),
        &["name", "goal"],
    );
    each(Method::PATCH, &sprint_path, json!({"name": "S", "goal": "g"}), &["name", "goal"]);
    each(
        Method::POST,
        &format!("{sprint_path}/complete"),
        json!({"move_open_issues_to": "backlog"}),
        &["move_open_issues_to"],
    );
    cases
}

async fn setup(app: &TestApp) -> (Account, String, Account) {
    let owner = app.register("owner@example.com", "Owner").await;
    app.create_project(&owner, "RHY").await;
    for title in ["One", "Two"] {
        let res = app
            .post("/api/v1/projects/RHY/issues")
            .token(&owner.token)
            .json(&json!({ "title": title }))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
    }
    let sprint = app
        .post("/api/v1/projects/RHY/sprints")
        .token(&owner.token)
        .json(&json!({ "name": "S1" }))
        .send()
        .await
        .json();
    let member = app.seed_user("member").await;
    app.add_member("RHY", &member, "viewer").await;
    (owner, sprint["id"].as_str().unwrap().to_owned(), member)
}

async fn null_on_a_non_nullable_field_is_422_naming_it_everywhere(db: TestDb) {
    let app = TestApp::new(&db);
    let (owner, sprint, member) = setup(&app).await;
    let before = app.snapshot().await;
    for (method, path, body, field) in cases(&sprint, &member.id.to_string()) {
        let res = app.request(method.clone(), &path).token(&owner.token).json(&body).send().await;
        let problem = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["field"] == field),
            "{method} {path} with {field}: null: {problem}"
        );
    }
    assert_eq!(app.snapshot().await, before, "nothing was written");
}

async fn null_clears_what_can_be_cleared(db: TestDb) {
    let app = TestApp::new(&db);
    let (owner, sprint, _) = setup(&app).await;
    let created = app
        .post("/api/v1/projects/RHY/issues")
        .token(&owner.token)
        .json(&json!({"title": "T", "assignee_id": null, "sprint_id": null, "story_points": null}))
        .send()
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&created.body));
    let sprint_edit = app
        .patch(&format!("/api/v1/projects/RHY/sprints/{sprint}"))
        .token(&owner.token)
        .json(&json!({"starts_on": null, "ends_on": null}))
        .send()
        .await;
    assert_eq!(sprint_edit.status, StatusCode::OK);
    let issue_edit = app
        .patch("/api/v1/projects/RHY/issues/1")
        .token(&owner.token)
        .json(&json!({"assignee_id": null, "sprint_id": null, "story_points": null}))
        .send()
        .await;
    assert_eq!(issue_edit.status, StatusCode::OK);
}

async fn an_if_match_that_is_not_text_is_400_and_writes_nothing(db: TestDb) {
    let app = TestApp::new(&db);
    let (owner, _, _) = setup(&app).await;
    let before = app.snapshot().await;
    let res = app
        .patch("/api/v1/projects/RHY/issues/1")
        .token(&owner.token)
        .header_bytes("if-match", b"\"1\xff\"")
        .json(&json!({"title": "Unconditional?"}))
        .send()
        .await;
    res.assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(app.snapshot().await, before);
}

async fn a_null_optional_body_is_no_body(db: TestDb) {
    let app = TestApp::new(&db);
    let (owner, sprint, _) = setup(&app).await;
    let path = format!("/api/v1/projects/RHY/sprints/{sprint}");
    let started = app.post(&format!("{path}/start")).token(&owner.token).send().await;
    assert_eq!(started.status, StatusCode::OK);
    let completed = app
        .post(&format!("{path}/complete"))
        .token(&owner.token)
        .raw_body(Some("application/json"), "null")
        .send()
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", String::from_utf8_lossy(&completed.body));
    assert_eq!(completed.json()["sprint"]["state"], "closed");
}
