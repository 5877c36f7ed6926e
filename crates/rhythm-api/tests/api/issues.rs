//! Issues through the real router on each storage adapter.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use rhythm_domain::values::SprintState;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Account, TestApp, TestDb, api_tests};

api_tests! {
    creating_an_issue,
    invalid_creates_report_every_field_and_use_no_number,
    fifty_concurrent_creates_number_one_to_fifty,
    patching_changes_only_present_fields_with_one_event,
    invalid_patches_leave_the_row_unchanged,
    if_match_guards_against_lost_updates,
    two_concurrent_patches_with_one_if_match_let_one_win,
    soft_delete_and_restore,
    history_pages_oldest_first,
    a_cursor_walk_sees_every_issue_once_in_order_despite_inserts,
    listing_filters,
    integer_fields_take_numbers_with_a_zero_fraction,
}

/// A project RHY owned by `owner`.
async fn setup(app: &TestApp) -> Account {
    let owner = app.seed_user("owner").await;
    app.create_project(&owner, "RHY").await;
    owner
}

async fn create(app: &TestApp, who: &Account, body: Value) -> crate::support::TestResponse {
    app.post("/api/v1/projects/RHY/issues").token(&who.token).json(&body).send().await
}

async fn create_ok(app: &TestApp, who: &Account, title: &str) -> Value {
    let res = create(app, who, json!({ "title": title })).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

/// Issue `number` of RHY as stored, every column.
async fn row(app: &TestApp, number: i64) -> Value {
    let filter = "number = $1 AND project_id IN (SELECT id FROM projects WHERE key = 'RHY')";
    let mut rows = app.db.rows_as_json("issues", filter, &[number.into()]).await;
    assert_eq!(rows.len(), 1, "RHY-{number}");
    rows.remove(0)
}

async fn events_of(app: &TestApp, number: i64) -> Vec<(String, Value)> {
    let sql = "SELECT e.kind, e.changes FROM issue_events e JOIN issues i ON i.id = e.issue_id
               JOIN projects p ON p.id = i.project_id WHERE p.key = 'RHY' AND i.number = $1
               ORDER BY e.at, e.id";
    app.db.fetch_all(sql, &[number.into()]).await
}

async fn sprint(app: &TestApp, key: &str, state: &str) -> Uuid {
    app.seed_sprint(key, SprintState::parse(state).unwrap()).await
}

async fn creating_an_issue(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let res = create(&app, &owner, json!({"title": "  Login fails  "})).await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.header("location"), Some("/api/v1/projects/RHY/issues/1"));
    assert_eq!(res.header("etag"), Some("\"1\""));
    let issue = res.json();
    assert_eq!(issue["number"], 1);
    assert_eq!(issue["key"], "RHY-1");
    assert_eq!(issue["title"], "Login fails");
    assert_eq!(issue["description"], "");
    assert_eq!(
        (issue["status"].clone(), issue["priority"].clone(), issue["type"].clone()),
        (json!("todo"), json!("none"), json!("task"))
    );
    assert_eq!(issue["reporter_id"], json!(owner.id));
    assert_eq!(
        (issue["assignee_id"].clone(), issue["sprint_id"].clone(), issue["story_points"].clone()),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!((issue["version"].clone(), issue["resolved_at"].clone()), (json!(1), Value::Null));
    let keys: Vec<_> = issue.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "assignee_id",
            "created_at",
            "description",
            "description_truncated",
            "id",
            "key",
            "number",
            "priority",
            "project_id",
            "rank",
            "reporter_id",
            "resolved_at",
            "sprint_id",
            "status",
            "story_points",
            "title",
            "type",
            "updated_at",
            "version"
        ]
    );
    assert_eq!(events_of(&app, 1).await, vec![("created".to_owned(), json!({}))]);

    let got = app.get("/api/v1/projects/rhy/issues/1").token(&owner.token).send().await;
    assert_eq!((got.status, got.header("etag")), (StatusCode::OK, Some("\"1\"")));
    assert_eq!(got.json(), issue);

    let full = create(
        &app,
        &owner,
        json!({"title": "Ship it", "description": "All of it", "status": "done", "priority": "urgent",
               "type": "feature", "assignee_id": owner.id, "story_points": 8}),
    )
    .await
    .json();
    assert_eq!(
        (
            full["number"].clone(),
            full["status"].clone(),
            full["priority"].clone(),
            full["type"].clone()
        ),
        (json!(2), json!("done"), json!("urgent"), json!("feature"))
    );
    assert!(full["resolved_at"].is_string(), "created done → resolved");
    assert_eq!(
        (full["assignee_id"].clone(), full["story_points"].clone()),
        (json!(owner.id), json!(8))
    );
}

