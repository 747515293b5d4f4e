//! MySQL and MariaDB (feature `mysql`).

use crate::dialect::Dialect;
use crate::store::sql_store;

sql_store!(
    MySqlStore,
    sqlx::MySql,
    sqlx::MySqlPool,
    sqlx::mysql::MySqlPoolOptions,
    Dialect::MySql,
    "mysql"
);
