//! The backends the suite knows: where each comes from, and how its container is started.

use std::sync::Arc;

use super::{Backend, Endpoint, Ready};
use crate::setup::SetupError;

/// Redis: `SESSION_TEST_REDIS_URL` (`redis://host:port/`), else a container from
/// `SESSION_TEST_REDIS_IMAGE` (default `redis:7`).
pub const REDIS: Backend = Backend {
    name: "redis",
    url_var: "SESSION_TEST_REDIS_URL",
    image_var: "SESSION_TEST_REDIS_IMAGE",
    default_image: "redis:7",
    port: 6379,
    ready: Ready::Stdout("Ready to accept connections"),
    env: &[],
    url: |host, port| format!("redis://{host}:{port}/"),
};

/// PostgreSQL: `SESSION_TEST_POSTGRES_URL` (`postgres://user@host:port/db`), else a container
/// from `SESSION_TEST_POSTGRES_IMAGE` (default `postgres:16`).
pub const POSTGRES: Backend = Backend {
    name: "postgres",
    url_var: "SESSION_TEST_POSTGRES_URL",
    image_var: "SESSION_TEST_POSTGRES_IMAGE",
    default_image: "postgres:16",
    port: 5432,
    ready: Ready::Stderr("database system is ready to accept connections"),
    env: &[("POSTGRES_HOST_AUTH_METHOD", "trust")],
    url: |host, port| format!("postgres://postgres@{host}:{port}/postgres"),
};

/// MySQL or MariaDB: `SESSION_TEST_MYSQL_URL` (`mysql://user:password@host:port/db`), else a
/// container from `SESSION_TEST_MYSQL_IMAGE` (default `mariadb:11`).
pub const MYSQL: Backend = Backend {
    name: "mysql",
    url_var: "SESSION_TEST_MYSQL_URL",
    image_var: "SESSION_TEST_MYSQL_IMAGE",
    default_image: "mariadb:11",
    port: 3306,
    ready: Ready::Stderr("ready for connections"),
    env: &[
        ("MARIADB_USER", "session"),
        ("MARIADB_PASSWORD", "session"),
        ("MARIADB_DATABASE", "sessions"),
        ("MARIADB_ROOT_PASSWORD", "session"),
    ],
    url: |host, port| format!("mysql://session:session@{host}:{port}/sessions"),
};

/// DynamoDB: `SESSION_TEST_DYNAMODB_ENDPOINT` (`http://host:port`, an emulator or a real
/// endpoint), else a moto server in a container from `SESSION_TEST_DYNAMODB_IMAGE` (default
/// `motoserver/moto:latest`).
pub const DYNAMODB: Backend = Backend {
    name: "dynamodb",
    url_var: "SESSION_TEST_DYNAMODB_ENDPOINT",
    image_var: "SESSION_TEST_DYNAMODB_IMAGE",
    default_image: "motoserver/moto:latest",
    port: 5000,
    ready: Ready::Stderr("Running on"),
    env: &[],
    url: |host, port| format!("http://{host}:{port}"),
};

/// The Redis endpoint for this test binary, provisioned once.
pub async fn redis() -> Result<Arc<Endpoint>, SetupError> {
    REDIS.shared().await
}

/// The PostgreSQL endpoint for this test binary, provisioned once.
pub async fn postgres() -> Result<Arc<Endpoint>, SetupError> {
    POSTGRES.shared().await
}

/// The MySQL/MariaDB endpoint for this test binary, provisioned once.
pub async fn mysql() -> Result<Arc<Endpoint>, SetupError> {
    MYSQL.shared().await
}

/// The DynamoDB endpoint for this test binary, provisioned once.
pub async fn dynamodb() -> Result<Arc<Endpoint>, SetupError> {
    DYNAMODB.shared().await
}