async fn invalid_creates_report_every_field_and_use_no_number(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let res = create(
        &app,
        &owner,
        json!({"title": " ", "description": "d".repeat(100_001), "status": "open", "priority": "p0",
               "type": "epic", "assignee_id": "x", "sprint_id": 5, "story_points": 1001}),
    )
    .await;
    // A wrong JSON type is a shape error: reported on its own.
    let body = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "sprint_id");

    let res = create(
        &app,
        &owner,
        json!({"title": " ", "description": "d".repeat(100_001), "status": "open", "priority": "p0",
               "type": "epic", "assignee_id": "x", "sprint_id": "y", "story_points": 1001}),
    )
    .await;
    let body = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields: Vec<_> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "title",
            "description",
            "status",
            "priority",
            "type",
            "assignee_id",
            "sprint_id",
            "story_points"
        ]
    );
    for read_only in [
        "id",
        "number",
        "key",
        "reporter_id",
        "version",
        "rank",
        "created_at",
        "resolved_at",
        "project_id",
        "updated_at",
    ] {
        let res = create(&app, &owner, json!({"title": "T", read_only: "x"})).await;
        let body = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], read_only);
    }
    create(&app, &owner, json!({}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // References that fail the cross-entity rules: 422, and no number is used.
    let viewer = app.seed_user("viewer").await;
    app.add_member("RHY", &viewer, "viewer").await;
    let stranger = app.seed_user("stranger").await;
    app.create_project(&owner, "OTH").await;
    let foreign = sprint(&app, "OTH", "planned").await;
    let closed = sprint(&app, "RHY", "closed").await;
    for (body, field) in [
        (json!({"title": "T", "assignee_id": viewer.id}), "assignee_id"),
        (json!({"title": "T", "assignee_id": stranger.id}), "assignee_id"),
        (json!({"title": "T", "assignee_id": Uuid::now_v7()}), "assignee_id"),
        (json!({"title": "T", "sprint_id": foreign}), "sprint_id"),
        (json!({"title": "T", "sprint_id": closed}), "sprint_id"),
    ] {
        let res = create(&app, &owner, body).await;
        let problem = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let both =
        create(&app, &owner, json!({"title": "T", "assignee_id": viewer.id, "sprint_id": closed}))
            .await;
    assert_eq!(
        both.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")["errors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let count: i64 = db.scalar("SELECT count(*) FROM issues", &[]).await;
    assert_eq!(count, 0);
    let planned = sprint(&app, "RHY", "planned").await;
    let ok =
        create(&app, &owner, json!({"title": "T", "sprint_id": planned, "assignee_id": owner.id}))
            .await
            .json();
    assert_eq!(ok["number"], 1, "refused creates used no number");
}

async fn fifty_concurrent_creates_number_one_to_fifty(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (app, owner) = (app.clone(), owner.clone());
            tokio::spawn(async move {
                create(&app, &owner, json!({"title": format!("Issue {i}")})).await
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in tasks {
        let res = task.await.unwrap();
        assert_eq!(res.status, StatusCode::CREATED);
        numbers.push(res.json()["number"].as_i64().unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=50).collect::<Vec<_>>());
    let stored: Vec<i64> = db.scalars("SELECT number FROM issues ORDER BY number", &[]).await;
    assert_eq!(stored, (1..=50).collect::<Vec<_>>());
    let counter: i64 = db.scalar("SELECT issue_counter FROM projects WHERE key = 'RHY'", &[]).await;
    assert_eq!(counter, 50);
}

async fn patching_changes_only_present_fields_with_one_event(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let member = app.seed_user("member").await;
    app.add_member("RHY", &member, "member").await;
    let created =
        create(&app, &owner, json!({"title": "T", "assignee_id": owner.id, "story_points": 3}))
            .await
            .json();
    let patch = |body: Value| {
        app.patch("/api/v1/projects/RHY/issues/1").token(&member.token).json(&body).send()
    };

    let res =
        patch(json!({"status": "done", "assignee_id": member.id, "story_points": null})).await;
    assert_eq!((res.status, res.header("etag")), (StatusCode::OK, Some("\"2\"")));
    let issue = res.json();
    assert_eq!(
        (issue["status"].clone(), issue["assignee_id"].clone(), issue["story_points"].clone()),
        (json!("done"), json!(member.id), Value::Null)
    );
    assert_eq!((issue["title"].clone(), issue["version"].clone()), (json!("T"), json!(2)));
    assert!(issue["resolved_at"].is_string());
    assert_ne!(issue["updated_at"], created["updated_at"]);
    let events = events_of(&app, 1).await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1],
        (
            "updated".to_owned(),
            json!({
                "status": {"from": "todo", "to": "done"},
                "assignee_id": {"from": owner.id, "to": member.id},
                "story_points": {"from": 3, "to": null},
            })
        )
    );

    // No-op patches: 200, nothing bumped, no event.
    for noop in [json!({}), json!({"status": "done", "title": "T"})] {
        let res = patch(noop).await;
        assert_eq!((res.status, res.json()["version"].clone()), (StatusCode::OK, json!(2)));
    }
    assert_eq!(events_of(&app, 1).await.len(), 2);

    // Moving out of done clears resolved_at.
    let reopened = patch(json!({"status": "in_progress", "sprint_id": null})).await.json();
    assert_eq!(
        (reopened["resolved_at"].clone(), reopened["version"].clone()),
        (Value::Null, json!(3))
    );
}

async fn invalid_patches_leave_the_row_unchanged(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let viewer = app.seed_user("viewer").await;
    app.add_member("RHY", &viewer, "viewer").await;
    create_ok(&app, &owner, "T").await;
    let closed = sprint(&app, "RHY", "closed").await;
    let before = row(&app, 1).await;
    let cases: Vec<(Value, StatusCode)> = vec![
        (json!({"title": null}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"title": ""}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"status": "nope", "priority": "p1"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"assignee_id": viewer.id}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"sprint_id": closed}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"story_points": -1}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"version": 7}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"number": 7}), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, status) in cases {
        let res =
            app.patch("/api/v1/projects/RHY/issues/1").token(&owner.token).json(&body).send().await;
        assert_eq!(res.status, status, "{body}");
    }
    let malformed = app
        .patch("/api/v1/projects/RHY/issues/1")
        .token(&owner.token)
        .raw_body(Some("application/json"), "{\"title\": ")
        .send()
        .await;
    malformed.assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    let viewer_patch = app
        .patch("/api/v1/projects/RHY/issues/1")
        .token(&viewer.token)
        .json(&json!({"title": "X"}))
        .send()
        .await;
    viewer_patch.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.patch("/api/v1/projects/RHY/issues/2")
        .token(&owner.token)
        .json(&json!({"title": "X"}))
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.patch("/api/v1/projects/RHY/issues/abc")
        .token(&owner.token)
        .json(&json!({"title": "X"}))
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(row(&app, 1).await, before);
    assert_eq!(events_of(&app, 1).await.len(), 1);
}

