//! The heart of Rhythm: entities, validated values, the permission policy, the ports the
//! domain needs from storage and crypto, and the use-case services built on them.
//!
//! This crate does no I/O and knows neither HTTP nor SQL. Adapters depend on it, never the
//! reverse: `rhythm-api → rhythm-domain ← rhythm-postgres`.

pub mod board;
pub mod error;
pub mod issue;
pub mod pagination;
pub mod placement;
pub mod policy;
pub mod ports;
pub mod project;
pub mod rank;
pub mod search;
pub mod services;
pub mod sprint;
pub mod user;
pub mod values;

pub use error::{Conflict, DomainError, FieldError, Invalid, RepoError, Validator};
