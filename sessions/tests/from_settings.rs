//! Settings to a ready layer in one call, for each driver built in: the store it names, the
//! sweeper it needs, requests through the layer, and clear errors for what is missing.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use sessions::{ErrorKind, Session, Sessions, Settings};
use tower::ServiceExt;

fn settings(env: &[(&str, &str)]) -> Settings {
    let mut pairs = vec![("SESSION_SECURE_COOKIE", "false")];
    pairs.extend_from_slice(env);
    Settings::from_sources(None, pairs).expect("settings")
}

/// Counts twice through the layer with one cookie; returns the cookie's value.
async fn counts(sessions: &Sessions) -> String {
    let app = Router::new()
        .route(
            "/",
            get(|session: Session| async move {
                let n = session.get::<u64>("n").await?.unwrap_or(0) + 1;
                session.insert("n", n).await?;
                Ok::<_, sessions::Error>(n.to_string())
            }),
        )
        .layer(sessions.layer());
    let mut cookie: Option<String> = None;
    for expected in ["1", "2"] {
        let mut request = Request::get("/");
        if let Some(cookie) = &cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        if let Some(set) = response.headers().get(header::SET_COOKIE) {
            cookie = set.to_str().unwrap().split(';').next().map(str::to_owned);
        }
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, expected);
    }
    cookie.expect("a session cookie")
}

#[tokio::test]
async fn no_settings_keep_sessions_in_memory() {
    let sessions = Sessions::from_settings(&settings(&[])).await.unwrap();
    assert_eq!(sessions.store().unwrap().name(), "memory");
    counts(&sessions).await;
    sessions.shutdown().await;
}

