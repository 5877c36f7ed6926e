//! The permission matrix, enforced on every route under `/api/v1/projects/{project}`:
//! each route × {anonymous, non-member, viewer, member, maintainer, owner} → expected status,
//! and for every refused request the database is unchanged.
//!
//! The routes come from the OpenAPI document, which is built from the same definitions as
//! the router: a route added without a row here fails `every_project_route_has_a_row`.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use rhythm_domain::pagination::{Limit, PageRequest};
use rhythm_domain::ports::SprintRepository;
use rhythm_domain::sprint::CompletionTarget;
use rhythm_domain::values::SprintState;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Account, TestApp, TestDb, api_tests};

api_tests! {
    every_project_route_obeys_the_matrix,
}

/// Who calls, in the order of the expectation arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    NonMember,
    Viewer,
    Member,
    Maintainer,
    Owner,
}

const CALLERS: [Caller; 6] = [
    Caller::Anonymous,
    Caller::NonMember,
    Caller::Viewer,
    Caller::Member,
    Caller::Maintainer,
    Caller::Owner,
];

/// A fresh project with one user per role, plus per-caller targets so that one caller's
/// successful write cannot change what the next caller meets.
pub struct Fixture {
    pub key: String,
    pub users: Vec<(Caller, Option<Account>)>,
    /// A user outside the project, per caller (to be added).
    pub outsiders: Vec<Account>,
    /// A viewer of the project, per caller (to be re-roled or removed).
    pub extras: Vec<Account>,
    /// A live issue per caller, reported by the caller where it may report.
    pub issues: Vec<i64>,
    /// A deleted issue per caller.
    pub deleted: Vec<i64>,
    /// A planned sprint per caller.
    pub sprints: Vec<Uuid>,
    /// Another planned sprint per caller, started before the caller tries to complete it.
    pub completable: Vec<Uuid>,
}

impl Fixture {
    async fn new(app: &TestApp, key: &str) -> Self {
        let owner = app.seed_user("owner").await;
        app.create_project(&owner, key).await;
        let mut users = vec![
            (Caller::Anonymous, None),
            (Caller::NonMember, Some(app.seed_user("outsider").await)),
        ];
        for (caller, role) in [
            (Caller::Viewer, "viewer"),
            (Caller::Member, "member"),
            (Caller::Maintainer, "maintainer"),
        ] {
            let user = app.seed_user(role).await;
            app.add_member(key, &user, role).await;
            users.push((caller, Some(user)));
        }
        users.push((Caller::Owner, Some(owner)));
        let owner = users[5].1.clone().unwrap_or_else(|| unreachable!());
        let (mut outsiders, mut extras, mut issues, mut deleted, mut sprints, mut completable) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // Issue 1: the one every read and update goes to.
        app.seed_issue(key, &owner, false).await;
        for (_, user) in &users {
            outsiders.push(app.seed_user("to-add").await);
            let extra = app.seed_user("extra").await;
            app.add_member(key, &extra, "viewer").await;
            extras.push(extra);
            let reporter = user.clone().unwrap_or_else(|| owner.clone());
            issues.push(app.seed_issue(key, &reporter, false).await);
            deleted.push(app.seed_issue(key, &owner, true).await);
            sprints.push(app.seed_sprint(key, SprintState::Planned).await);
            completable.push(app.seed_sprint(key, SprintState::Planned).await);
        }
        Self {
            key: key.to_owned(),
            users,
            outsiders,
            extras,
            issues,
            deleted,
            sprints,
            completable,
        }
    }

    fn index(caller: Caller) -> usize {
        CALLERS.iter().position(|c| *c == caller).unwrap_or_default()
    }

    fn token(&self, caller: Caller) -> Option<&str> {
        self.users[Self::index(caller)].1.as_ref().map(|a| a.token.as_str())
    }

    fn outsider(&self, caller: Caller) -> &Account {
        &self.outsiders[Self::index(caller)]
    }

    fn extra(&self, caller: Caller) -> &Account {
        &self.extras[Self::index(caller)]
    }

    fn issue(&self, caller: Caller) -> i64 {
        self.issues[Self::index(caller)]
    }

    fn deleted_issue(&self, caller: Caller) -> i64 {
        self.deleted[Self::index(caller)]
    }

    fn sprint(&self, caller: Caller, rest: &str) -> String {
        self.path(&format!("/sprints/{}{rest}", self.sprints[Self::index(caller)]))
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/v1/projects/{}{rest}", self.key)
    }
}

type Build = fn(&Fixture, Caller) -> (String, Option<Value>);

/// State a row needs before each caller's request: a project has at most one active sprint,
/// so each caller's start or complete needs the ground prepared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    Nothing,
    NoActiveSprint,
    CallersSprintActive,
}

