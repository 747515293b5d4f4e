//! PostgreSQL (feature `postgres`).

use session_core::Result;

use crate::SqlConfig;
use crate::dialect::Dialect;
use crate::store::{open_pool, sql_store};

sql_store!(
    PostgresStore,
    sqlx::Postgres,
    sqlx::PgPool,
    open,
    Dialect::Postgres,
    "postgres"
);

async fn open(config: &SqlConfig) -> Result<sqlx::PgPool> {
    open_pool(config, "postgres").await
}
