//! Cursors on every paginated route: a truncated, edited, forged, foreign (other project,
//! filter or sort), empty or out-of-range cursor is 400 `invalid_cursor`, never a 5xx.

use axum::http::StatusCode;
use rhythm_api::pagination::{Cursors, Scope};
use rhythm_api::routes::issues::issues_scope;
use rhythm_api::state::AuthConfig;
use rhythm_domain::issue::{IssueFilter, IssueKey, IssueSort, IssueSortField, SortValue};
use rhythm_domain::values::{ProjectKey, ProjectRef};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Account, TestApp, TestDb, api_tests};

api_tests! {
    bad_cursors_are_400_on_every_paginated_route,
    validly_signed_out_of_range_keys_are_400,
}

/// Cursors as this deployment (the tests' secret) signs them.
fn deployment_cursors() -> Cursors {
    Cursors::new(&AuthConfig::for_tests().jwt_secret).unwrap()
}

/// Two projects with two of everything that is listed, and a second member.
async fn setup(app: &TestApp) -> (String, Account) {
    let owner = app.seed_user("owner").await;
    for key in ["RHY", "OTH"] {
        app.create_project(&owner, key).await;
        for title in ["alpha one", "alpha two", "alpha three"] {
            let res = app
                .post(&format!("/api/v1/projects/{key}/issues"))
                .token(&owner.token)
                .json(&json!({ "title": title }))
                .send()
                .await;
            assert_eq!(res.status, StatusCode::CREATED);
        }
        for name in ["S1", "S2"] {
            let res = app
                .post(&format!("/api/v1/projects/{key}/sprints"))
                .token(&owner.token)
                .json(&json!({ "name": name }))
                .send()
                .await;
            assert_eq!(res.status, StatusCode::CREATED);
        }
        for title in ["edited once", "edited twice"] {
            let res = app
                .patch(&format!("/api/v1/projects/{key}/issues/1"))
                .token(&owner.token)
                .json(&json!({ "title": title }))
                .send()
                .await;
            assert_eq!(res.status, StatusCode::OK);
        }
    }
    let member = app.seed_user("member").await;
    app.add_member("RHY", &member, "viewer").await;
    app.add_member("OTH", &member, "viewer").await;
    app.create_project(&owner, "THR").await;
    (owner.token, member)
}

/// Every paginated route (path and query, without limit and cursor), with the same listing
/// in another project, filter or sort: a cursor of the first is foreign to the second. The
/// caller's own project listing is foreign to another caller (`*` marks that).
fn listings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("/api/v1/projects?", "*/api/v1/projects?"),
        ("/api/v1/projects/RHY/members?", "/api/v1/projects/OTH/members?"),
        ("/api/v1/projects/RHY/issues?", "/api/v1/projects/OTH/issues?"),
        ("/api/v1/projects/RHY/issues?sort=priority", "/api/v1/projects/RHY/issues?sort=number"),
        ("/api/v1/projects/RHY/issues?status=todo", "/api/v1/projects/RHY/issues?status=done"),
        ("/api/v1/projects/RHY/issues?q=alpha", "/api/v1/projects/OTH/issues?q=alpha"),
        ("/api/v1/projects/RHY/issues/1/events?", "/api/v1/projects/RHY/issues/2/events?"),
        ("/api/v1/projects/RHY/backlog?", "/api/v1/projects/OTH/backlog?"),
        ("/api/v1/projects/RHY/sprints?", "/api/v1/projects/OTH/sprints?"),
        ("/api/v1/search?q=alpha", "/api/v1/search?q=alpha&project=RHY"),
    ]
}

async fn get(app: &TestApp, token: &str, path: &str) -> crate::support::TestResponse {
    app.get(path).token(token).send().await
}

async fn first_cursor(app: &TestApp, token: &str, listing: &str) -> String {
    let page = get(app, token, &format!("{listing}&limit=1")).await;
    assert_eq!(page.status, StatusCode::OK, "{listing}: {}", String::from_utf8_lossy(&page.body));
    let cursor = page.json()["next_cursor"].as_str().map(str::to_owned);
    cursor.unwrap_or_else(|| panic!("{listing} has a second page"))
}

