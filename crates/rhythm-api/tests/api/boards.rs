//! Kanban boards, board moves and the backlog.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Account, TestApp, TestDb, api_tests};

api_tests! {
    the_board_has_six_columns_in_rank_order,
    board_filters_apply_to_totals_and_items,
    moves_place_issues_and_write_only_the_moved_one,
    invalid_moves_change_nothing,
    ten_concurrent_moves_into_one_spot_give_a_strict_order,
    a_crowded_bottom_is_respaced_below_the_next_new_issue,
    the_backlog_is_unsprinted_unresolved_work_in_rank_order,
}

async fn setup(app: &TestApp) -> Account {
    let owner = app.seed_user("owner").await;
    app.create_project(&owner, "RHY").await;
    owner
}

async fn create(app: &TestApp, who: &Account, body: Value) -> Value {
    let res = app.post("/api/v1/projects/RHY/issues").token(&who.token).json(&body).send().await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

async fn move_issue(
    app: &TestApp,
    who: &Account,
    number: i64,
    body: Value,
) -> crate::support::TestResponse {
    app.post(&format!("/api/v1/projects/RHY/issues/{number}/move"))
        .token(&who.token)
        .json(&body)
        .send()
        .await
}

/// Issue numbers of a column, top to bottom, from the database.
async fn column(app: &TestApp, status: &str) -> Vec<i64> {
    let sql = "SELECT number FROM issues i JOIN projects p ON p.id = i.project_id
               WHERE p.key = 'RHY' AND i.status = $1 AND i.deleted_at IS NULL ORDER BY i.rank";
    app.db.scalars(sql, &[status.into()]).await
}

async fn ranks(app: &TestApp) -> Vec<(i64, String)> {
    app.db.fetch_all("SELECT number, rank FROM issues ORDER BY number", &[]).await
}

async fn the_board_has_six_columns_in_rank_order(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    for (i, status) in ["todo", "todo", "in_progress", "done", "todo", "backlog"].iter().enumerate()
    {
        create(
            &app,
            &owner,
            json!({"title": format!("I{i}"), "status": status, "story_points": i + 1}),
        )
        .await;
    }
    let board =
        app.get("/api/v1/projects/RHY/board?per_column=2").token(&owner.token).send().await.json();
    let columns = board["columns"].as_array().unwrap();
    let statuses: Vec<_> = columns.iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["backlog", "todo", "in_progress", "in_review", "done", "cancelled"]);
    let summary: Vec<(i64, i64, Vec<i64>)> = columns
        .iter()
        .map(|c| {
            let numbers = c["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["number"].as_i64().unwrap())
                .collect();
            (c["total"].as_i64().unwrap(), c["points"].as_i64().unwrap(), numbers)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, 6, vec![6]),
            (3, 1 + 2 + 5, vec![1, 2]),
            (1, 3, vec![3]),
            (0, 0, vec![]),
            (1, 4, vec![4]),
            (0, 0, vec![])
        ]
    );
    // The rest of a column continues with the issue listing.
    let todo = &columns[1];
    let cursor = todo["next_cursor"].as_str().unwrap();
    assert!(columns[0]["next_cursor"].is_null());
    let rest = app
        .get(&format!("/api/v1/projects/RHY/issues?status=todo&sort=rank&cursor={cursor}"))
        .token(&owner.token)
        .send()
        .await
        .json();
    let numbers: Vec<_> =
        rest["items"].as_array().unwrap().iter().map(|i| i["number"].clone()).collect();
    assert_eq!(numbers, [json!(5)]);

    for bad in ["per_column=0", "per_column=101", "per_column=x", "status=todo", "assignee=nobody"]
    {
        let res =
            app.get(&format!("/api/v1/projects/RHY/board?{bad}")).token(&owner.token).send().await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

async fn board_filters_apply_to_totals_and_items(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let member = app.seed_user("member").await;
    app.add_member("RHY", &member, "member").await;
    create(
        &app,
        &owner,
        json!({"title": "a", "assignee_id": member.id, "priority": "high", "type": "bug"}),
    )
    .await;
    create(&app, &owner, json!({"title": "b", "priority": "high"})).await;
    create(
        &app,
        &owner,
        json!({"title": "c", "assignee_id": member.id, "type": "bug", "status": "done"}),
    )
    .await;
    let totals = |query: &'static str| {
        let (app, token) = (app.clone(), member.token.clone());
        async move {
            let board = app
                .get(&format!("/api/v1/projects/RHY/board?{query}"))
                .token(&token)
                .send()
                .await
                .json();
            board["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["total"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(totals("assignee=me").await, [0, 1, 0, 0, 1, 0]);
    assert_eq!(totals("priority=high").await, [0, 2, 0, 0, 0, 0]);
    assert_eq!(totals("type=bug&assignee=me").await, [0, 1, 0, 0, 1, 0]);
    assert_eq!(totals("sprint=none").await, [0, 2, 0, 0, 1, 0]);
    assert_eq!(totals("sprint=active").await, [0; 6]);
}

async fn moves_place_issues_and_write_only_the_moved_one(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    for i in 1..=5 {
        create(&app, &owner, json!({"title": format!("T{i}")})).await;
    }
    create(&app, &owner, json!({"title": "P", "status": "in_progress"})).await;
    let before = ranks(&app).await;

    // 5 above 2.
    let res = move_issue(&app, &owner, 5, json!({"before": 2})).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(column(&app, "todo").await, [1, 5, 2, 3, 4]);
    let after = ranks(&app).await;
    let changed: Vec<_> =
        before.iter().zip(&after).filter(|(b, a)| b != a).map(|(b, _)| b.0).collect();
    assert_eq!(changed, [5], "only the moved issue's rank changes");
    assert_eq!(res.json()["version"], 2);

    // 1 below 3; 2 to the bottom.
    assert_eq!(move_issue(&app, &owner, 1, json!({"after": 3})).await.status, StatusCode::OK);
    assert_eq!(column(&app, "todo").await, [5, 2, 3, 1, 4]);
    assert_eq!(move_issue(&app, &owner, 2, json!({})).await.status, StatusCode::OK);
    assert_eq!(column(&app, "todo").await, [5, 3, 1, 4, 2]);

    // Across columns: into in_progress above 6, with a status change and resolved_at kept
    // in step; then into done.
    let moved =
        move_issue(&app, &owner, 3, json!({"status": "in_progress", "before": 6})).await.json();
    assert_eq!(
        (moved["status"].clone(), moved["resolved_at"].clone()),
        (json!("in_progress"), Value::Null)
    );
    assert_eq!(column(&app, "in_progress").await, [3, 6]);
    let done = move_issue(&app, &owner, 3, json!({"status": "done"})).await.json();
    assert!(done["resolved_at"].is_string());
    assert_eq!(column(&app, "done").await, [3]);

    let last_move = "SELECT changes FROM issue_events e JOIN issues i ON i.id = e.issue_id
                     WHERE i.number = 3 AND e.kind = 'moved' ORDER BY e.at DESC, e.id DESC LIMIT 1";
    let event: Value = db.scalar(last_move, &[]).await;
    assert_eq!(event["status"], json!({"from": "in_progress", "to": "done"}));
    assert!(event["rank"]["from"].is_string() && event["rank"]["to"].is_string());

    // A new issue lands at the bottom of its column, below moved ones.
    create(&app, &owner, json!({"title": "New"})).await;
    assert_eq!(column(&app, "todo").await, [5, 1, 4, 2, 7]);
}

async fn invalid_moves_change_nothing(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let viewer = app.seed_user("viewer").await;
    app.add_member("RHY", &viewer, "viewer").await;
    create(&app, &owner, json!({"title": "A"})).await;
    create(&app, &owner, json!({"title": "B"})).await;
    create(&app, &owner, json!({"title": "C", "status": "done"})).await;
    let before = app.snapshot().await;
    let cases = [
        (json!({"before": 3}), "before"),
        (json!({"status": "in_review", "after": 2}), "after"),
        (json!({"before": 1, "after": 2}), "after"),
        (json!({"before": 1}), "before"),
        (json!({"before": 99}), "before"),
        (json!({"status": "open"}), "status"),
        (json!({"before": 0}), "before"),
    ];
    for (body, field) in cases {
        let res = move_issue(&app, &owner, 1, body.clone()).await;
        let problem = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    move_issue(&app, &viewer, 1, json!({}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    move_issue(&app, &owner, 42, json!({}))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.snapshot().await, before);
}

async fn ten_concurrent_moves_into_one_spot_give_a_strict_order(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    for i in 1..=12 {
        create(&app, &owner, json!({"title": format!("T{i}")})).await;
    }
    // Issues 3..=12 all move directly above issue 2, at once.
    let tasks: Vec<_> = (3..=12)
        .map(|number| {
            let (app, owner) = (app.clone(), owner.clone());
            tokio::spawn(async move {
                move_issue(&app, &owner, number, json!({"before": 2})).await.status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    let order = column(&app, "todo").await;
    assert_eq!(order.len(), 12);
    assert_eq!(order.iter().copied().collect::<BTreeSet<_>>().len(), 12, "every issue once");
    assert_eq!((order[0], order[11]), (1, 2), "all landed between 1 and 2");
    let all_ranks: Vec<String> = ranks(&app).await.into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        all_ranks.iter().collect::<BTreeSet<_>>().len(),
        all_ranks.len(),
        "no duplicate ranks"
    );
}

async fn a_crowded_bottom_is_respaced_below_the_next_new_issue(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    for i in 1..=3 {
        create(&app, &owner, json!({"title": format!("T{i}")})).await;
    }
    // Move 1 and 2 to the bottom, taking turns: each lands between the other and the rank
    // the next new issue will get, a gap that halves every time.
    for round in 0..800 {
        let number = if round % 2 == 0 { 1 } else { 2 };
        let res = move_issue(&app, &owner, number, json!({})).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
    }
    assert_eq!(column(&app, "todo").await, [3, 1, 2]);
    let longest = ranks(&app).await.into_iter().map(|(_, r)| r.len()).max().unwrap();
    assert!(longest <= rhythm_domain::rank::REBALANCE_ABOVE, "{longest}");
    create(&app, &owner, json!({"title": "New"})).await;
    assert_eq!(column(&app, "todo").await, [3, 1, 2, 4]);
}

async fn the_backlog_is_unsprinted_unresolved_work_in_rank_order(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = setup(&app).await;
    let sprint = app
        .post("/api/v1/projects/RHY/sprints")
        .token(&owner.token)
        .json(&json!({"name": "S1"}))
        .send()
        .await
        .json();
    create(&app, &owner, json!({"title": "1"})).await;
    create(&app, &owner, json!({"title": "2", "status": "backlog"})).await;
    create(&app, &owner, json!({"title": "3", "status": "done"})).await;
    create(&app, &owner, json!({"title": "4", "sprint_id": sprint["id"]})).await;
    create(&app, &owner, json!({"title": "5", "status": "in_review"})).await;
    create(&app, &owner, json!({"title": "6", "status": "cancelled"})).await;
    let moved = move_issue(&app, &owner, 5, json!({"status": "todo", "before": 1})).await;
    assert_eq!(moved.status, StatusCode::OK);
    let first =
        app.get("/api/v1/projects/RHY/backlog?limit=2").token(&owner.token).send().await.json();
    let numbers = |page: &Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["number"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&first), [5, 1]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/api/v1/projects/RHY/backlog?limit=2&cursor={cursor}"))
        .token(&owner.token)
        .send()
        .await
        .json();
    assert_eq!(numbers(&second), [2]);
    assert!(second["next_cursor"].is_null());
}