async fn if_match_guards_against_lost_updates(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    create_ok(&app, &owner, "T").await;
    let patch = |etag: &str, body: Value| {
        app.patch("/api/v1/projects/RHY/issues/1")
            .token(&owner.token)
            .header("if-match", etag)
            .json(&body)
            .send()
    };
    let ok = patch("\"1\"", json!({"title": "First"})).await;
    assert_eq!((ok.status, ok.header("etag")), (StatusCode::OK, Some("\"2\"")));
    let before = row(&app, 1).await;
    patch("\"1\"", json!({"title": "Stale"}))
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, "version_mismatch");
    patch("\"1\"", json!({}))
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, "version_mismatch");
    patch("garbage", json!({"title": "Stale"}))
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, "version_mismatch");
    assert_eq!(row(&app, 1).await, before);
    assert_eq!(patch("W/\"2\"", json!({"title": "Second"})).await.status, StatusCode::OK);
    assert_eq!(patch("*", json!({"title": "Third"})).await.json()["version"], 4);
}

async fn two_concurrent_patches_with_one_if_match_let_one_win(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    for round in 0..10 {
        let issue = create_ok(&app, &owner, "T").await;
        let number = issue["number"].as_i64().unwrap();
        let patch = |title: &'static str| {
            let (app, token) = (app.clone(), owner.token.clone());
            tokio::spawn(async move {
                let res = app
                    .patch(&format!("/api/v1/projects/RHY/issues/{number}"))
                    .token(&token)
                    .header("if-match", "\"1\"")
                    .json(&json!({ "title": title, "priority": if title == "A" { "low" } else { "high" } }))
                    .send()
                    .await;
                (title, res.status)
            })
        };
        let (a, b) = (patch("A"), patch("B"));
        let results = [a.await.unwrap(), b.await.unwrap()];
        let winners: Vec<_> = results.iter().filter(|(_, s)| *s == StatusCode::OK).collect();
        let losers: Vec<_> =
            results.iter().filter(|(_, s)| *s == StatusCode::PRECONDITION_FAILED).collect();
        assert_eq!((winners.len(), losers.len()), (1, 1), "round {round}: {results:?}");
        let stored = row(&app, number).await;
        let winner = winners[0].0;
        assert_eq!(stored["title"], winner, "the row holds the winner's values");
        assert_eq!(stored["priority"], if winner == "A" { 1 } else { 3 });
        assert_eq!(stored["version"], 2);
        assert_eq!(events_of(&app, number).await.len(), 2);
    }
}

