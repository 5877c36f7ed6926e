//! Listings carry description summaries: at most 1 000 characters and a
//! `description_truncated` flag, on every route that lists issues; the issue itself and
//! every write's answer carry the whole text.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, api_tests};

api_tests! {
    listings_cut_descriptions_and_say_so,
}

const SUMMARY: usize = 1_000;

/// Every issue object of a listing answer, by number.
fn listed(body: &Value) -> Vec<(i64, String, bool)> {
    let items: Vec<&Value> = if let Some(columns) = body["columns"].as_array() {
        columns.iter().flat_map(|c| c["items"].as_array().unwrap().iter()).collect()
    } else {
        body["items"].as_array().unwrap().iter().map(|i| i.get("issue").unwrap_or(i)).collect()
    };
    let mut issues: Vec<(i64, String, bool)> = items
        .into_iter()
        .map(|i| {
            (
                i["number"].as_i64().unwrap(),
                i["description"].as_str().unwrap().to_owned(),
                i["description_truncated"].as_bool().unwrap(),
            )
        })
        .collect();
    issues.sort();
    issues
}

async fn listings_cut_descriptions_and_say_so(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = app.seed_user("owner").await;
    app.create_project(&owner, "RHY").await;
    let sprint = app
        .post("/api/v1/projects/RHY/sprints")
        .token(&owner.token)
        .json(&json!({"name": "Sprint 1"}))
        .send()
        .await
        .json();
    // Exactly the summary's length, one character more (multi-byte), and the longest.
    let descriptions = [
        format!("zebra {}", "a".repeat(SUMMARY - 6)),
        format!("zebra {}", "é".repeat(SUMMARY - 5)),
        format!("zebra {}", "word ".repeat(19_998)).trim_end().to_owned(),
    ];
    for (i, description) in descriptions.iter().enumerate() {
        let mut body = json!({"title": format!("Zebra {i}"), "description": description});
        if i == 2 {
            body["sprint_id"] = sprint["id"].clone();
        }
        let res =
            app.post("/api/v1/projects/RHY/issues").token(&owner.token).json(&body).send().await;
        assert_eq!(res.status, StatusCode::CREATED);
        let created = res.json();
        assert_eq!(created["description"], json!(description), "a create answers the whole text");
        assert_eq!(created["description_truncated"], json!(false));
    }
    let expected: Vec<(i64, String, bool)> = descriptions
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let cut = d.chars().count() > SUMMARY;
            (i as i64 + 1, d.chars().take(SUMMARY).collect(), cut)
        })
        .collect();
    assert_eq!(expected.iter().map(|e| e.2).collect::<Vec<_>>(), [false, true, true]);

    for path in [
        "/api/v1/projects/RHY/issues",
        "/api/v1/projects/RHY/issues?sort=rank",
        "/api/v1/projects/RHY/board",
        "/api/v1/projects/RHY/issues?q=zebra",
        "/api/v1/search?q=zebra",
    ] {
        let res = app.get(path).token(&owner.token).send().await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        assert_eq!(listed(&res.json()), expected, "{path}");
    }
    // The backlog holds the issues in no sprint, the sprint board the other one.
    let backlog = app.get("/api/v1/projects/RHY/backlog").token(&owner.token).send().await;
    assert_eq!(listed(&backlog.json()), expected[..2]);
    let sprint_id = sprint["id"].as_str().unwrap();
    let board = app
        .get(&format!("/api/v1/projects/RHY/sprints/{sprint_id}/board"))
        .token(&owner.token)
        .send()
        .await;
    assert_eq!(listed(&board.json()), expected[2..]);

    // The issue itself, and the answers of writes, carry the whole text.
    for number in 1..=3 {
        let whole = &descriptions[number - 1];
        let res = app
            .get(&format!("/api/v1/projects/RHY/issues/{number}"))
            .token(&owner.token)
            .send()
            .await;
        assert_eq!(res.json()["description"], json!(whole));
        assert_eq!(res.json()["description_truncated"], json!(false));
        let patched = app
            .patch(&format!("/api/v1/projects/RHY/issues/{number}"))
            .token(&owner.token)
            .json(&json!({"priority": "high"}))
            .send()
            .await;
        assert_eq!(patched.json()["description"], json!(whole));
        let moved = app
            .post(&format!("/api/v1/projects/RHY/issues/{number}/move"))
            .token(&owner.token)
            .json(&json!({"status": "in_progress"}))
            .send()
            .await;
        assert_eq!(moved.status, StatusCode::OK);
        assert_eq!(moved.json()["description"], json!(whole));
    }
}
