//! The `sessions` binary run as an operator runs it, against real stores: file and SQLite on
//! disk, Redis and PostgreSQL in containers.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use futures::stream::{self, StreamExt, TryStreamExt};
use http::{Request, header};
use http_body_util::BodyExt;
use serde_json::Value;
use session_conformance::provision::{POSTGRES, REDIS};
use sessions::chrono::{Duration, Utc};
use sessions::{Record, Session, SessionKey, SessionStore, Settings};
use tower::ServiceExt;

/// Sessions made for each migration.
const MANY: usize = 10_000;

/// What one run of the binary said.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs `sessions ARGS` with no settings of the environment's own.
fn sessions(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_sessions"))
        .args(args)
        .env_remove("SESSION_CONFIG")
        .env_remove("SESSION_DRIVER")
        .output()
        .expect("the sessions binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `sessions ARGS --json`, expecting success, and returns its JSON.
fn ok(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let run = sessions(&all);
    assert_eq!(run.code, 0, "sessions {args:?}: {}", run.stderr);
    run.json()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sessions-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The store a URL names, as the binary opens it.
async fn store(url: &str) -> Arc<dyn SessionStore> {
    let settings = settings_for(url);
    sessions::store(&settings).await.unwrap()
}

fn settings_for(url: &str) -> Settings {
    let (driver, key, value) = match url.split_once(':').unwrap().0 {
        "redis" => ("redis", "SESSION_REDIS_URL", url.to_owned()),
        "file" => (
            "file",
            "SESSION_FILES_PATH",
            url.trim_start_matches("file://").to_owned(),
        ),
        _ => ("database", "SESSION_DATABASE_URL", url.to_owned()),
    };
    Settings::from_sources(
        None,
        [
            ("SESSION_DRIVER", driver),
            (key, value.as_str()),
            ("SESSION_SECURE_COOKIE", "false"),
        ],
    )
    .unwrap()
}

/// `n` live records in `store`, `owned` of them owned by `owner`.
async fn fill(store: &Arc<dyn SessionStore>, n: usize, owner: &str, owned: usize) {
    stream::iter(0..n)
        .map(|i| {
            let store = store.clone();
            let owner = (i < owned).then(|| owner.to_owned());
            async move {
                let mut record = Record::new(SessionKey::random(), Utc::now() + Duration::hours(2));
                record.owner = owner;
                record.insert("n", i).unwrap();
                store.create(&record).await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
}

/// A site that counts visits and signs the visitor in as `ada`.
fn site(url: &str, store: Arc<dyn SessionStore>) -> Router {
    let layer = settings_for(url).layer(store).unwrap();
    Router::new()
        .route(
            "/",
            get(|session: Session| async move {
                let n = session.increment("visits", 1).await.unwrap();
                session.set_owner(Some("ada")).await.unwrap();
                n.to_string()
            }),
        )
        .layer(layer)
}

/// One visit with `cookie`; returns the page and the cookie the site set.
async fn visit(app: Router, cookie: Option<&str>) -> (String, Option<String>) {
    let mut request = Request::get("/");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let set = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (String::from_utf8(body.to_vec()).unwrap(), set)
}

/// Migrates `MANY` sessions and one a browser holds from `from` to `to`, then checks the
/// browser's session goes on at the new store, and that a second run copies nothing.
async fn migrate_and_keep_the_browser(from: &str, to: &str) {
    let source = store(from).await;
    fill(&source, MANY, "nobody", 0).await;
    let (page, cookie) = visit(site(from, source.clone()), None).await;
    assert_eq!(page, "1");
    let cookie = cookie.expect("the first visit set a cookie");

    let dry = ok(&["migrate", "--from", from, "--to", to, "--dry-run"]);
    assert_eq!(dry["copied"], MANY as u64 + 1, "{dry}");
    let started = std::time::Instant::now();
    let done = ok(&["migrate", "--from", from, "--to", to, "--batch", "700"]);
    // For the record, not a check: how long the copy took.
    eprintln!(
        "migrated {} sessions from {} to {} in {:?}",
        MANY + 1,
        from.split(':').next().unwrap_or(""),
        to.split(':').next().unwrap_or(""),
        started.elapsed()
    );
    assert_eq!(done["copied"], MANY as u64 + 1, "{done}");
    assert_eq!(done["already_there"], 0, "{done}");

    let target = store(to).await;
    let (page, _) = visit(site(to, target.clone()), Some(&cookie)).await;
    assert_eq!(page, "2", "the session made before the migration goes on");

    let again = ok(&["migrate", "--from", from, "--to", to]);
    assert_eq!(again["copied"], 0, "a second run copied again: {again}");
    assert_eq!(again["already_there"], MANY as u64 + 1, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_sessions_move_from_files_to_redis_and_nobody_is_logged_out() {
    let Some(redis) = REDIS.shared_or_skip().await else {
        return;
    };
    let dir = scratch("files");
    let from = format!("file://{}", dir.display());
    // A database of its own, so counts are this test's.
    let to = redis_db(&redis.url, 3);
    let before = ok(&["--store", &to, "count"])["count"].as_u64().unwrap();
    migrate_and_keep_the_browser(&from, &to).await;
    let after = ok(&["--store", &to, "count"])["count"].as_u64().unwrap();
    assert_eq!(
        after - before,
        MANY as u64 + 1,
        "count agrees with what was made"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    drop(redis);
    let _ = tokio::task::spawn(async { session_conformance::provision::shutdown() }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_sessions_move_from_sqlite_to_postgres_and_nobody_is_logged_out() {
    let Some(postgres) = POSTGRES.shared_or_skip().await else {
        return;
    };
    let dir = scratch("sqlite");
    let from = format!("sqlite://{}/sessions.db", dir.display());
    migrate_and_keep_the_browser(&from, &postgres.url).await;
    std::fs::remove_dir_all(&dir).unwrap();
    drop(postgres);
    let _ = tokio::task::spawn(async { session_conformance::provision::shutdown() }).await;
}

/// `url` with its database number set to `db`.
fn redis_db(url: &str, db: u8) -> String {
    let base = url.trim_end_matches('/');
    let base = match base.rsplit_once('/') {
        Some((head, tail)) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => base,
    };
    format!("{base}/{db}")
}

#[tokio::test(flavor = "multi_thread")]
async fn count_list_show_and_revoke_agree_with_what_was_made() {
    let Some(redis) = REDIS.shared_or_skip().await else {
        return;
    };
    let url = redis_db(&redis.url, 4);
    let store = store(&url).await;
    let owner = format!("ada-{}", &SessionKey::random().as_str()[..8]);
    let before = ok(&["--store", &url, "count"])["count"].as_u64().unwrap();
    fill(&store, 12, &owner, 5).await;
    assert_eq!(
        ok(&["--store", &url, "count"])["count"].as_u64().unwrap() - before,
        12
    );
    assert_eq!(
        ok(&["--store", &url, "count", "--owner", &owner])["count"],
        5
    );

    // A session a browser holds, with its token.
    let (_, cookie) = visit(site(&url, store.clone()), None).await;
    let cookie = cookie.unwrap();
    let token = cookie.split_once('=').unwrap().1.to_owned();
    let shown = ok(&["--store", &url, "show", &token]);
    assert_eq!(shown["data"]["visits"], 1, "{shown}");
    assert_eq!(shown["owner"], "ada", "{shown}");

    let listed = ok(&["--store", &url, "list", "--owner", &owner]);
    let rows = listed["sessions"].as_array().unwrap();
    assert_eq!(rows.len(), 5, "{listed}");
    for row in rows {
        for field in ["created", "last_active", "expires"] {
            assert!(row[field].is_string(), "{row}");
        }
    }
    let human = sessions(&["--store", &url, "list", "--owner", "ada"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(
        human.stdout.contains("live sessions of ada") && !human.stdout.contains(&token),
        "a listing shows no token: {}",
        human.stdout
    );

    assert_eq!(
        ok(&["--store", &url, "revoke", "--owner", &owner])["revoked"],
        5
    );
    assert_eq!(
        ok(&["--store", &url, "count", "--owner", &owner])["count"],
        0
    );
    assert_eq!(
        ok(&["--store", &url, "count"])["count"].as_u64().unwrap() - before,
        8,
        "the other sessions are still there"
    );

    assert_eq!(ok(&["--store", &url, "revoke", &token])["revoked"], 1);
    let gone = sessions(&["--store", &url, "show", &token]);
    assert_eq!(
        gone.code, 1,
        "a revoked session is not found: {}",
        gone.stderr
    );
    assert_eq!(sessions(&["--store", &url, "revoke", &token]).code, 1);
    let (page, _) = visit(site(&url, store.clone()), Some(&cookie)).await;
    assert_eq!(page, "1", "the revoked browser starts over");

    let swept = sessions(&["--store", &url, "sweep"]);
    assert_eq!(swept.code, 0, "{}", swept.stderr);
    assert!(
        swept.stdout.contains("expires sessions by itself"),
        "{}",
        swept.stdout
    );
    drop(redis);
    let _ = tokio::task::spawn(async { session_conformance::provision::shutdown() }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_cluster_is_counted_walked_and_revoked() {
    use session_conformance::provision;
    let Some(cluster) = provision::redis_cluster_or_skip().await else {
        return;
    };
    let hosts: Vec<String> = provision::cluster_nodes(&cluster.url)
        .iter()
        .map(|u| {
            u.trim_start_matches("redis://")
                .trim_end_matches('/')
                .to_owned()
        })
        .collect();
    let url = format!("redis-cluster://{}", hosts.join(","));
    let settings = Settings::from_sources(
        None,
        [
            ("SESSION_DRIVER", "redis"),
            ("SESSION_REDIS_CLUSTER", cluster.url.as_str()),
        ],
    )
    .unwrap();
    let store = sessions::store(&settings).await.unwrap();
    let owner = format!("cy-{}", &SessionKey::random().as_str()[..8]);
    let before = ok(&["--store", &url, "count"])["count"].as_u64().unwrap();
    fill(&store, 40, &owner, 30).await;
    assert_eq!(
        ok(&["--store", &url, "count"])["count"].as_u64().unwrap() - before,
        40,
        "a walk over every slot finds every session"
    );
    assert_eq!(
        ok(&["--store", &url, "count", "--owner", &owner])["count"],
        30
    );
    assert_eq!(
        ok(&["--store", &url, "revoke", "--owner", &owner])["revoked"],
        30
    );
    assert_eq!(
        ok(&["--store", &url, "count", "--owner", &owner])["count"],
        0
    );
    drop(cluster);
    let _ = tokio::task::spawn(async { provision::shutdown() }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_store_without_an_owner_index_is_still_counted_revoked_and_swept() {
    let dir = scratch("owners");
    let url = format!("file://{}", dir.display());
    let store = store(&url).await;
    fill(&store, 9, "bob", 4).await;
    let mut expired = Record::new(
        SessionKey::random(),
        Utc::now() + Duration::milliseconds(50),
    );
    expired.owner = Some("bob".into());
    store.create(&expired).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    assert_eq!(ok(&["--store", &url, "count"])["count"], 9);
    assert_eq!(
        ok(&["--store", &url, "count", "--owner", "bob"])["count"],
        4
    );
    assert_eq!(ok(&["--store", &url, "sweep"])["swept"], 1);
    assert_eq!(
        ok(&["--store", &url, "revoke", "--owner", "bob"])["revoked"],
        4
    );
    assert_eq!(ok(&["--store", &url, "count"])["count"], 5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_url_it_works_on_the_store_the_application_settings_name() {
    let dir = scratch("settings");
    let store = store(&format!("file://{}", dir.display())).await;
    fill(&store, 7, "cy", 2).await;
    let file = dir.join("session.toml");
    std::fs::write(
        &file,
        format!(
            "driver = \"file\"\nfiles_path = {:?}\n",
            dir.display().to_string()
        ),
    )
    .unwrap();
    let file_arg = file.display().to_string();
    assert_eq!(ok(&["--config", &file_arg, "count"])["count"], 7);
    // SESSION_CONFIG names the file as it does for applications; SESSION_* variables win.
    let output = Command::new(env!("CARGO_BIN_EXE_sessions"))
        .args(["count", "--owner", "cy", "--json"])
        .env("SESSION_CONFIG", &file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let counted: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(counted["count"], 2);
    let output = Command::new(env!("CARGO_BIN_EXE_sessions"))
        .args(["count"])
        .env("SESSION_CONFIG", &file)
        .env("SESSION_DRIVER", "redis")
        .env("SESSION_REDIS_URL", "redis://127.0.0.1:1/")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "the variables win over the file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_migration_resumes_where_its_file_says() {
    let dir = scratch("resume");
    let from = format!("file://{}/from", dir.display());
    let to = format!("sqlite://{}/to.db", dir.display());
    let source = store(&from).await;
    fill(&source, 50, "x", 0).await;
    // The first two pages of 10 were copied before the interruption.
    let first = source.walk(None, 10).await.unwrap();
    let second = source.walk(first.next.as_ref(), 10).await.unwrap();
    let target = store(&to).await;
    for record in first.records.iter().chain(&second.records) {
        target.create(record).await.unwrap();
    }
    let resume = dir.join("resume.json");
    std::fs::write(
        &resume,
        serde_json::json!({
            "from": from, "to": to,
            "cursor": second.next.as_ref().unwrap().as_str(),
            "copied": 20, "existing": 0,
        })
        .to_string(),
    )
    .unwrap();
    let resume_arg = resume.display().to_string();
    let done = ok(&[
        "migrate",
        "--from",
        &from,
        "--to",
        &to,
        "--batch",
        "10",
        "--resume",
        &resume_arg,
    ]);
    assert_eq!(done["resumed"], true, "{done}");
    assert_eq!(done["copied"], 30, "only the rest is copied: {done}");
    assert_eq!(done["copied_in_all"], 50, "{done}");
    assert!(
        !resume.exists(),
        "the resume file is removed when the copy is complete"
    );
    assert_eq!(ok(&["--store", &to, "count"])["count"], 50);

    // A resume file of another migration is refused.
    std::fs::write(
        &resume,
        r#"{"from":"file:///elsewhere","to":"redis://x/","cursor":null,"copied":0,"existing":0}"#,
    )
    .unwrap();
    let refused = sessions(&[
        "migrate",
        "--from",
        &from,
        "--to",
        &to,
        "--resume",
        &resume_arg,
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("not of this one"),
        "{}",
        refused.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_gets_a_clear_error_and_its_exit_code() {
    for (args, code, says) in [
        (
            vec!["--store", "ftp://x", "count"],
            2,
            "unknown store scheme",
        ),
        (vec!["count"], 2, "memory driver"),
        (
            vec!["--store", "redis://127.0.0.1:1/", "count"],
            3,
            "cannot reach",
        ),
        (
            vec!["--store", "file:///tmp", "show", "garbage"],
            2,
            "not a session token",
        ),
        (vec!["--store", "file:///tmp", "revoke"], 2, ""),
        (
            vec!["migrate", "--from", "file:///a", "--to", "file:///a"],
            2,
            "same store",
        ),
        (
            vec!["--config", "/nonexistent.toml", "count"],
            2,
            "does not exist",
        ),
    ] {
        let run = sessions(&args);
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn keygen_prints_a_key_the_cookie_driver_reads() {
    let key = ok(&["keygen"])["key"].as_str().unwrap().to_owned();
    let settings = Settings::from_sources(
        None,
        [
            ("SESSION_DRIVER", "cookie"),
            ("SESSION_COOKIE_KEYS", key.as_str()),
        ],
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(sessions::Sessions::from_settings(&settings))
        .expect("the cookie driver takes the key");
    let human = sessions(&["keygen"]);
    assert!(
        human.stdout.starts_with("SESSION_COOKIE_KEYS="),
        "{}",
        human.stdout
    );
    assert_ne!(ok(&["keygen"])["key"], key.as_str(), "keys are fresh");
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in [
        "count", "list", "show", "revoke", "sweep", "migrate", "keygen",
    ] {
        let run = sessions(&[sub, "--help"]);
        assert_eq!(run.code, 0);
        assert!(run.stdout.contains("Example"), "{sub}: {}", run.stdout);
    }
}
