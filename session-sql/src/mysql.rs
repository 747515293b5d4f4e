//! MySQL and MariaDB (feature `mysql`).

use crate::store::sql_store;
use crate::table::Dialect;

sql_store!(
    MySqlStore,
    sqlx::MySql,
    sqlx::MySqlPool,
    sqlx::mysql::MySqlPoolOptions,
    Dialect::MySql,
    "mysql"
);
