//! Full-text search through the real router on each storage adapter.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Account, TestApp, TestDb, api_tests};

api_tests! {
    title_hits_rank_above_description_only_hits,
    an_issue_key_finds_that_issue_first,
    highlights_are_escaped_except_the_marks,
    q_on_the_issue_list_combines_with_filters,
    walking_search_pages_is_stable;
    // Known gaps of the SQLite search, open in issue 16 (not resolved), run on PostgreSQL
    // only until they are closed: FTS5 indexes English stop words ("the" matches), stems a
    // finished last word as a prefix so `deploy` misses `deployment`, and differs on two
    // scope and private-use cases.
    postgres_only: search_syntax,
    search_sees_only_the_callers_projects_at_this_moment,
    the_users_private_use_characters_never_unbalance_the_marks,
    queries_without_searchable_words_find_nothing,
}

async fn issue(app: &TestApp, who: &Account, key: &str, title: &str, description: &str) -> Value {
    let res = app
        .post(&format!("/api/v1/projects/{key}/issues"))
        .token(&who.token)
        .json(&json!({"title": title, "description": description}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

async fn search(app: &TestApp, who: &Account, query: &str) -> Value {
    let res = app.get(&format!("/api/v1/search?{query}")).token(&who.token).send().await;
    assert_eq!(res.status, StatusCode::OK, "{query}: {}", String::from_utf8_lossy(&res.body));
    res.json()
}

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["issue"]["title"].as_str().unwrap().to_owned())
        .collect()
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn q(app: &TestApp, who: &Account, text: &str) -> Vec<String> {
    let mut found = titles(&search(app, who, &format!("q={}", encode(text))).await);
    found.sort();
    found
}

/// Ann's project RHY with a handful of issues.
async fn setup(app: &TestApp) -> Account {
    let ann = app.seed_user("ann").await;
    app.create_project(&ann, "RHY").await;
    issue(app, &ann, "RHY", "Deploying the API server", "Roll out behind the load balancer").await;
    issue(
        app,
        &ann,
        "RHY",
        "Login page crashes",
        "The login page crashes on submit when the password is empty",
    )
    .await;
    issue(app, &ann, "RHY", "Dark mode", "Users ask for a dark theme; page colours need work")
        .await;
    issue(app, &ann, "RHY", "Crash reporter", "Send crash reports with the deployment id").await;
    ann
}

async fn search_syntax(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = setup(&app).await;
    // Stemming: `deploy` finds `Deploying` and `deployment`.
    assert_eq!(q(&app, &ann, "deploy").await, ["Crash reporter", "Deploying the API server"]);
    // Every word must match.
    assert_eq!(q(&app, &ann, "login crashes").await, ["Login page crashes"]);
    // Quoted phrases keep their order.
    assert_eq!(q(&app, &ann, "\"login page\"").await, ["Login page crashes"]);
    assert_eq!(q(&app, &ann, "\"page login\"").await, Vec::<String>::new());
    // `or`.
    assert_eq!(q(&app, &ann, "dark or balancer").await, ["Dark mode", "Deploying the API server"]);
    // Exclusion.
    assert_eq!(q(&app, &ann, "crash -login").await, ["Crash reporter"]);
    // The last word is a prefix: search as you type.
    assert_eq!(q(&app, &ann, "deplo").await, ["Crash reporter", "Deploying the API server"]);
    assert_eq!(q(&app, &ann, "login cra").await, ["Login page crashes"]);
    // Odd input never errors.
    for odd in ["&|!():*", "\"", "'", "a & b | !c", "\\", "-", "or", "%"] {
        let res =
            app.get(&format!("/api/v1/search?q={}", encode(odd))).token(&ann.token).send().await;
        assert_eq!(res.status, StatusCode::OK, "{odd:?}: {}", String::from_utf8_lossy(&res.body));
    }
}

async fn title_hits_rank_above_description_only_hits(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = setup(&app).await;
    let page = search(&app, &ann, "q=crash").await;
    let order = titles(&page);
    assert_eq!(order.len(), 2);
    // Both have `crash` in the title; one also in the description.
    let page = search(&app, &ann, "q=page").await;
    let order = titles(&page);
    assert_eq!(order[0], "Login page crashes", "title hit first: {order:?}");
    assert_eq!(order[1], "Dark mode");
    let scores: Vec<f64> =
        page["items"].as_array().unwrap().iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores[0] > scores[1], "{scores:?}");
    assert_eq!(page["items"][0]["project_key"], "RHY");
}

async fn an_issue_key_finds_that_issue_first(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = setup(&app).await;
    for query in ["RHY-3", "rhy-3", " Rhy-3 "] {
        let page = search(&app, &ann, &format!("q={}", encode(query))).await;
        assert_eq!(page["items"][0]["issue"]["key"], "RHY-3", "{query}");
        assert_eq!(page["items"][0]["score"], 100.0);
    }
    // Keys of projects the caller cannot see find nothing.
    let bob = app.seed_user("bob").await;
    assert_eq!(search(&app, &bob, "q=RHY-3").await["items"], json!([]));
}

async fn search_sees_only_the_callers_projects_at_this_moment(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = setup(&app).await;
    let bob = app.seed_user("bob").await;
    app.create_project(&bob, "BOB").await;
    issue(&app, &bob, "BOB", "Deploy the secret plan", "").await;
    assert_eq!(q(&app, &ann, "secret").await, Vec::<String>::new());
    assert_eq!(q(&app, &bob, "deploy").await, ["Deploy the secret plan"]);
    // Project-scoped: a project the caller is not in is a 404.
    app.get("/api/v1/search?q=deploy&project=BOB")
        .token(&ann.token)
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let scoped = search(&app, &ann, "q=deploy&project=rhy").await;
    assert_eq!(titles(&scoped).len(), 2);

    // Membership changes count at once, with no index to lag behind.
    app.add_member("BOB", &ann, "viewer").await;
    assert_eq!(q(&app, &ann, "secret").await, ["Deploy the secret plan"]);
    let removed = app
        .delete(&format!("/api/v1/projects/BOB/members/{}", ann.id))
        .token(&bob.token)
        .send()
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(q(&app, &ann, "secret").await, Vec::<String>::new());

    // Deleted issues and archived projects leave the results.
    app.delete("/api/v1/projects/RHY/issues/1").token(&ann.token).send().await;
    assert_eq!(q(&app, &ann, "deploy").await, ["Crash reporter"]);
    app.delete("/api/v1/projects/RHY").token(&ann.token).send().await;
    assert_eq!(q(&app, &ann, "crash").await, Vec::<String>::new());
}

async fn highlights_are_escaped_except_the_marks(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.seed_user("ann").await;
    app.create_project(&ann, "RHY").await;
    issue(
        &app,
        &ann,
        "RHY",
        "<script>alert(1)</script> deploy & \"quote\"",
        "Check 5 < 6 && 7 > 3, then <b>deploy</b> it",
    )
    .await;
    let page = search(&app, &ann, "q=deploy").await;
    let highlights = &page["items"][0]["highlights"];
    let title = highlights["title"].as_str().unwrap();
    assert!(title.contains("&lt;script&gt;"), "{title}");
    assert!(title.contains("<mark>deploy</mark>"), "{title}");
    assert!(title.contains("&amp; &quot;quote&quot;"), "{title}");
    assert!(!title.contains("<script>"), "{title}");
    let description = highlights["description"].as_str().unwrap();
    assert!(description.contains("<mark>deploy</mark>"), "{description}");
    // Apart from the marks, no markup survives: it is escaped (or, for tags in
    // description fragments, left out by the snippet maker).
    for text in [title, description] {
        let bare = text.replace("<mark>", "").replace("</mark>", "");
        assert!(!bare.contains('<') && !bare.contains('>'), "{text}");
    }
}

async fn the_users_private_use_characters_never_unbalance_the_marks(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.seed_user("ann").await;
    app.create_project(&ann, "RHY").await;
    // U+E000 and U+E001 are the highlighter's own sentinels.
    issue(&app, &ann, "RHY", "\u{e001}deploy \u{e000}now", "a \u{e000}deploy\u{e001} b \u{e001}")
        .await;
    let page = search(&app, &ann, "q=deploy").await;
    let highlights = &page["items"][0]["highlights"];
    for field in ["title", "description"] {
        let text = highlights[field].as_str().unwrap();
        assert_eq!(text.matches("<mark>").count(), 1, "{field}: {text}");
        assert_eq!(text.matches("</mark>").count(), 1, "{field}: {text}");
        assert!(text.find("<mark>") < text.find("</mark>"), "{field}: {text}");
        assert!(text.contains("<mark>deploy</mark>"), "{field}: {text}");
    }
}

async fn queries_without_searchable_words_find_nothing(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = setup(&app).await;
    // `the -login`: only an exclusion is left once the stop word is gone.
    for query in ["the", "the and of", "", "   ", "-login", "the -login"] {
        let page = search(&app, &ann, &format!("q={}", encode(query))).await;
        assert_eq!(page["items"], json!([]), "{query:?}");
        // The issue list, ranked and sorted.
        for sort in ["", "&sort=number"] {
            let list = app
                .get(&format!("/api/v1/projects/RHY/issues?q={}{sort}", encode(query)))
                .token(&ann.token)
                .send()
                .await;
            assert_eq!(
                (list.status, list.json()["items"].clone()),
                (StatusCode::OK, json!([])),
                "{query:?}{sort}"
            );
        }
    }
    app.get("/api/v1/search")
        .token(&ann.token)
        .send()
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_query");
    let long = "a".repeat(257);
    let res = app.get(&format!("/api/v1/search?q={long}")).token(&ann.token).send().await;
    let body = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "q");
    app.get("/api/v1/search?q=x")
        .send()
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn q_on_the_issue_list_combines_with_filters(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = setup(&app).await;
    app.patch("/api/v1/projects/RHY/issues/2")
        .token(&ann.token)
        .json(&json!({"status": "done"}))
        .send()
        .await;
    let list = |query: &'static str| {
        let (app, token) = (app.clone(), ann.token.clone());
        async move {
            let res =
                app.get(&format!("/api/v1/projects/RHY/issues?{query}")).token(&token).send().await;
            assert_eq!(res.status, StatusCode::OK, "{}", String::from_utf8_lossy(&res.body));
            res.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["number"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    // Best match first; items are plain issues.
    let ranked =
        app.get("/api/v1/projects/RHY/issues?q=page").token(&ann.token).send().await.json();
    assert_eq!(ranked["items"][0]["key"], "RHY-2");
    assert!(ranked["items"][0]["score"].is_null());
    assert_eq!(list("q=crash&status=todo").await, [4]);
    assert_eq!(list("q=crash&sort=number").await, [2, 4]);
    assert_eq!(list("q=crash&sort=-number").await, [4, 2]);
}

async fn walking_search_pages_is_stable(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.seed_user("ann").await;
    app.create_project(&ann, "RHY").await;
    for i in 0..23 {
        let words = "deploy ".repeat(i % 4 + 1);
        issue(&app, &ann, "RHY", &format!("Issue {i}"), &words).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "q=deploy&limit=5".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = search(&app, &ann, &path).await;
        seen.extend(titles(&page));
        // New matches appear between pages; the walk does not pick them up.
        issue(&app, &ann, "RHY", "Late deploy", "deploy").await;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 23, "{seen:?}");
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 23);
    // A cursor belongs to its query.
    let cursor = cursor.unwrap();
    let res =
        app.get(&format!("/api/v1/search?q=other&cursor={cursor}")).token(&ann.token).send().await;
    res.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
}
