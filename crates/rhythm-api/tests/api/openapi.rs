//! The OpenAPI document matches the router, route for route, and the validation rules; metrics
//! and the docs page.

use std::collections::BTreeSet;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use serde_json::{Value, json};

use crate::support::{TestApp, TestDb, api_tests};

api_tests! {
    every_documented_operation_reaches_its_route,
    metrics_count_requests_by_route_template,
    the_docs_page_is_served_from_the_binary,
    trimmed_limits_are_not_promised_as_raw_max_length,
    exclusive_fields_are_stated_and_enforced,
}

/// Paths the router serves that are no API operations: the interactive docs page.
const UNDOCUMENTED: [&str; 3] = ["/docs", "/docs/", "/docs/{*rest}"];

fn document() -> Value {
    rhythm_api::app::openapi_json().unwrap()
}

fn operations(doc: &Value) -> Vec<(Method, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                ops.push((
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    path.clone(),
                ));
            }
        }
    }
    ops
}

/// The router's paths, read from its debug form (axum lists its route table there).
fn router_paths() -> BTreeSet<String> {
    let debug = format!("{:?}", rhythm_api::app::routes());
    // The routes proper come before the fallback router's internal ones.
    let routes = debug.split("fallback_router:").next().unwrap_or_default();
    let mut paths = BTreeSet::new();
    for part in routes.split('"').skip(1).step_by(2) {
        if part.starts_with('/') {
            paths.insert(part.to_owned());
        }
    }
    paths
}

#[test]
fn every_route_is_documented_and_every_documented_path_is_routed() {
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let routed = router_paths();
    let extra: BTreeSet<String> = UNDOCUMENTED.iter().map(|p| p.to_string()).collect();
    let undocumented: Vec<_> =
        routed.difference(&documented).filter(|p| !extra.contains(*p)).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented paths the router does not serve: {unrouted:?}");
    assert!(documented.len() > 20, "{documented:?}");
}

#[test]
fn the_document_describes_security_errors_and_enums() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.as_str().to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        let codes: BTreeSet<&str> = responses.keys().map(String::as_str).collect();
        assert!(codes.iter().any(|c| c.starts_with('2')), "{method} {path}: no success response");
        let public = !path.starts_with("/api/v1/")
            || path.starts_with("/api/v1/auth/")
            || path == "/api/v1/openapi.json";
        if path.starts_with("/api/v1/") {
            for code in ["400", "500", "503"] {
                assert!(codes.contains(code), "{method} {path}: no {code}");
            }
        }
        if !public {
            assert!(codes.contains("401"), "{method} {path}: no 401");
            assert_eq!(
                op["security"][0]["bearer"],
                Value::Array(vec![]),
                "{method} {path}: no bearer security"
            );
        }
        if path.starts_with("/api/v1/projects/{project}") {
            assert!(codes.contains("403") && codes.contains("404"), "{method} {path}: no 403/404");
        }
        if op.get("requestBody").is_some() {
            for code in ["413", "415", "422"] {
                assert!(codes.contains(code), "{method} {path}: no {code}");
            }
        }
        for (code, response) in responses {
            if code.starts_with('4') || code.starts_with('5') {
                if path == "/health" && code == "503" {
                    continue;
                }
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {code}"
                );
            }
        }
    }
    let statuses = &doc["components"]["schemas"]["IssueStatusDto"]["enum"];
    assert_eq!(statuses.as_array().unwrap().len(), 6, "{statuses}");
    let issue = &doc["components"]["schemas"]["IssueDto"]["properties"];
    assert_eq!(issue["id"]["format"], "uuid");
    assert_eq!(issue["created_at"]["format"], "date-time");
    let sprint = &doc["components"]["schemas"]["SprintDto"]["properties"];
    assert!(sprint["starts_on"].to_string().contains("\"date\""), "{}", sprint["starts_on"]);
    let patch_issue = &doc["paths"]["/api/v1/projects/{project}/issues/{number}"]["patch"];
    assert!(patch_issue["responses"].get("412").is_some(), "PATCH issue: no 412");
}

/// Echoes the route template the router matched.
async fn echo_matched(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let mut response = next.run(req).await;
    if let Some(matched) = matched.and_then(|m| HeaderValue::from_str(&m).ok()) {
        response.headers_mut().insert("x-test-matched", matched);
    }
    response
}

