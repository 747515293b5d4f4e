//! PostgreSQL (feature `postgres`).

use crate::store::sql_store;
use crate::table::Dialect;

sql_store!(
    PostgresStore,
    sqlx::Postgres,
    sqlx::PgPool,
    sqlx::postgres::PgPoolOptions,
    Dialect::Postgres,
    "postgres"
);
