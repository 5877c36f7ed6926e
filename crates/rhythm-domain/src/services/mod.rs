//! Use cases. Each service loads what it needs through ports, asks the policy, checks the
//! rules that span entities, and calls the repositories; it never sees HTTP or SQL.

pub mod auth;
pub mod boards;
pub mod issues;
pub mod projects;
pub mod search;
pub mod sprints;