struct Row {
    method: Method,
    /// The OpenAPI path template.
    template: &'static str,
    /// Anonymous, non-member, viewer, member, maintainer, owner.
    expect: [u16; 6],
    build: Build,
    setup: Setup,
}

const READ: [u16; 6] = [401, 404, 200, 200, 200, 200];
const MEMBER_WRITE: [u16; 6] = [401, 404, 403, 200, 200, 200];
const MAINTAINER_WRITE: [u16; 6] = [401, 404, 403, 403, 200, 200];

fn row(method: Method, template: &'static str, expect: [u16; 6], build: Build) -> Row {
    Row { method, template, expect, build, setup: Setup::Nothing }
}

fn rows() -> Vec<Row> {
    use Method as M;
    let mut rows = vec![
        row(M::GET, "/api/v1/projects/{project}", READ, |fx, _| (fx.path(""), None)),
        row(M::PATCH, "/api/v1/projects/{project}", MAINTAINER_WRITE, |fx, _| {
            (fx.path(""), Some(json!({"description": "changed"})))
        }),
        row(M::DELETE, "/api/v1/projects/{project}", [401, 404, 403, 403, 403, 204], |fx, _| {
            (fx.path(""), None)
        }),
        row(M::GET, "/api/v1/projects/{project}/members", READ, |fx, _| {
            (fx.path("/members"), None)
        }),
        row(
            M::POST,
            "/api/v1/projects/{project}/members",
            [401, 404, 403, 403, 201, 201],
            |fx, c| {
                (fx.path("/members"), Some(json!({"user_id": fx.outsider(c).id, "role": "member"})))
            },
        ),
        row(M::PATCH, "/api/v1/projects/{project}/members/{user_id}", MAINTAINER_WRITE, |fx, c| {
            (fx.path(&format!("/members/{}", fx.extra(c).id)), Some(json!({"role": "member"})))
        }),
        row(
            M::DELETE,
            "/api/v1/projects/{project}/members/{user_id}",
            [401, 404, 403, 403, 204, 204],
            |fx, c| (fx.path(&format!("/members/{}", fx.extra(c).id)), None),
        ),
        row(M::GET, "/api/v1/projects/{project}/issues", READ, |fx, _| {
            (fx.path("/issues?status=todo&sort=number"), None)
        }),
        row(
            M::POST,
            "/api/v1/projects/{project}/issues",
            [401, 404, 403, 201, 201, 201],
            |fx, _| (fx.path("/issues"), Some(json!({"title": "New"}))),
        ),
        row(M::GET, "/api/v1/projects/{project}/issues/{number}", READ, |fx, _| {
            (fx.path("/issues/1"), None)
        }),
        row(M::PATCH, "/api/v1/projects/{project}/issues/{number}", MEMBER_WRITE, |fx, _| {
            (fx.path("/issues/1"), Some(json!({"priority": "high"})))
        }),
        // Members may delete only issues they reported: each caller's target is its own.
        row(
            M::DELETE,
            "/api/v1/projects/{project}/issues/{number}",
            [401, 404, 403, 204, 204, 204],
            |fx, c| (fx.path(&format!("/issues/{}", fx.issue(c))), None),
        ),
        row(
            M::POST,
            "/api/v1/projects/{project}/issues/{number}/restore",
            MAINTAINER_WRITE,
            |fx, c| (fx.path(&format!("/issues/{}/restore", fx.deleted_issue(c))), None),
        ),
        row(M::GET, "/api/v1/projects/{project}/issues/{number}/events", READ, |fx, _| {
            (fx.path("/issues/1/events"), None)
        }),
        row(M::POST, "/api/v1/projects/{project}/issues/{number}/move", MEMBER_WRITE, |fx, _| {
            (fx.path("/issues/1/move"), Some(json!({"status": "in_progress"})))
        }),
        row(M::GET, "/api/v1/projects/{project}/board", READ, |fx, _| (fx.path("/board"), None)),
        row(M::GET, "/api/v1/projects/{project}/backlog", READ, |fx, _| {
            (fx.path("/backlog"), None)
        }),
        row(
            M::POST,
            "/api/v1/projects/{project}/sprints",
            [401, 404, 403, 403, 201, 201],
            |fx, _| (fx.path("/sprints"), Some(json!({"name": "Next"}))),
        ),
        row(M::GET, "/api/v1/projects/{project}/sprints", READ, |fx, _| {
            (fx.path("/sprints"), None)
        }),
        row(M::GET, "/api/v1/projects/{project}/sprints/{sprint_id}", READ, |fx, c| {
            (fx.sprint(c, ""), None)
        }),
        row(
            M::PATCH,
            "/api/v1/projects/{project}/sprints/{sprint_id}",
            MAINTAINER_WRITE,
            |fx, c| (fx.sprint(c, ""), Some(json!({"goal": "Focus"}))),
        ),
        row(
            M::DELETE,
            "/api/v1/projects/{project}/sprints/{sprint_id}",
            [401, 404, 403, 403, 204, 204],
            |fx, c| (fx.sprint(c, ""), None),
        ),
        row(M::GET, "/api/v1/projects/{project}/sprints/{sprint_id}/board", READ, |fx, c| {
            (fx.sprint(c, "/board"), None)
        }),
    ];
    let mut start = row(
        M::POST,
        "/api/v1/projects/{project}/sprints/{sprint_id}/start",
        MAINTAINER_WRITE,
        |fx, c| (fx.sprint(c, "/start"), None),
    );
    start.setup = Setup::NoActiveSprint;
    let mut complete = row(
        M::POST,
        "/api/v1/projects/{project}/sprints/{sprint_id}/complete",
        MAINTAINER_WRITE,
        |fx, c| {
            let sprint = fx.completable[Fixture::index(c)];
            (fx.path(&format!("/sprints/{sprint}/complete")), None)
        },
    );
    complete.setup = Setup::CallersSprintActive;
    rows.extend([start, complete]);
    rows
}

