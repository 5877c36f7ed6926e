//! HTTP routes, one module per area. Handlers stay thin: parse, call a service, map.
//!
//! [`api`] is the single list of routes: the router and the OpenAPI document are both built
//! from it, so neither can have a route the other lacks.

pub mod auth;
pub mod boards;
pub mod health;
pub mod issues;
pub mod projects;
pub mod search;
pub mod sprints;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// Every route of the API with its OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::openapi))
        .routes(routes!(crate::metrics::render))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me, auth::update_me))
        .routes(routes!(auth::change_password))
        .routes(routes!(projects::create_project, projects::list_projects))
        .routes(routes!(projects::get_project, projects::update_project, projects::archive_project))
        .routes(routes!(projects::list_members, projects::add_member))
        .routes(routes!(projects::change_role, projects::remove_member))
        .routes(routes!(issues::create_issue, issues::list_issues))
        .routes(routes!(issues::get_issue, issues::update_issue, issues::delete_issue))
        .routes(routes!(issues::restore_issue))
        .routes(routes!(issues::issue_events))
        .routes(routes!(boards::move_issue))
        .routes(routes!(boards::board))
        .routes(routes!(boards::backlog))
        .routes(routes!(sprints::create_sprint, sprints::list_sprints))
        .routes(routes!(sprints::get_sprint, sprints::update_sprint, sprints::delete_sprint))
        .routes(routes!(sprints::start_sprint))
        .routes(routes!(sprints::complete_sprint))
        .routes(routes!(sprints::sprint_board))
        .routes(routes!(search::search))
}
