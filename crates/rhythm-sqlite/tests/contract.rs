#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The storage contract suite (`rhythm-store-tests`) on SQLite: every test gets a fresh,
//! migrated database file of its own under the target directory.

async fn fresh_store() -> rhythm_sqlite::SqliteStore {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sqlite-contract");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.db", uuid::Uuid::now_v7()));
    rhythm_sqlite::SqliteStore::open(&path, &rhythm_sqlite::SqliteSettings::default())
        .await
        .unwrap()
}

rhythm_store_tests::contract_suite!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    fn() => fresh_store().await
);