#[tokio::test]
async fn a_missing_url_or_a_bad_one_is_a_configuration_error_naming_the_setting() {
    // A driver left out of this build says so first.
    let built =
        |on: bool, setting: &'static str, feature: &'static str| if on { setting } else { feature };
    let redis = built(
        cfg!(feature = "redis"),
        "SESSION_REDIS_URL",
        "`redis` feature",
    );
    let cookie = built(
        cfg!(feature = "cookie"),
        "SESSION_COOKIE_KEYS",
        "`cookie` feature",
    );
    let cookie_key = built(
        cfg!(feature = "cookie"),
        "key 1 of SESSION_COOKIE_KEYS",
        "`cookie` feature",
    );
    for (env, says) in [
        (vec![("SESSION_DRIVER", "redis")], redis),
        (vec![("SESSION_DRIVER", "database")], "SESSION_DATABASE_URL"),
        (
            vec![
                ("SESSION_DRIVER", "database"),
                ("SESSION_DATABASE_URL", "oracle://db/app"),
            ],
            "must start with sqlite:, postgres: or mysql:",
        ),
        (vec![("SESSION_DRIVER", "cookie")], cookie),
        (
            vec![
                ("SESSION_DRIVER", "cookie"),
                ("SESSION_COOKIE_KEYS", "not base64 at all!"),
            ],
            cookie_key,
        ),
    ] {
        let err = Sessions::from_settings(&settings(&env)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{env:?}: {err}");
        assert!(err.to_string().contains(says), "{env:?}: {err}");
    }
}

#[test]
fn cookie_keys_never_show_in_debug_output() {
    let settings = settings(&[("SESSION_COOKIE_KEYS", "c2VjcmV0LWtleS1tYXRlcmlhbA,b3RoZXI")]);
    assert_eq!(settings.store.cookie_keys.expose().len(), 2);
    let shown = format!("{settings:?}");
    assert!(!shown.contains("c2VjcmV0"), "{shown}");
    assert!(shown.contains("2 redacted"), "{shown}");
}

#[cfg(feature = "cookie")]
#[tokio::test]
async fn the_cookie_driver_seals_the_session_in_the_cookie_and_keeps_no_store() {
    let key = sessions::cookie::Key::generate().to_base64();
    let old = sessions::cookie::Key::generate().to_base64();
    let keys = format!("{key}, {old}");
    let env = [("SESSION_DRIVER", "cookie"), ("SESSION_COOKIE_KEYS", &keys)];
    let sessions = Sessions::from_settings(&settings(&env)).await.unwrap();
    assert!(sessions.store().is_none());
    let cookie = counts(&sessions).await;
    // The whole session travels in the cookie: far longer than a token.
    assert!(cookie.len() > 100, "{cookie}");
}

#[cfg(feature = "file")]
#[tokio::test]
async fn the_file_driver_gets_its_directory_and_a_sweeper() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sessions-umbrella-{}", std::process::id()));
    let path = dir.to_str().unwrap();
    let env = [("SESSION_DRIVER", "file"), ("SESSION_FILES_PATH", path)];
    let sessions = Sessions::from_settings(&settings(&env)).await.unwrap();
    assert_eq!(sessions.store().unwrap().name(), "file");
    counts(&sessions).await;
    assert!(dir.is_dir());
    // Stopping waits for the sweeper (the first sweep runs at once) and returns.
    tokio::time::timeout(std::time::Duration::from_secs(10), sessions.shutdown())
        .await
        .expect("the sweeper stops");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_sqlite_url_makes_its_directory_and_table() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sessions-umbrella-db-{}", std::process::id()));
    let url = format!("sqlite://{}/nested/sessions.db", dir.display());
    let env = [
        ("SESSION_DRIVER", "database"),
        ("SESSION_DATABASE_URL", &url),
    ];
    let sessions = Sessions::from_settings(&settings(&env)).await.unwrap();
    assert_eq!(sessions.store().unwrap().name(), "sqlite");
    counts(&sessions).await;
    sessions.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sessions from settings naming `backend`'s test server through `url_var`, counting through
/// the layer on the store named `store`; the server is released at the end.
#[cfg(any(feature = "redis", feature = "postgres", feature = "mysql"))]
async fn counts_on(
    backend: &session_conformance::provision::Backend,
    driver: &str,
    url_var: &str,
    store: &str,
) {
    let Some(endpoint) = backend.shared_or_skip().await else {
        return;
    };
    let env = [("SESSION_DRIVER", driver), (url_var, endpoint.url.as_str())];
    // A database may still be finishing its first start; the store connects once it answers.
    let settings = settings(&env);
    let sessions = session_conformance::provision::retry(
        "connecting",
        std::time::Duration::from_secs(60),
        || Sessions::from_settings(&settings),
    )
    .await
    .unwrap();
    assert_eq!(sessions.store().unwrap().name(), store);
    counts(&sessions).await;
    sessions.shutdown().await;
    drop(endpoint);
    let _ = tokio::task::spawn(async { session_conformance::provision::shutdown() }).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread")]
async fn the_redis_driver_connects_to_the_url_in_the_settings() {
    use session_conformance::provision::REDIS;
    counts_on(&REDIS, "redis", "SESSION_REDIS_URL", "redis").await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread")]
async fn the_redis_driver_runs_on_a_cluster_the_settings_name_with_replica_acks() {
    use session_conformance::provision;
    let Some(cluster) = provision::redis_cluster_or_skip().await else {
        return;
    };
    let env = [
        ("SESSION_DRIVER", "redis"),
        ("SESSION_REDIS_CLUSTER", cluster.url.as_str()),
        ("SESSION_REDIS_REPLICA_ACKS", "1"),
        ("SESSION_REDIS_ACK_TIMEOUT", "500ms"),
    ];
    let sessions = Sessions::from_settings(&settings(&env)).await.unwrap();
    assert_eq!(sessions.store().unwrap().name(), "redis");
    counts(&sessions).await;
    sessions.shutdown().await;
    // Asking for more replicas than each primary has: every write fails, and says why.
    let env = [
        ("SESSION_DRIVER", "redis"),
        ("SESSION_REDIS_CLUSTER", cluster.url.as_str()),
        ("SESSION_REDIS_REPLICA_ACKS", "3"),
        ("SESSION_REDIS_ACK_TIMEOUT", "50ms"),
    ];
    let store = sessions::store(&settings(&env)).await.unwrap();
    let record = sessions::Record::new(
        sessions::SessionKey::random(),
        sessions::chrono::Utc::now() + sessions::chrono::Duration::minutes(5),
    );
    let err = store.create(&record).await.unwrap_err();
    assert!(err.to_string().contains("of the 3 replicas"), "{err}");
    drop(cluster);
    let _ = tokio::task::spawn(async { provision::shutdown() }).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_url_connects_and_makes_the_table() {
    use session_conformance::provision::POSTGRES;
    counts_on(&POSTGRES, "database", "SESSION_DATABASE_URL", "postgres").await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread")]
async fn a_mysql_url_connects_and_makes_the_table() {
    use session_conformance::provision::MYSQL;
    counts_on(&MYSQL, "database", "SESSION_DATABASE_URL", "mysql").await;
}

/// The DynamoDB driver's client comes from the standard AWS configuration (environment,
/// profile, instance role). The test gives it credentials and a region through a child
/// process's environment, so nothing looks further than the local emulator.
#[cfg(feature = "dynamodb")]
#[test]
fn a_local_dynamodb_endpoint_gets_its_table() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(endpoint) =
        runtime.block_on(session_conformance::provision::DYNAMODB.shared_or_skip())
    else {
        return;
    };
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["dynamodb_child", "--exact", "--ignored", "--nocapture"])
        .env("SESSIONS_TEST_DYNAMODB_ENDPOINT", &endpoint.url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .status()
        .unwrap();
    // The container goes with the last handle, from a worker of the runtime (dropping it
    // needs one), whether or not another test has released the shared endpoints already.
    let released = runtime.spawn(async move {
        drop(endpoint);
        session_conformance::provision::shutdown();
    });
    let _ = runtime.block_on(released);
    assert!(status.success(), "the child test failed");
}

/// Run by [`a_local_dynamodb_endpoint_gets_its_table`] with the environment it needs.
#[cfg(feature = "dynamodb")]
#[tokio::test]
#[ignore = "run as a child process by a_local_dynamodb_endpoint_gets_its_table"]
async fn dynamodb_child() {
    let endpoint = std::env::var("SESSIONS_TEST_DYNAMODB_ENDPOINT").expect("the endpoint");
    let table = format!("umbrella{}", std::process::id());
    let env = [
        ("SESSION_DRIVER", "dynamodb"),
        ("SESSION_DYNAMODB_ENDPOINT", endpoint.as_str()),
        ("SESSION_DYNAMODB_TABLE", table.as_str()),
    ];
    let sessions = Sessions::from_settings(&settings(&env)).await.unwrap();
    assert_eq!(sessions.store().unwrap().name(), "dynamodb");
    counts(&sessions).await;
    sessions.shutdown().await;
}
