//! Projects and memberships through the real router on each storage adapter.

use axum::http::StatusCode;
use rhythm_domain::issue::{CreateOutcome, NewIssue};
use rhythm_domain::ports::IssueRepository;
use rhythm_domain::values::{IssueDescription, IssueStatus, IssueTitle, IssueType, Priority};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Account, TestApp, TestDb, api_tests};

api_tests! {
    creating_a_project_makes_the_caller_owner,
    project_validation_and_key_conflicts,
    listing_pages_through_my_projects_by_key,
    updating_and_archiving,
    a_non_members_404_is_byte_identical_to_an_unknown_projects,
    adding_members_by_id_or_email,
    maintainers_manage_only_members_and_viewers,
    the_last_owner_stays,
    a_demoted_users_next_request_obeys_the_new_role,
    leaving_unassigns_open_issues_with_history,
    twenty_concurrent_adds_of_one_user_make_one_membership,
    two_owners_demoting_each_other_at_once_leave_an_owner,
}

async fn owners(app: &TestApp, key: &str) -> i64 {
    let sql = "SELECT count(*) FROM project_members m JOIN projects p ON p.id = m.project_id
               WHERE p.key = $1 AND m.role = 'owner'";
    app.db.scalar(sql, &[key.into()]).await
}

async fn role_of(app: &TestApp, key: &str, user: Uuid) -> Option<String> {
    let sql = "SELECT m.role FROM project_members m JOIN projects p ON p.id = m.project_id
               WHERE p.key = $1 AND m.user_id = $2";
    app.db.fetch_optional::<(String,)>(sql, &[key.into(), user.into()]).await.map(|(role,)| role)
}

async fn creating_a_project_makes_the_caller_owner(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.seed_user("ann").await;
    let res = app
        .post("/api/v1/projects")
        .token(&ann.token)
        .json(&json!({"key": "RHY", "name": " Rhythm ", "description": "Our tracker"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.header("location"), Some("/api/v1/projects/RHY"));
    let body = res.json();
    assert_eq!(
        (
            body["key"].clone(),
            body["name"].clone(),
            body["description"].clone(),
            body["my_role"].clone()
        ),
        (json!("RHY"), json!("Rhythm"), json!("Our tracker"), json!("owner"))
    );
    let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["created_at", "description", "id", "key", "my_role", "name", "updated_at"]);
    assert_eq!(role_of(&app, "RHY", ann.id).await.as_deref(), Some("owner"));

    // By key in any case, and by id.
    for path in [
        "/api/v1/projects/RHY",
        "/api/v1/projects/rhy",
        &format!("/api/v1/projects/{}", body["id"].as_str().unwrap()),
    ] {
        let got = app.get(path).token(&ann.token).send().await;
        assert_eq!((got.status, got.json()), (StatusCode::OK, body.clone()), "{path}");
    }
}

async fn project_validation_and_key_conflicts(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.seed_user("ann").await;
    let res = app
        .post("/api/v1/projects")
        .token(&ann.token)
        .json(&json!({"key": "rhythm-1", "name": "", "description": "d".repeat(10_001)}))
        .send()
        .await;
    let body = res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields: Vec<_> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["key", "name", "description"]);

    app.create_project(&ann, "RHY").await;
    let again = app
        .post("/api/v1/projects")
        .token(&ann.token)
        .json(&json!({"key": "RHY", "name": "Again"}))
        .send()
        .await;
    again.assert_problem(StatusCode::CONFLICT, "project_key_taken");
    let read_only = app
        .post("/api/v1/projects")
        .token(&ann.token)
        .json(&json!({"key": "NEW", "name": "New", "id": Uuid::now_v7()}))
        .send()
        .await;
    read_only.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let count: i64 = db.scalar("SELECT count(*) FROM projects", &[]).await;
    assert_eq!(count, 1);
}