async fn soft_delete_and_restore(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let (member, maintainer) = (app.seed_user("member").await, app.seed_user("maintainer").await);
    app.add_member("RHY", &member, "member").await;
    app.add_member("RHY", &maintainer, "maintainer").await;
    create_ok(&app, &owner, "Owner's").await;
    create_ok(&app, &member, "Member's").await;

    app.delete("/api/v1/projects/RHY/issues/1")
        .token(&member.token)
        .send()
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.delete("/api/v1/projects/RHY/issues/2").token(&member.token).send().await.status,
        StatusCode::NO_CONTENT
    );

    // Gone from every read path.
    let get = app.get("/api/v1/projects/RHY/issues/2").token(&owner.token).send().await;
    let never = app.get("/api/v1/projects/RHY/issues/99").token(&owner.token).send().await;
    get.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(get.body, never.body);
    app.get("/api/v1/projects/RHY/issues/2/events")
        .token(&owner.token)
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.patch("/api/v1/projects/RHY/issues/2")
        .token(&owner.token)
        .json(&json!({"title": "x"}))
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.delete("/api/v1/projects/RHY/issues/2")
        .token(&owner.token)
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let listed: Vec<_> =
        app.get("/api/v1/projects/RHY/issues").token(&owner.token).send().await.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["number"].clone())
            .collect();
    assert_eq!(listed, [json!(1)]);

    // Restoring: maintainers and owners only; a live issue is not restorable.
    app.post("/api/v1/projects/RHY/issues/2/restore")
        .token(&member.token)
        .send()
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let restored =
        app.post("/api/v1/projects/RHY/issues/2/restore").token(&maintainer.token).send().await;
    assert_eq!(restored.status, StatusCode::OK);
    assert_eq!(
        (restored.json()["title"].clone(), restored.json()["version"].clone()),
        (json!("Member's"), json!(3))
    );
    app.post("/api/v1/projects/RHY/issues/2/restore")
        .token(&maintainer.token)
        .send()
        .await
        .assert_problem(StatusCode::CONFLICT, "invalid_state");
    app.post("/api/v1/projects/RHY/issues/7/restore")
        .token(&maintainer.token)
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let with_body = app
        .post("/api/v1/projects/RHY/issues/2/restore")
        .token(&maintainer.token)
        .json(&json!({}))
        .send()
        .await;
    with_body.assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    let kinds: Vec<_> = events_of(&app, 2).await.into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(kinds, ["created", "deleted", "restored"]);
}

