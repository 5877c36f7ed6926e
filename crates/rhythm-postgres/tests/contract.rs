//! The storage contract suite (`rhythm-store-tests`) on PostgreSQL: every test gets a
//! fresh, migrated database of the server DATABASE_URL names.

rhythm_store_tests::contract_suite!(
    #[sqlx::test(migrator = "rhythm_postgres::MIGRATOR")]
    fn(pool: sqlx::PgPool) => rhythm_postgres::PgStore::for_sqlx_pool(&pool).unwrap()
);
