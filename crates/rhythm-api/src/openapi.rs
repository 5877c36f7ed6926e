//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.
//!
//! Handlers declare their success responses and the conflicts specific to them. The error
//! responses every route shares are added here, by rule, so they cannot be forgotten:
//! 400/500/503 everywhere under `/api/v1`, 401 where a bearer token is required, 413/415/422
//! where there is a request body, 404 where the path names something, 403 inside projects.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi as _};

use crate::error::{PROBLEM_JSON, Problem, ProblemField};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Rhythm API",
        description = "A fast, self-hosted issue tracker: projects, members and roles, issues, \
                       Kanban boards, Scrum sprints and full-text search.",
        license(name = "Apache-2.0")
    ),
    components(schemas(Problem, ProblemField)),
    modifiers(&StandardResponses),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "auth", description = "Accounts and sessions"),
        (name = "projects", description = "Projects and memberships"),
        (name = "issues", description = "Issues, their history and the filtered listing"),
        (name = "boards", description = "Kanban board, board moves and the backlog"),
        (name = "sprints", description = "Scrum sprints and sprint boards"),
        (name = "search", description = "Full-text search"),
    )
)]
pub struct ApiDoc;

/// The document's skeleton; `routes::api()` adds the paths.
pub fn base() -> OpenApi {
    ApiDoc::openapi()
}

pub const BEARER: &str = "bearer";

/// Routes reachable without an access token.
fn is_public(path: &str) -> bool {
    !path.starts_with("/api/v1/")
        || path.starts_with("/api/v1/auth/")
        || path == "/api/v1/openapi.json"
}

struct StandardResponses;

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// Adds the shared error responses and security requirements to every operation. Runs
/// after all paths are registered (the `Modify` above only sees the skeleton).
pub fn finish(openapi: &mut OpenApi) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            standardize(path, operation);
        }
    }
}

fn standardize(path: &str, operation: &mut Operation) {
    let api = path.starts_with("/api/v1/");
    let mut add = |status: u16, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| problem(description));
    };
    if api {
        add(400, "Malformed request: bad JSON, query parameter or cursor");
        add(500, "Internal error (details are logged, never returned)");
        add(503, "Database unavailable or request timed out; retry after `Retry-After` seconds");
    }
    if api && !is_public(path) {
        add(401, "Missing, malformed or expired access token");
    }
    if path.contains('{') {
        add(404, "No such resource, or the caller is not a member of its project");
    }
    if path.starts_with("/api/v1/projects/{project}") {
        add(403, "The caller's role in the project does not allow this");
    }
    if operation.request_body.is_some() {
        add(413, "Request body larger than 1 MiB");
        add(415, "Request body is not application/json");
        add(422, "Invalid fields; `errors` lists every one");
    }
    if api && !is_public(path) && operation.security.is_none() {
        operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    }
}

/// Request bodies whose fields exclude or require each other, in JSON Schema terms
/// utoipa's model has no words for (`not`): a member is added by exactly one of `user_id`
/// and `email`; a move takes at most one of `before` and `after`.
pub fn state_field_combinations(doc: &mut serde_json::Value) {
    use serde_json::json;
    let schemas = &mut doc["components"]["schemas"];
    if let Some(add_member) = schemas.get_mut("AddMemberRequest") {
        add_member["oneOf"] = json!([{"required": ["user_id"]}, {"required": ["email"]}]);
    }
    if let Some(move_request) = schemas.get_mut("MoveRequest") {
        move_request["not"] = json!({"required": ["before", "after"]});
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
    RefOr::T(ResponseBuilder::new().description(description).content(PROBLEM_JSON, content).build())
}