async fn history_pages_oldest_first(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    create_ok(&app, &owner, "T").await;
    for i in 0..5 {
        let res = app
            .patch("/api/v1/projects/RHY/issues/1")
            .token(&owner.token)
            .json(&json!({"title": format!("T{i}")}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK);
    }
    let first = app
        .get("/api/v1/projects/RHY/issues/1/events?limit=4")
        .token(&owner.token)
        .send()
        .await
        .json();
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["kind"], "created");
    assert_eq!(items[0]["actor_id"], json!(owner.id));
    assert_eq!(items[1]["changes"], json!({"title": {"from": "T", "to": "T0"}}));
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/api/v1/projects/RHY/issues/1/events?limit=4&cursor={cursor}"))
        .token(&owner.token)
        .send()
        .await
        .json();
    let titles: Vec<_> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["changes"]["title"]["to"].clone())
        .collect();
    assert_eq!(titles, [json!("T3"), json!("T4")]);
    assert_eq!(second["next_cursor"], Value::Null);
}

async fn a_cursor_walk_sees_every_issue_once_in_order_despite_inserts(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    for i in 0..120 {
        create_ok(&app, &owner, &format!("Issue {i}")).await;
    }
    for sort in ["-created_at", "number", "-number", "rank", "-priority", "updated_at"] {
        // Every issue that exists when the walk begins (earlier walks added some).
        let existing: i64 = db.scalar("SELECT count(*) FROM issues", &[]).await;
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut inserted = 0;
        loop {
            let mut path = format!("/api/v1/projects/RHY/issues?limit=7&sort={sort}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = app.get(&path).token(&owner.token).send().await.json();
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 7);
            seen.extend(items.iter().map(|i| i["number"].as_i64().unwrap()));
            // New issues land between pages; a walk that began earlier must not see them
            // twice, nor lose any issue it was going to see.
            create_ok(&app, &owner, "Late").await;
            inserted += 1;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let unique: BTreeSet<_> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: duplicates in {seen:?}");
        let original: BTreeSet<i64> = (1..=existing).collect();
        assert!(
            original.is_subset(&unique),
            "{sort}: missing {:?}",
            original.difference(&unique).collect::<Vec<_>>()
        );
        let expected_order: Vec<i64> = match sort {
            "-created_at" | "-number" | "-priority" => {
                let mut v = seen.clone();
                v.sort_unstable_by(|a, b| b.cmp(a));
                v
            }
            _ => {
                let mut v = seen.clone();
                v.sort_unstable();
                v
            }
        };
        // Equal priorities fall back to id order, which follows creation here.
        assert_eq!(seen, expected_order, "{sort}");
        if sort.starts_with('-') {
            let seen_count = i64::try_from(seen.len()).unwrap();
            assert_eq!(
                seen_count, existing,
                "{sort}: issues made during a newest-first walk come before it"
            );
        }
        assert!(inserted > 0);
    }
}

async fn listing_filters(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let member = app.seed_user("member").await;
    app.add_member("RHY", &member, "member").await;
    let active = sprint(&app, "RHY", "active").await;
    let planned = sprint(&app, "RHY", "planned").await;
    let specs = [
        json!({"title": "a", "status": "todo", "priority": "high", "type": "bug", "assignee_id": member.id, "sprint_id": active}),
        json!({"title": "b", "status": "in_progress", "priority": "low", "type": "task", "assignee_id": owner.id}),
        json!({"title": "c", "status": "done", "priority": "urgent", "type": "bug", "sprint_id": planned}),
        json!({"title": "d", "status": "todo", "priority": "none", "type": "story", "assignee_id": member.id}),
    ];
    for spec in specs {
        assert_eq!(create(&app, &owner, spec).await.status, StatusCode::CREATED);
    }
    assert_eq!(
        create(&app, &member, json!({"title": "e", "type": "feature"})).await.status,
        StatusCode::CREATED
    );
    let titles = |query: String| {
        let app = app.clone();
        let token = member.token.clone();
        async move {
            let res = app
                .get(&format!("/api/v1/projects/RHY/issues?sort=number&{query}"))
                .token(&token)
                .send()
                .await;
            assert_eq!(
                res.status,
                StatusCode::OK,
                "{query}: {}",
                String::from_utf8_lossy(&res.body)
            );
            res.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["title"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(titles("status=todo".into()).await, ["a", "d", "e"]);
    assert_eq!(titles("status=todo,done".into()).await, ["a", "c", "d", "e"]);
    assert_eq!(titles("priority=high,urgent".into()).await, ["a", "c"]);
    assert_eq!(titles("type=bug".into()).await, ["a", "c"]);
    assert_eq!(titles("assignee=me".into()).await, ["a", "d"]);
    assert_eq!(titles(format!("assignee={}", owner.id)).await, ["b"]);
    assert_eq!(titles("assignee=none".into()).await, ["c", "e"]);
    assert_eq!(titles("reporter=me".into()).await, ["e"]);
    assert_eq!(titles("sprint=active".into()).await, ["a"]);
    assert_eq!(titles("sprint=none".into()).await, ["b", "d", "e"]);
    assert_eq!(titles(format!("sprint={planned}")).await, ["c"]);
    assert_eq!(titles("status=todo&assignee=me".into()).await, ["a", "d"]);
    assert_eq!(titles("updated_since=2000-01-01T00:00:00Z".into()).await.len(), 5);
    assert_eq!(titles("updated_since=2999-01-01T00:00:00Z".into()).await.len(), 0);
    let by_priority = app
        .get("/api/v1/projects/RHY/issues?sort=-priority")
        .token(&member.token)
        .send()
        .await
        .json();
    let priorities: Vec<_> =
        by_priority["items"].as_array().unwrap().iter().map(|i| i["priority"].clone()).collect();
    assert_eq!(
        priorities,
        [json!("urgent"), json!("high"), json!("low"), json!("none"), json!("none")]
    );

    for bad in [
        "status=open",
        "priority=p1",
        "type=epic",
        "assignee=someone",
        "reporter=none",
        "sprint=next",
        "updated_since=yesterday",
        "sort=title",
        "sort=--number",
        "limit=500",
        "colour=red",
    ] {
        let res = app
            .get(&format!("/api/v1/projects/RHY/issues?{bad}"))
            .token(&member.token)
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(res.json()["code"], "invalid_query", "{bad}");
    }
    let page = app
        .get("/api/v1/projects/RHY/issues?limit=1&sort=number")
        .token(&member.token)
        .send()
        .await
        .json();
    let cursor = page["next_cursor"].as_str().unwrap();
    let other_sort = app
        .get(&format!("/api/v1/projects/RHY/issues?sort=-created_at&cursor={cursor}"))
        .token(&member.token)
        .send()
        .await;
    other_sort.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    let garbage = app
        .get("/api/v1/projects/RHY/issues?cursor=bm90LWEtY3Vyc29y")
        .token(&member.token)
        .send()
        .await;
    garbage.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
}

/// JSON Schema's integers include `3.0`; a fraction or a number beyond range is refused.
async fn integer_fields_take_numbers_with_a_zero_fraction(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = app.seed_user("owner").await;
    app.create_project(&owner, "RHY").await;
    let res = app
        .post("/api/v1/projects/RHY/issues")
        .token(&owner.token)
        .json(&json!({"title": "Points", "story_points": 3.0}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.json()["story_points"], json!(3));
    for bad in [json!(2.5), json!(1e300)] {
        let res = app
            .patch("/api/v1/projects/RHY/issues/1")
            .token(&owner.token)
            .json(&json!({"story_points": bad}))
            .send()
            .await;
        let problem = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "story_points", "{bad}");
    }
    app.post("/api/v1/projects/RHY/issues")
        .token(&owner.token)
        .json(&json!({"title": "Two"}))
        .send()
        .await;
    let moved = app
        .post("/api/v1/projects/RHY/issues/2/move")
        .token(&owner.token)
        .json(&json!({"before": 1.0}))
        .send()
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    let numbers: Vec<i64> = app
        .get("/api/v1/projects/RHY/issues?sort=rank")
        .token(&owner.token)
        .send()
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
}
