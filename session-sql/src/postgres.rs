//! PostgreSQL (feature `postgres`).

use crate::dialect::Dialect;
use crate::store::sql_store;

sql_store!(
    PostgresStore,
    sqlx::Postgres,
    sqlx::PgPool,
    sqlx::postgres::PgPoolOptions,
    Dialect::Postgres,
    "postgres"
);