async fn every_documented_operation_reaches_its_route(db: TestDb) {
    let app = TestApp::with_outer_layer(&db, middleware::from_fn(echo_matched));
    let nil = uuid::Uuid::nil().to_string();
    for (method, template) in operations(&document()) {
        let path = template
            .replace("{project}", "RHY")
            .replace("{number}", "1")
            .replace("{user_id}", &nil)
            .replace("{sprint_id}", &nil);
        let res = app.request(method.clone(), &path).send().await;
        assert_eq!(
            res.header("x-test-matched"),
            Some(template.as_str()),
            "{method} {path}: {}",
            res.status
        );
        assert_ne!(res.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
}

async fn metrics_count_requests_by_route_template(db: TestDb) {
    let app = TestApp::new(&db);
    let ann = app.seed_user("ann").await;
    app.create_project(&ann, "MET").await;
    for number in [1, 2, 3] {
        app.get(&format!("/api/v1/projects/MET/issues/{number}")).token(&ann.token).send().await;
    }
    let res = app.get("/metrics").send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(res.body).unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{")
                && l.contains(r#"route="/api/v1/projects/{project}/issues/{number}""#)
        })
        .unwrap_or_else(|| panic!("no series for the issue route in:\n{text}"));
    assert!(line.contains(r#"method="GET""#) && line.contains(r#"status="404""#), "{line}");
    assert!(!text.contains("/api/v1/projects/MET/issues/1"), "raw paths must not become labels");
    assert!(text.contains("http_request_duration_seconds_bucket{"), "latency histogram");
    assert!(
        text.contains("db_pool_connections{state=\"idle\"}")
            && text.contains("db_pool_max_connections")
    );
}

async fn the_docs_page_is_served_from_the_binary(db: TestDb) {
    let app = TestApp::new(&db);
    let redirect = app.get("/docs").send().await;
    assert_eq!(
        (redirect.status, redirect.header("location")),
        (StatusCode::SEE_OTHER, Some("/docs/"))
    );
    let page = app.get("/docs/").send().await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(!html.contains("https://"), "no external assets");
    let bundle = app.get("/docs/swagger-ui-bundle.js").send().await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert!(bundle.body.len() > 100_000);
    let init =
        String::from_utf8(app.get("/docs/swagger-initializer.js").send().await.body).unwrap();
    assert!(init.contains("/api/v1/openapi.json"), "{init}");
    let doc = app.get("/api/v1/openapi.json").send().await;
    assert_eq!((doc.status, doc.json()["openapi"].clone()), (StatusCode::OK, Value::from("3.1.0")));
}

/// Limits that apply after trimming cannot be a `maxLength` on the raw string: a name of 100
/// characters wrapped in whitespace is valid, so the document must not call it invalid.
async fn trimmed_limits_are_not_promised_as_raw_max_length(db: TestDb) {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("RegisterRequest", "name"),
        ("UpdateMeRequest", "name"),
        ("CreateProjectRequest", "name"),
        ("UpdateProjectRequest", "name"),
        ("CreateSprintRequest", "name"),
        ("UpdateSprintRequest", "name"),
        ("CreateIssueRequest", "title"),
        ("UpdateIssueRequest", "title"),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert!(property.is_object(), "{schema}.{field} is documented");
        assert!(property.get("maxLength").is_none(), "{schema}.{field}: {property}");
    }

    let app = TestApp::new(&db);
    let ann = app.register("ann@example.com", "Ann").await;
    let hundred = "é".repeat(100);
    let padded = json!({ "name": format!(" \u{a0}{hundred}\n") });
    let res = app.patch("/api/v1/me").token(&ann.token).json(&padded).send().await;
    assert_eq!((res.status, res.json()["name"].clone()), (StatusCode::OK, json!(hundred)));
    let too_long = json!({ "name": format!(" {hundred}x ") });
    let res = app.patch("/api/v1/me").token(&ann.token).json(&too_long).send().await;
    res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

/// Fields whose `null` means something (it clears the value); every other property of a
/// request body refuses `null`, and the document must say so.
const NULLABLE_FIELDS: &[&str] =
    &["assignee_id", "sprint_id", "story_points", "starts_on", "ends_on"];

fn allows_null(schema: &Value) -> bool {
    let typed_null = |s: &Value| match &s["type"] {
        Value::String(t) => t == "null",
        Value::Array(types) => types.iter().any(|t| t == "null"),
        _ => false,
    };
    typed_null(schema)
        || ["oneOf", "anyOf"].iter().any(|k| {
            schema[*k].as_array().is_some_and(|alternatives| alternatives.iter().any(typed_null))
        })
}

#[test]
fn request_bodies_allow_null_only_where_it_clears() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut wrong = Vec::new();
    for (name, schema) in schemas.iter().filter(|(name, _)| name.ends_with("Request")) {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if allows_null(property) != NULLABLE_FIELDS.contains(&field.as_str()) {
                wrong.push(format!("{name}.{field}: {property}"));
            }
        }
    }
    assert!(wrong.is_empty(), "nullability in the document differs from the server: {wrong:#?}");
    // Refusing null does not make a field required, nor the other way round.
    assert_eq!(schemas["CreateIssueRequest"]["required"], json!(["title"]));
    assert_eq!(schemas["RegisterRequest"]["required"], json!(["email", "name", "password"]));
    assert!(schemas["UpdateProjectRequest"]["required"].is_null());
}

/// Fields that exclude each other are stated in the served document, and the server
/// refuses exactly what it says: both or neither of `user_id` and `email`, both of
/// `before` and `after`.
async fn exclusive_fields_are_stated_and_enforced(db: TestDb) {
    let app = TestApp::new(&db);
    let served = app.get("/api/v1/openapi.json").send().await.json();
    assert_eq!(served, document());
    let schemas = &served["components"]["schemas"];
    assert_eq!(
        schemas["AddMemberRequest"]["oneOf"],
        json!([{"required": ["user_id"]}, {"required": ["email"]}])
    );
    assert_eq!(schemas["MoveRequest"]["not"], json!({"required": ["before", "after"]}));

    let owner = app.seed_user("owner").await;
    let other = app.seed_user("other").await;
    app.create_project(&owner, "RHY").await;
    for body in [
        json!({"role": "member"}),
        json!({"role": "member", "user_id": other.id, "email": other.email}),
    ] {
        let res =
            app.post("/api/v1/projects/RHY/members").token(&owner.token).json(&body).send().await;
        res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let number = app.seed_issue("RHY", &owner, false).await;
    let res = app
        .post(&format!("/api/v1/projects/RHY/issues/{number}/move"))
        .token(&owner.token)
        .json(&json!({"before": number, "after": number}))
        .send()
        .await;
    res.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
