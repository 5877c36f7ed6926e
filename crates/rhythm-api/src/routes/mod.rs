//! HTTP routes, one module per area. Handlers stay thin: parse, call a service, map.

pub mod auth;
pub mod health;