async fn prepare(app: &TestApp, fx: &Fixture, caller: Caller, setup: Setup) {
    if setup == Setup::Nothing {
        return;
    }
    // Through the store's ports, as the state machine allows: close the active sprint, then
    // start the caller's.
    let project_id = app.project_id(&fx.key);
    let page = PageRequest::first(Limit::new(10).unwrap());
    let active = SprintRepository::list(app.store(), project_id, Some(SprintState::Active), &page);
    for sprint in active.await.unwrap().items {
        let owner = fx.users[Fixture::index(Caller::Owner)].1.clone().unwrap();
        SprintRepository::complete(
            app.store(),
            project_id,
            sprint.id,
            CompletionTarget::Backlog,
            owner.id,
        )
        .await
        .unwrap();
    }
    if setup == Setup::CallersSprintActive {
        let sprint = fx.completable[Fixture::index(caller)];
        SprintRepository::start(app.store(), project_id, sprint).await.unwrap();
    }
}

/// Every (method, template) of the API under `/api/v1/projects/{project}`.
fn project_routes() -> BTreeSet<(String, String)> {
    let doc = rhythm_api::app::openapi();
    let mut routes = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        if !path.starts_with("/api/v1/projects/{project}") {
            continue;
        }
        let methods = [
            ("GET", item.get.is_some()),
            ("PUT", item.put.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
            ("PATCH", item.patch.is_some()),
        ];
        for (method, present) in methods {
            if present {
                routes.insert((method.to_owned(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn every_project_route_has_a_row() {
    let covered: BTreeSet<(String, String)> =
        rows().iter().map(|r| (r.method.to_string(), r.template.to_owned())).collect();
    let routes = project_routes();
    let missing: Vec<_> = routes.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&routes).collect();
    assert!(missing.is_empty(), "routes without permission rows: {missing:?}");
    assert!(stale.is_empty(), "permission rows for routes that do not exist: {stale:?}");
    assert!(!routes.is_empty());
}

async fn every_project_route_obeys_the_matrix(db: TestDb) {
    let app = TestApp::new(&db);
    let mut failures = Vec::new();
    for (index, row) in rows().into_iter().enumerate() {
        let fx = Fixture::new(&app, &format!("P{index}")).await;
        for (caller, expected) in CALLERS.into_iter().zip(row.expect) {
            let (path, body) = (row.build)(&fx, caller);
            prepare(&app, &fx, caller, row.setup).await;
            let before = app.snapshot().await;
            let mut request = app.request(row.method.clone(), &path);
            if let Some(token) = fx.token(caller) {
                request = request.token(token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let res = request.send().await;
            if res.status.as_u16() != expected {
                failures.push(format!(
                    "{} {} as {caller:?}: expected {expected}, got {} {}",
                    row.method,
                    row.template,
                    res.status,
                    String::from_utf8_lossy(&res.body)
                ));
                continue;
            }
            if !res.status.is_success() {
                assert_eq!(
                    app.snapshot().await,
                    before,
                    "{} {} as {caller:?} changed the database",
                    row.method,
                    row.template
                );
                let problem = res.json();
                let code = match res.status {
                    StatusCode::UNAUTHORIZED => "unauthorized",
                    StatusCode::FORBIDDEN => "forbidden",
                    _ => "not_found",
                };
                assert_eq!(problem["code"], code);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells disagree with the matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
