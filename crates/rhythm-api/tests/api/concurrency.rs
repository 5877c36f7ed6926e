//! Read-modify-write paths under many writers at once: an unconditional write never fails
//! because of another one, bumps the version exactly once and leaves exactly one event.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Account, TestApp, TestDb, TestResponse, api_tests};

api_tests! {
    twenty_unconditional_patches_of_one_issue_all_succeed,
    twenty_moves_of_one_issue_all_succeed,
    twenty_sprint_edits_all_succeed,
    concurrent_date_edits_never_combine_into_an_unordered_sprint,
    twenty_role_changes_of_one_member_all_succeed,
}

const WRITERS: i64 = 20;

async fn setup(app: &TestApp) -> Account {
    let owner = app.seed_user("owner").await;
    app.create_project(&owner, "RHY").await;
    for title in ["First", "Second"] {
        let res = app
            .post("/api/v1/projects/RHY/issues")
            .token(&owner.token)
            .json(&json!({ "title": title }))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
    }
    owner
}

/// Runs `WRITERS` requests at once; the n-th (from 0) is `request(n)`.
async fn all_at_once<F, Fut>(request: F) -> Vec<TestResponse>
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = TestResponse> + Send + 'static,
{
    let tasks: Vec<_> = (0..WRITERS).map(|n| tokio::spawn(request(n))).collect();
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.unwrap());
    }
    responses
}

fn assert_all_ok(responses: &[TestResponse]) {
    for res in responses {
        assert_eq!(res.status, StatusCode::OK, "{}", String::from_utf8_lossy(&res.body));
    }
}

/// The versions the responses carry: each writer saw its own, exactly once.
fn assert_versions_2_to_21(responses: &[TestResponse]) {
    let versions: BTreeSet<i64> =
        responses.iter().map(|r| r.json()["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, (2..=WRITERS + 1).collect::<BTreeSet<_>>());
}

async fn events(app: &TestApp, number: i64, kind: &str) -> i64 {
    let sql = "SELECT count(*) FROM issue_events e JOIN issues i ON i.id = e.issue_id
               WHERE i.number = $1 AND e.kind = $2";
    app.db.scalar(sql, &[number.into(), kind.into()]).await
}

async fn stored_version(app: &TestApp, number: i64) -> i64 {
    app.db.scalar("SELECT version FROM issues WHERE number = $1", &[number.into()]).await
}

async fn twenty_unconditional_patches_of_one_issue_all_succeed(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let responses = all_at_once(|n| {
        let (app, token) = (app.clone(), owner.token.clone());
        async move {
            app.patch("/api/v1/projects/RHY/issues/1")
                .token(&token)
                .json(&json!({ "title": format!("Edit {n}"), "story_points": n }))
                .send()
                .await
        }
    })
    .await;
    assert_all_ok(&responses);
    assert_versions_2_to_21(&responses);
    assert_eq!(stored_version(&app, 1).await, WRITERS + 1);
    assert_eq!(events(&app, 1, "updated").await, WRITERS);
    // Last write wins: the row holds the values of the writer that answered version 21.
    let last = responses.iter().map(TestResponse::json).find(|b| b["version"] == WRITERS + 1);
    let last = last.unwrap();
    let stored: (String, i32) =
        db.fetch_one("SELECT title, story_points FROM issues WHERE number = 1", &[]).await;
    assert_eq!(json!([stored.0, stored.1]), json!([last["title"], last["story_points"]]));
}

async fn twenty_moves_of_one_issue_all_succeed(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let responses = all_at_once(|n| {
        let (app, token) = (app.clone(), owner.token.clone());
        let body = if n % 2 == 0 {
            json!({ "status": "in_progress" })
        } else {
            json!({ "status": "todo", "before": 2 })
        };
        async move {
            app.post("/api/v1/projects/RHY/issues/1/move").token(&token).json(&body).send().await
        }
    })
    .await;
    assert_all_ok(&responses);
    assert_versions_2_to_21(&responses);
    assert_eq!(stored_version(&app, 1).await, WRITERS + 1);
    assert_eq!(events(&app, 1, "moved").await, WRITERS);
}

async fn create_sprint(app: &TestApp, owner: &Account) -> String {
    let res = app
        .post("/api/v1/projects/RHY/sprints")
        .token(&owner.token)
        .json(&json!({ "name": "S1", "starts_on": "2027-01-01", "ends_on": "2027-01-31" }))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&res.body));
    res.json()["id"].as_str().unwrap().to_owned()
}

async fn twenty_sprint_edits_all_succeed(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let sprint = create_sprint(&app, &owner).await;
    let responses = all_at_once(|n| {
        let (app, token, sprint) = (app.clone(), owner.token.clone(), sprint.clone());
        async move {
            app.patch(&format!("/api/v1/projects/RHY/sprints/{sprint}"))
                .token(&token)
                .json(
                    &json!({ "name": format!("S{n}"), "ends_on": format!("2027-02-{:02}", n + 1) }),
                )
                .send()
                .await
        }
    })
    .await;
    assert_all_ok(&responses);
    let names: BTreeSet<String> =
        responses.iter().map(|r| r.json()["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names.len(), WRITERS as usize, "each edit answered with its own write");
}

async fn concurrent_date_edits_never_combine_into_an_unordered_sprint(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    for round in 0..10 {
        let sprint = create_sprint(&app, &owner).await;
        let path = format!("/api/v1/projects/RHY/sprints/{sprint}");
        // Each is valid alone (01-20..01-31, 01-01..01-10); together they are not.
        let edit = |body: Value| {
            let (app, token, path) = (app.clone(), owner.token.clone(), path.clone());
            tokio::spawn(async move { app.patch(&path).token(&token).json(&body).send().await })
        };
        let later_start = edit(json!({ "starts_on": "2027-01-20" }));
        let earlier_end = edit(json!({ "ends_on": "2027-01-10" }));
        let statuses = [later_start.await.unwrap(), earlier_end.await.unwrap()];
        let ok = statuses.iter().filter(|r| r.status == StatusCode::OK).count();
        assert_eq!(ok, 1, "round {round}: exactly one applies");
        let refused = statuses.iter().find(|r| r.status != StatusCode::OK).unwrap();
        refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let stored = app.get(&path).token(&owner.token).send().await.json();
        let date = |field: &str| {
            let text = stored[field].as_str().unwrap();
            time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
                .unwrap()
        };
        let (starts, ends) = (date("starts_on"), date("ends_on"));
        assert!(starts <= ends, "round {round}: {starts} .. {ends}");
    }
}

async fn twenty_role_changes_of_one_member_all_succeed(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let target = app.seed_user("target").await;
    app.add_member("RHY", &target, "viewer").await;
    let path = format!("/api/v1/projects/RHY/members/{}", target.id);
    let responses = all_at_once(|n| {
        let (app, token, path) = (app.clone(), owner.token.clone(), path.clone());
        let role = ["member", "viewer", "maintainer"][(n % 3) as usize];
        async move { app.patch(&path).token(&token).json(&json!({ "role": role })).send().await }
    })
    .await;
    assert_all_ok(&responses);
    for (n, res) in responses.iter().enumerate() {
        assert_eq!(res.json()["role"], ["member", "viewer", "maintainer"][n % 3]);
    }
    let owners: i64 = db
        .scalar(
            "SELECT count(*) FROM project_members WHERE role = 'owner' AND user_id = $1",
            &[owner.id.into()],
        )
        .await;
    assert_eq!(owners, 1, "the owner is untouched");
}