fn edited(cursor: &str) -> String {
    let mut chars: Vec<char> = cursor.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

async fn bad_cursors_are_400_on_every_paginated_route(db: TestDb) {
    let app = TestApp::new(&db);
    let (token, other_user) = setup(&app).await;
    // A cursor signed with another deployment's secret, for a key of the right shape.
    let foreign_secret = Cursors::new(b"another deployment's secret").unwrap();
    for (listing, other) in listings() {
        let cursor = first_cursor(&app, &token, listing).await;
        let good = get(&app, &token, &format!("{listing}&limit=1&cursor={cursor}")).await;
        assert_eq!(good.status, StatusCode::OK, "{listing}: the cursor itself works");
        let payload = {
            use base64::prelude::{BASE64_URL_SAFE_NO_PAD, Engine as _};
            let bytes = BASE64_URL_SAFE_NO_PAD.decode(&cursor).unwrap();
            let json: Value = serde_json::from_slice(&bytes[..bytes.len() - 16]).unwrap();
            json
        };
        let forged = foreign_secret.encode(&Scope::new("any"), &payload);
        let bad = [
            ("empty", String::new()),
            ("truncated", cursor[..cursor.len() - 3].to_owned()),
            ("edited", edited(&cursor)),
            ("forged", forged),
        ];
        for (what, bad) in bad {
            let res = get(&app, &token, &format!("{listing}&cursor={bad}")).await;
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{what} cursor on {listing}");
            res.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
        }
        let (other, other_token) = match other.strip_prefix('*') {
            Some(path) => (path, other_user.token.as_str()),
            None => (other, token.as_str()),
        };
        let res = get(&app, other_token, &format!("{other}&cursor={cursor}")).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "a cursor of {listing} on {other}");
        res.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    }
}

async fn validly_signed_out_of_range_keys_are_400(db: TestDb) {
    let app = TestApp::new(&db);
    let (token, _) = setup(&app).await;
    let project = ProjectRef::Key(ProjectKey::parse("RHY").unwrap());
    let cursors = deployment_cursors();
    let sorted = |field: IssueSortField, value: SortValue| {
        let sort = IssueSort { field, descending: false };
        let scope = issues_scope(&project, &IssueFilter::default(), sort);
        let cursor = cursors.encode(&scope, &IssueKey { value, id: Uuid::nil() });
        (format!("/api/v1/projects/RHY/issues?sort={}&cursor={cursor}", sort.name()), cursor)
    };
    let cases = [
        sorted(IssueSortField::Priority, SortValue::Int(40000)),
        sorted(IssueSortField::Priority, SortValue::Int(-1)),
        sorted(IssueSortField::Number, SortValue::Int(0)),
        sorted(IssueSortField::Rank, SortValue::Text("not a rank!".into())),
        sorted(IssueSortField::Rank, SortValue::Text("A".repeat(300))),
        sorted(IssueSortField::CreatedAt, SortValue::Int(1)),
    ];
    for (path, _) in &cases {
        get(&app, &token, path).await.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    }
    // The check is the domain's, so the backlog (another route, another scope) has it too.
    let backlog_scope = Scope::new("backlog").with(&project);
    let bad_rank = IssueKey { value: SortValue::Text("\u{0}".into()), id: Uuid::nil() };
    let cursor = cursors.encode(&backlog_scope, &bad_rank);
    get(&app, &token, &format!("/api/v1/projects/RHY/backlog?cursor={cursor}"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    // A score no search gives, for the caller's own search.
    let me = get(&app, &token, "/api/v1/me").await.json();
    let owner_id: Uuid = me["id"].as_str().unwrap().parse().unwrap();
    let filter = IssueFilter {
        text: Some(rhythm_api::routes::search::parse_text("alpha").unwrap()),
        ..IssueFilter::default()
    };
    let scope = Scope::new("search").with(&owner_id).with(&None::<ProjectRef>).with(&filter);
    let key = json!({"score": 1.0e9, "created_at": "2026-01-01T00:00:00Z", "id": Uuid::nil(),
                     "as_of": "2026-01-01T00:00:00Z"});
    let cursor = cursors.encode(&scope, &key);
    get(&app, &token, &format!("/api/v1/search?q=alpha&cursor={cursor}"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    // A project key no project can have, in the caller's own project listing.
    let me = app.seed_user("lister").await;
    let cursor = cursors.encode(&Scope::new("projects").with(&me.id), &"\u{0}bad");
    get(&app, &me.token, &format!("/api/v1/projects?cursor={cursor}"))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
}
