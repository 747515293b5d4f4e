//! Every call's future stays small enough for the allocator's per-thread cache: each call
//! boxes its future, and a box over about a kilobyte is served by the allocator's slow path on
//! every request. No database is needed: the pools connect lazily and nothing is polled.

use session_core::{SessionStore, kit};
use session_sql::{MySqlStore, PostgresStore, SqlConfig, SqliteStore};

#[tokio::test]
async fn every_calls_future_stays_under_a_kilobyte() {
    let config = || SqlConfig::new("unused");
    let pg = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://u@127.0.0.1:1/db")
        .unwrap();
    let my = sqlx::mysql::MySqlPoolOptions::new()
        .connect_lazy("mysql://u@127.0.0.1:1/db")
        .unwrap();
    let lite = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_lazy("sqlite::memory:")
        .unwrap();
    let stores: Vec<(&str, Box<dyn SessionStore>)> = vec![
        (
            "postgres",
            Box::new(PostgresStore::with_pool(pg, config()).unwrap()),
        ),
        (
            "mysql",
            Box::new(MySqlStore::with_pool(my, config()).unwrap()),
        ),
        (
            "sqlite",
            Box::new(SqliteStore::with_pool(lite, config()).unwrap()),
        ),
    ];
    for (name, store) in &stores {
        for (call, size) in kit::future_sizes(&**store) {
            assert!(
                size <= kit::SMALL_FUTURE_BYTES,
                "{name}: the future of a {call} is {size} bytes"
            );
        }
    }
}