async fn listing_pages_through_my_projects_by_key(db: TestDb) {
    let app = TestApp::new(&db);
    let (ann, bob) = (app.seed_user("ann").await, app.seed_user("bob").await);
    for key in ["CC", "AA", "EE", "BB", "DD"] {
        app.create_project(&ann, key).await;
    }
    app.create_project(&bob, "ZZ").await;
    app.add_member("ZZ", &ann, "viewer").await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/projects?limit=2&cursor={c}"),
            None => "/api/v1/projects?limit=2".to_owned(),
        };
        let page = app.get(&path).token(&ann.token).send().await.json();
        for item in page["items"].as_array().unwrap() {
            seen.push((
                item["key"].as_str().unwrap().to_owned(),
                item["my_role"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<(String, String)> = ["AA", "BB", "CC", "DD", "EE"]
        .iter()
        .map(|k| (k.to_string(), "owner".to_owned()))
        .chain([("ZZ".to_owned(), "viewer".to_owned())])
        .collect();
    assert_eq!(seen, expected);

    let bobs = app.get("/api/v1/projects").token(&bob.token).send().await.json();
    assert_eq!(bobs["items"].as_array().unwrap().len(), 1);
    assert_eq!(bobs["next_cursor"], Value::Null);

    for bad in ["limit=0", "limit=201", "limit=x", "cursor=garbage", "colour=blue"] {
        let res = app.get(&format!("/api/v1/projects?{bad}")).token(&ann.token).send().await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

async fn updating_and_archiving(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.seed_user("ann").await;
    let created = app.create_project(&ann, "RHY").await;
    let res = app
        .patch("/api/v1/projects/RHY")
        .token(&ann.token)
        .json(&json!({"description": "New words"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    assert_eq!(
        (body["name"].clone(), body["description"].clone()),
        (created["name"].clone(), json!("New words"))
    );
    assert_ne!(body["updated_at"], created["updated_at"]);
    let same =
        app.patch("/api/v1/projects/RHY").token(&ann.token).json(&json!({})).send().await.json();
    assert_eq!(same["updated_at"], body["updated_at"], "an empty patch changes nothing");
    let key_change = app
        .patch("/api/v1/projects/RHY")
        .token(&ann.token)
        .json(&json!({"key": "NEW"}))
        .send()
        .await;
    key_change.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let archived = app.delete("/api/v1/projects/RHY").token(&ann.token).send().await;
    assert_eq!(archived.status, StatusCode::NO_CONTENT);
    // Gone for everyone, like a project that never existed…
    let gone = app.get("/api/v1/projects/RHY").token(&ann.token).send().await;
    let never = app.get("/api/v1/projects/NOPE").token(&ann.token).send().await;
    gone.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(gone.body, never.body);
    assert_eq!(
        app.get("/api/v1/projects").token(&ann.token).send().await.json()["items"],
        json!([])
    );
    // …but its key stays reserved.
    let reuse = app
        .post("/api/v1/projects")
        .token(&ann.token)
        .json(&json!({"key": "RHY", "name": "Again"}))
        .send()
        .await;
    reuse.assert_problem(StatusCode::CONFLICT, "project_key_taken");
}

async fn a_non_members_404_is_byte_identical_to_an_unknown_projects(db: TestDb) {
    let app = TestApp::new(&db);
    let (ann, eve) = (app.seed_user("ann").await, app.seed_user("eve").await);
    let project = app.create_project(&ann, "RHY").await;
    let id = project["id"].as_str().unwrap();
    let cases = [
        (format!("/api/v1/projects/{id}"), format!("/api/v1/projects/{}", Uuid::now_v7())),
        ("/api/v1/projects/RHY".to_owned(), "/api/v1/projects/NOPE".to_owned()),
        ("/api/v1/projects/RHY/members".to_owned(), "/api/v1/projects/NOPE/members".to_owned()),
    ];
    for (hidden, unknown) in cases {
        let a = app.get(&hidden).token(&eve.token).send().await;
        let b = app.get(&unknown).token(&eve.token).send().await;
        assert_eq!((a.status, b.status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
        assert_eq!(a.body, b.body, "{hidden} vs {unknown}");
        assert_eq!(a.header("content-type"), b.header("content-type"));
    }
}

async fn adding_members_by_id_or_email(db: TestDb) {
    let app = TestApp::new(&db);
    let (ann, bob, cat) =
        (app.seed_user("ann").await, app.seed_user("bob").await, app.seed_user("cat").await);
    app.create_project(&ann, "RHY").await;
    let add =
        |body: Value| app.post("/api/v1/projects/RHY/members").token(&ann.token).json(&body).send();

    let res = add(json!({"user_id": bob.id, "role": "member"})).await;
    assert_eq!(res.status, StatusCode::CREATED);
    let body = res.json();
    assert_eq!(body["user"], json!({"id": bob.id, "name": "bob", "email": bob.email}));
    assert_eq!(body["role"], "member");

    let by_email = add(json!({"email": cat.email.to_uppercase(), "role": "viewer"})).await;
    assert_eq!(
        (by_email.status, by_email.json()["user"]["id"].clone()),
        (StatusCode::CREATED, json!(cat.id))
    );

    add(json!({"user_id": bob.id, "role": "viewer"}))
        .await
        .assert_problem(StatusCode::CONFLICT, "already_member");
    add(json!({"user_id": Uuid::now_v7(), "role": "viewer"}))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    add(json!({"email": "ghost@example.com", "role": "viewer"}))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let invalid = add(json!({"user_id": "nope", "role": "king"})).await;
    let body = invalid.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    add(json!({"user_id": bob.id, "email": bob.email, "role": "viewer"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let members = app.get("/api/v1/projects/RHY/members").token(&bob.token).send().await.json();
    let listed: Vec<_> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"]["id"].clone(), m["role"].clone()))
        .collect();
    assert_eq!(
        listed,
        [
            (json!(ann.id), json!("owner")),
            (json!(bob.id), json!("member")),
            (json!(cat.id), json!("viewer"))
        ]
    );
}

async fn maintainers_manage_only_members_and_viewers(db: TestDb) {
    let app = TestApp::new(&db);
    let owner = app.seed_user("owner").await;
    let (maint, other_maint, member, outsider) = (
        app.seed_user("m").await,
        app.seed_user("m2").await,
        app.seed_user("mem").await,
        app.seed_user("out").await,
    );
    app.create_project(&owner, "RHY").await;
    app.add_member("RHY", &maint, "maintainer").await;
    app.add_member("RHY", &other_maint, "maintainer").await;
    app.add_member("RHY", &member, "member").await;
    let as_maint = |method: &str, path: String, body: Option<Value>| {
        let req = match method {
            "POST" => app.post(&path),
            "PATCH" => app.patch(&path),
            _ => app.delete(&path),
        }
        .token(&maint.token);
        match body {
            Some(b) => req.json(&b),
            None => req,
        }
        .send()
    };
    let members = "/api/v1/projects/RHY/members".to_owned();
    // Grant at most member.
    as_maint("POST", members.clone(), Some(json!({"user_id": outsider.id, "role": "maintainer"})))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(role_of(&app, "RHY", outsider.id).await, None);
    let added =
        as_maint("POST", members.clone(), Some(json!({"user_id": outsider.id, "role": "viewer"})))
            .await;
    assert_eq!(added.status, StatusCode::CREATED);
    // Promote a viewer to member: fine; to maintainer: no.
    let path = format!("{members}/{}", outsider.id);
    assert_eq!(
        as_maint("PATCH", path.clone(), Some(json!({"role": "member"}))).await.status,
        StatusCode::OK
    );
    as_maint("PATCH", path.clone(), Some(json!({"role": "maintainer"})))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    // Other maintainers and owners are out of reach.
    let other = format!("{members}/{}", other_maint.id);
    as_maint("PATCH", other.clone(), Some(json!({"role": "member"})))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    as_maint("DELETE", other, None).await.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    as_maint("DELETE", format!("{members}/{}", owner.id), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(role_of(&app, "RHY", other_maint.id).await.as_deref(), Some("maintainer"));
    // Members are within reach.
    assert_eq!(
        as_maint("DELETE", format!("{members}/{}", member.id), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(role_of(&app, "RHY", member.id).await, None);
    // Unknown member, garbage id: 404.
    as_maint("DELETE", format!("{members}/{}", Uuid::now_v7()), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    as_maint("DELETE", format!("{members}/not-a-uuid"), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn the_last_owner_stays(db: TestDb) {
    let app = TestApp::new(&db);
    let (ann, bob) = (app.seed_user("ann").await, app.seed_user("bob").await);
    app.create_project(&ann, "RHY").await;
    let me = format!("/api/v1/projects/RHY/members/{}", ann.id);
    app.delete(&me)
        .token(&ann.token)
        .send()
        .await
        .assert_problem(StatusCode::CONFLICT, "last_owner");
    app.patch(&me)
        .token(&ann.token)
        .json(&json!({"role": "maintainer"}))
        .send()
        .await
        .assert_problem(StatusCode::CONFLICT, "last_owner");
    assert_eq!(owners(&app, "RHY").await, 1);

    // With a second owner, either may step down or leave.
    app.add_member("RHY", &bob, "owner").await;
    let res = app.patch(&me).token(&ann.token).json(&json!({"role": "maintainer"})).send().await;
    assert_eq!((res.status, res.json()["role"].clone()), (StatusCode::OK, json!("maintainer")));
    let bob_path = format!("/api/v1/projects/RHY/members/{}", bob.id);
    app.delete(&bob_path)
        .token(&bob.token)
        .send()
        .await
        .assert_problem(StatusCode::CONFLICT, "last_owner");
    // A maintainer may leave.
    assert_eq!(app.delete(&me).token(&ann.token).send().await.status, StatusCode::NO_CONTENT);
    app.get("/api/v1/projects/RHY")
        .token(&ann.token)
        .send()
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn a_demoted_users_next_request_obeys_the_new_role(db: TestDb) {
    let app = TestApp::new(&db);
    let (ann, bob) = (app.seed_user("ann").await, app.seed_user("bob").await);
    app.create_project(&ann, "RHY").await;
    app.add_member("RHY", &bob, "maintainer").await;
    let rename = |name: &'static str| {
        app.patch("/api/v1/projects/RHY").token(&bob.token).json(&json!({"name": name})).send()
    };
    assert_eq!(rename("First").await.status, StatusCode::OK);
    let demoted = app
        .patch(&format!("/api/v1/projects/RHY/members/{}", bob.id))
        .token(&ann.token)
        .json(&json!({"role": "viewer"}))
        .send()
        .await;
    assert_eq!(demoted.status, StatusCode::OK);
    // Same token, new role.
    rename("Second").await.assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

async fn seed_issue(
    app: &TestApp,
    key: &str,
    number: i64,
    reporter: &Account,
    assignee: &Account,
    status: &str,
) -> Uuid {
    let issue = NewIssue {
        id: Uuid::now_v7(),
        title: IssueTitle::new("Issue").unwrap(),
        description: IssueDescription::default(),
        status: IssueStatus::parse(status).unwrap(),
        priority: Priority::None,
        issue_type: IssueType::Task,
        assignee_id: Some(assignee.id),
        sprint_id: None,
        story_points: None,
    };
    let created = IssueRepository::create(app.store(), app.project_id(key), &issue, reporter.id);
    let CreateOutcome::Created(created) = created.await.unwrap() else {
        panic!("the assignee is a member");
    };
    assert_eq!(created.number, number);
    created.id
}

async fn leaving_unassigns_open_issues_with_history(db: TestDb) {
    let app = TestApp::new(&db);
    let (ann, bob) = (app.seed_user("ann").await, app.seed_user("bob").await);
    app.create_project(&ann, "RHY").await;
    app.create_project(&ann, "OTH").await;
    app.add_member("RHY", &bob, "member").await;
    app.add_member("OTH", &bob, "member").await;
    let open = seed_issue(&app, "RHY", 1, &ann, &bob, "in_progress").await;
    let done = seed_issue(&app, "RHY", 2, &ann, &bob, "done").await;
    let cancelled = seed_issue(&app, "RHY", 3, &ann, &bob, "cancelled").await;
    let elsewhere = seed_issue(&app, "OTH", 1, &ann, &bob, "todo").await;

    let res = app
        .delete(&format!("/api/v1/projects/RHY/members/{}", bob.id))
        .token(&bob.token)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);

    let assignee = |id: Uuid| {
        let db = db.clone();
        async move {
            let sql = "SELECT assignee_id, version FROM issues WHERE id = $1";
            db.fetch_one::<(Option<Uuid>, i64)>(sql, &[id.into()]).await
        }
    };
    assert_eq!(assignee(open).await, (None, 2));
    assert_eq!(assignee(done).await, (Some(bob.id), 1));
    assert_eq!(assignee(cancelled).await, (Some(bob.id), 1));
    assert_eq!(assignee(elsewhere).await, (Some(bob.id), 1));
    let sql = "SELECT issue_id, actor_id, kind, changes FROM issue_events WHERE kind <> 'created'";
    let events: Vec<(Uuid, Uuid, String, Value)> = db.fetch_all(sql, &[]).await;
    assert_eq!(
        events,
        vec![(
            open,
            bob.id,
            "updated".to_owned(),
            json!({"assignee_id": {"from": bob.id, "to": null}})
        )]
    );
}

async fn twenty_concurrent_adds_of_one_user_make_one_membership(db: TestDb) {
    let app = TestApp::new(&db);
    let (ann, bob) = (app.seed_user("ann").await, app.seed_user("bob").await);
    app.create_project(&ann, "RHY").await;
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let (app, token, bob) = (app.clone(), ann.token.clone(), bob.id);
            tokio::spawn(async move {
                let res = app
                    .post("/api/v1/projects/RHY/members")
                    .token(&token)
                    .json(&json!({"user_id": bob, "role": "member"}))
                    .send()
                    .await;
                (res.status, res.json()["code"].clone())
            })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            (StatusCode::CREATED, _) => created += 1,
            (StatusCode::CONFLICT, code) => assert_eq!(code, "already_member"),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(created, 1);
    let sql = "SELECT count(*) FROM project_members WHERE user_id = $1";
    let rows: i64 = db.scalar(sql, &[bob.id.into()]).await;
    assert_eq!(rows, 1);
}

async fn two_owners_demoting_each_other_at_once_leave_an_owner(db: TestDb) {
    let app = TestApp::new(&db);
    // Many rounds: the race must never end with no owner.
    for round in 0..15 {
        let (ann, bob) = (app.seed_user("ann").await, app.seed_user("bob").await);
        let key = format!("R{round}");
        app.create_project(&ann, &key).await;
        app.add_member(&key, &bob, "owner").await;
        let demote = |actor: Account, target: Uuid| {
            let (app, key) = (app.clone(), key.clone());
            tokio::spawn(async move {
                let path = format!("/api/v1/projects/{key}/members/{target}");
                let res = app
                    .patch(&path)
                    .token(&actor.token)
                    .json(&json!({"role": "member"}))
                    .send()
                    .await;
                (res.status, res.json())
            })
        };
        let (a, b) = (demote(ann.clone(), bob.id), demote(bob.clone(), ann.id));
        let results = [a.await.unwrap(), b.await.unwrap()];
        assert!(owners(&app, &key).await >= 1, "round {round}: {results:?}");
        let successes = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        assert_eq!(successes, 1, "round {round}: exactly one demotion wins: {results:?}");
        for (status, body) in &results {
            // The loser either lost the race inside the transaction (409) or was already
            // demoted when its request started (403: members cannot manage owners).
            if *status != StatusCode::OK {
                let code = body["code"].as_str().unwrap_or_default();
                assert!(matches!(code, "conflict" | "last_owner" | "forbidden"), "{body}");
            }
        }
    }
}
