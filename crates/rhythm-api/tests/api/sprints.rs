//! Scrum sprints: CRUD, the state machine, completion and the sprint board.

use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Account, TestApp, TestDb, api_tests};

api_tests! {
    sprints_are_created_listed_and_updated,
    the_state_machine_refuses_every_invalid_transition,
    completing_moves_unfinished_work_in_one_go,
    deleting_a_planned_sprint_returns_its_issues_to_the_backlog,
    the_sprint_board_sums_points_per_column,
}

async fn setup(app: &TestApp) -> Account {
    let owner = app.seed_user("owner").await;
    app.create_project(&owner, "RHY").await;
    owner
}

async fn new_sprint(app: &TestApp, who: &Account, name: &str) -> Value {
    let res = app
        .post("/api/v1/projects/RHY/sprints")
        .token(&who.token)
        .json(&json!({ "name": name }))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

fn sprint_path(sprint: &Value, rest: &str) -> String {
    format!("/api/v1/projects/RHY/sprints/{}{rest}", sprint["id"].as_str().unwrap())
}

async fn issue(app: &TestApp, who: &Account, body: Value) -> Value {
    let res = app.post("/api/v1/projects/RHY/issues").token(&who.token).json(&body).send().await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

async fn sprint_of(app: &TestApp, number: i64) -> Option<Uuid> {
    app.db.scalar("SELECT sprint_id FROM issues WHERE number = $1", &[number.into()]).await
}

async fn sprints_are_created_listed_and_updated(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let res = app
        .post("/api/v1/projects/RHY/sprints")
        .token(&owner.token)
        .json(&json!({"name": " Sprint 1 ", "goal": "Ship login", "starts_on": "2026-12-01", "ends_on": "2026-12-14"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let s1 = res.json();
    assert_eq!(
        (
            s1["name"].clone(),
            s1["state"].clone(),
            s1["starts_on"].clone(),
            s1["ends_on"].clone(),
            s1["started_at"].clone()
        ),
        (
            json!("Sprint 1"),
            json!("planned"),
            json!("2026-12-01"),
            json!("2026-12-14"),
            Value::Null
        )
    );
    let keys: Vec<_> = s1.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "completed_at",
            "created_at",
            "ends_on",
            "goal",
            "id",
            "name",
            "project_id",
            "started_at",
            "starts_on",
            "state"
        ]
    );
    let s2 = new_sprint(&app, &owner, "Sprint 2").await;

    let invalid = app
        .post("/api/v1/projects/RHY/sprints")
        .token(&owner.token)
        .json(&json!({"name": "", "starts_on": "2026-12-14", "ends_on": "2026-12-01"}))
        .send()
        .await;
    let body = invalid.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields: Vec<_> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "ends_on"]);
    let bad_date = app
        .post("/api/v1/projects/RHY/sprints")
        .token(&owner.token)
        .json(&json!({"name": "x", "starts_on": "01/12/2026"}))
        .send()
        .await;
    bad_date.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let list =
        app.get("/api/v1/projects/RHY/sprints?limit=1").token(&owner.token).send().await.json();
    assert_eq!(list["items"][0]["id"], s2["id"], "newest first");
    let cursor = list["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/api/v1/projects/RHY/sprints?limit=1&cursor={cursor}"))
        .token(&owner.token)
        .send()
        .await
        .json();
    assert_eq!(rest["items"][0]["id"], s1["id"]);
    let planned = app
        .get("/api/v1/projects/RHY/sprints?state=active")
        .token(&owner.token)
        .send()
        .await
        .json();
    assert_eq!(planned["items"], json!([]));
    app.get("/api/v1/projects/RHY/sprints?state=running")
        .token(&owner.token)
        .send()
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_query");

    let got = app.get(&sprint_path(&s1, "")).token(&owner.token).send().await;
    assert_eq!((got.status, got.json()), (StatusCode::OK, s1.clone()));
    let patched = app
        .patch(&sprint_path(&s1, ""))
        .token(&owner.token)
        .json(&json!({"goal": "Ship it all", "ends_on": null}))
        .send()
        .await
        .json();
    assert_eq!(
        (patched["goal"].clone(), patched["ends_on"].clone(), patched["starts_on"].clone()),
        (json!("Ship it all"), Value::Null, json!("2026-12-01"))
    );
    let backwards = app
        .patch(&sprint_path(&s1, ""))
        .token(&owner.token)
        .json(&json!({"ends_on": "2026-11-01"}))
        .send()
        .await;
    backwards.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.get(&format!("/api/v1/projects/RHY/sprints/{}", Uuid::now_v7()))
        .token(&owner.token)
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/v1/projects/RHY/sprints/not-an-id")
        .token(&owner.token)
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn the_state_machine_refuses_every_invalid_transition(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let (s1, s2) = (new_sprint(&app, &owner, "S1").await, new_sprint(&app, &owner, "S2").await);
    let post = |path: String| app.post(&path).token(&owner.token).send();

    post(sprint_path(&s1, "/complete")).await.assert_problem(StatusCode::CONFLICT, "invalid_state");
    let started = post(sprint_path(&s1, "/start")).await;
    assert_eq!(started.status, StatusCode::OK);
    let started = started.json();
    assert_eq!(started["state"], "active");
    assert!(started["started_at"].is_string());
    post(sprint_path(&s1, "/start")).await.assert_problem(StatusCode::CONFLICT, "invalid_state");
    post(sprint_path(&s2, "/start"))
        .await
        .assert_problem(StatusCode::CONFLICT, "active_sprint_exists");
    app.delete(&sprint_path(&s1, ""))
        .token(&owner.token)
        .send()
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid_state");
    let completed = post(sprint_path(&s1, "/complete")).await;
    assert_eq!(completed.status, StatusCode::OK);
    assert_eq!(completed.json()["sprint"]["state"], "closed");
    post(sprint_path(&s1, "/complete")).await.assert_problem(StatusCode::CONFLICT, "invalid_state");
    post(sprint_path(&s1, "/start")).await.assert_problem(StatusCode::CONFLICT, "invalid_state");
    app.delete(&sprint_path(&s1, ""))
        .token(&owner.token)
        .send()
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid_state");
    // With the first one closed, the second may start.
    assert_eq!(post(sprint_path(&s2, "/start")).await.status, StatusCode::OK);
    let with_body =
        app.post(&sprint_path(&s2, "/start")).token(&owner.token).json(&json!({})).send().await;
    with_body.assert_problem(StatusCode::BAD_REQUEST, "bad_request");
}

async fn completing_moves_unfinished_work_in_one_go(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let (s1, next) = (new_sprint(&app, &owner, "S1").await, new_sprint(&app, &owner, "Next").await);
    let closed = new_sprint(&app, &owner, "Old").await;
    for step in ["/start", "/complete"] {
        let res = app.post(&sprint_path(&closed, step)).token(&owner.token).send().await;
        assert_eq!(res.status, StatusCode::OK, "{}", String::from_utf8_lossy(&res.body));
    }
    let sid = s1["id"].clone();
    issue(
        &app,
        &owner,
        json!({"title": "done", "status": "done", "story_points": 5, "sprint_id": sid}),
    )
    .await;
    issue(
        &app,
        &owner,
        json!({"title": "cancelled", "status": "cancelled", "story_points": 2, "sprint_id": sid}),
    )
    .await;
    issue(
        &app,
        &owner,
        json!({"title": "open", "status": "in_progress", "story_points": 8, "sprint_id": sid}),
    )
    .await;
    issue(&app, &owner, json!({"title": "open too", "sprint_id": sid})).await;
    issue(&app, &owner, json!({"title": "elsewhere"})).await;
    app.post(&sprint_path(&s1, "/start")).token(&owner.token).send().await;

    // Targets that are not a planned sprint of this project: 422, nothing changes.
    let before = app.snapshot().await;
    for target in [json!("nowhere"), closed["id"].clone(), s1["id"].clone(), json!(Uuid::now_v7())]
    {
        let res = app
            .post(&sprint_path(&s1, "/complete"))
            .token(&owner.token)
            .json(&json!({"move_open_issues_to": target}))
            .send()
            .await;
        res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    assert_eq!(app.snapshot().await, before);

    let res = app
        .post(&sprint_path(&s1, "/complete"))
        .token(&owner.token)
        .json(&json!({"move_open_issues_to": next["id"]}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    assert_eq!(
        (
            body["completed_issues"].clone(),
            body["completed_points"].clone(),
            body["moved_issues"].clone()
        ),
        (json!(2), json!(7), json!(2))
    );
    let next_id = Uuid::parse_str(next["id"].as_str().unwrap()).unwrap();
    let s1_id = Uuid::parse_str(s1["id"].as_str().unwrap()).unwrap();
    assert_eq!(sprint_of(&app, 3).await, Some(next_id));
    assert_eq!(sprint_of(&app, 4).await, Some(next_id));
    assert_eq!(sprint_of(&app, 1).await, Some(s1_id), "done issues stay with their sprint");
    let sql = "SELECT e.changes FROM issue_events e JOIN issues i ON i.id = e.issue_id
               WHERE e.kind = 'moved' ORDER BY i.number";
    let moved: Vec<Value> = db.scalars(sql, &[]).await;
    assert_eq!(moved, vec![json!({"sprint_id": {"from": s1_id, "to": next_id}}); 2]);

    // No body means the backlog.
    app.post(&sprint_path(&next, "/start")).token(&owner.token).send().await;
    let res = app.post(&sprint_path(&next, "/complete")).token(&owner.token).send().await;
    assert_eq!((res.status, res.json()["moved_issues"].clone()), (StatusCode::OK, json!(2)));
    assert_eq!(sprint_of(&app, 3).await, None);
}

async fn deleting_a_planned_sprint_returns_its_issues_to_the_backlog(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let s1 = new_sprint(&app, &owner, "S1").await;
    issue(&app, &owner, json!({"title": "a", "sprint_id": s1["id"]})).await;
    issue(&app, &owner, json!({"title": "b", "status": "done", "sprint_id": s1["id"]})).await;
    let res = app.delete(&sprint_path(&s1, "")).token(&owner.token).send().await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!((sprint_of(&app, 1).await, sprint_of(&app, 2).await), (None, None));
    let updates: Vec<Value> =
        db.scalars("SELECT changes FROM issue_events WHERE kind = 'updated'", &[]).await;
    let events = updates.iter().filter(|changes| changes.get("sprint_id").is_some()).count();
    assert_eq!(events, 2);
    app.get(&sprint_path(&s1, ""))
        .token(&owner.token)
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn the_sprint_board_sums_points_per_column(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let s1 = new_sprint(&app, &owner, "S1").await;
    issue(&app, &owner, json!({"title": "a", "sprint_id": s1["id"], "story_points": 3})).await;
    issue(&app, &owner, json!({"title": "b", "sprint_id": s1["id"], "story_points": 5})).await;
    issue(
        &app,
        &owner,
        json!({"title": "c", "sprint_id": s1["id"], "status": "done", "story_points": 8}),
    )
    .await;
    issue(&app, &owner, json!({"title": "not in the sprint", "story_points": 13})).await;
    let board = app.get(&sprint_path(&s1, "/board")).token(&owner.token).send().await.json();
    let columns: Vec<(String, i64, i64)> = board["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_owned(),
                c["total"].as_i64().unwrap(),
                c["points"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(columns[1], ("todo".to_owned(), 2, 8));
    assert_eq!(columns[4], ("done".to_owned(), 1, 8));
    assert_eq!(columns.iter().map(|c| c.1).sum::<i64>(), 3);
    app.get(&format!("{}?sprint=none", sprint_path(&s1, "/board")))
        .token(&owner.token)
        .send()
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_query");
}
