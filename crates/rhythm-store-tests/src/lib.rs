//! The storage contract suite: what every adapter of the domain's ports must do, written
//! once against [`Store`] and instantiated per adapter with [`contract_suite!`]. The port
//! docs in `rhythm_domain::ports` are the specification; each test here checks one of
//! their promises, with real concurrency where a promise is about concurrency.
//!
//! Each test builds its own users and projects, so the suite needs nothing but an empty,
//! migrated store per test.
//!
//! ```ignore
//! rhythm_store_tests::contract_suite!(
//!     #[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
//!     fn(pool: sqlx::PgPool) => rhythm_postgres::PgStore::for_sqlx_pool(&pool).unwrap()
//! );
//! ```

// A test library: a failed expectation is the test's failure, and the panic says where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod accounts;
pub mod boards;
pub mod fixture;
pub mod issues;
pub mod members;
pub mod search;
pub mod sprints;

pub use rhythm_domain::ports::Store;

/// Declares one test function per contract test. The attributes given (the adapter's test
/// attribute, such as `#[tokio::test]` or `#[sqlx::test(…)]`) go on each; after `fn`, the
/// test function's arguments, and after `=>` the expression that makes the store from them.
#[macro_export]
macro_rules! contract_suite {
    ($(#[$attr:meta])* fn $args:tt => $store:expr) => {
        $crate::contract_suite!(@each [$(#[$attr])*] $args => $store;
            accounts::emails_are_unique_in_any_letter_case_including_non_ascii,
            accounts::exactly_one_of_many_concurrent_rotations_wins,
            accounts::rotation_goes_by_the_time_it_is_given,
            accounts::a_replayed_token_revokes_its_chain,
            accounts::sign_in_attempts_count_per_window_by_the_time_given,
            issues::numbers_are_gap_free_under_concurrent_creates,
            issues::unconditional_updates_all_win_under_contention,
            issues::a_refused_decision_writes_nothing,
            issues::keyset_walks_neither_repeat_nor_skip_with_inserts_between_pages,
            issues::delete_and_restore_bump_the_version_and_record_events,
            issues::refused_references_and_missing_rows_give_the_documented_errors,
            boards::a_new_issue_ranks_above_every_existing_rank,
            boards::moves_land_directly_beside_their_anchor,
            boards::concurrent_moves_into_one_spot_get_distinct_ordered_ranks,
            boards::respacing_keeps_the_order_and_bumps_no_neighbour,
            boards::board_columns_count_and_order_their_issues,
            members::two_owners_demoting_each_other_leave_one_owner,
            members::a_removed_member_loses_open_issues_but_keeps_resolved_ones,
            members::membership_errors_are_the_documented_ones,
            sprints::of_concurrent_starts_exactly_one_wins,
            sprints::completing_a_sprint_moves_only_unresolved_issues,
            sprints::sprint_state_machine_refuses_what_it_must,
            search::matches_rank_keys_first_and_leave_out_what_matches_nothing,
            search::a_walk_through_hits_is_stable_while_issues_are_created,
            search::search_sees_only_the_callers_projects,
        );
    };
    (@each [$($attrs:tt)*] $args:tt => $store:expr; $module:ident :: $name:ident, $($rest:tt)*) => {
        $($attrs)*
        async fn $name $args {
            $crate::$module::$name($store).await;
        }
        $crate::contract_suite!(@each [$($attrs)*] $args => $store; $($rest)*);
    };
    (@each [$($attrs:tt)*] $args:tt => $store:expr;) => {};
}
