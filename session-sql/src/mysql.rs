//! MySQL and MariaDB (feature `mysql`).

use session_core::Result;

use crate::SqlConfig;
use crate::dialect::Dialect;
use crate::store::{open_pool, sql_store};

sql_store!(
    MySqlStore,
    sqlx::MySql,
    sqlx::MySqlPool,
    open,
    Dialect::MySql,
    "mysql"
);

async fn open(config: &SqlConfig) -> Result<sqlx::MySqlPool> {
    open_pool(config, "mysql").await
}
