//! The HTTP adapter of Rhythm: axum routes, extractors, DTOs, problem+json errors and the
//! middleware stack. It depends on the domain's services and ports only; the `rhythm`
//! binary (`main.rs`) plugs a storage adapter in.

pub mod app;
pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod routes;
pub mod secrets;
pub mod server;
pub mod state;
pub mod telemetry;

pub use app::router;
pub use state::AppState;
