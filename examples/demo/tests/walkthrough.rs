//! The demo walked through over real HTTP with a cookie jar, as a browser would.

use std::sync::Arc;

use reqwest::StatusCode;
use sessions::{MemoryStore, SessionStore, Settings};

/// Serves the demo on a free loopback port and returns its base URL and store.
async fn serve() -> (String, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let settings = Settings::from_sources(None, [("SESSION_SECURE_COOKIE", "false")]).unwrap();
    let layer = settings.layer(store.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, session_demo::app(layer)).await });
    (format!("http://{addr}"), store)
}

/// The CSRF token of the first form in `html`.
fn csrf_token(html: &str) -> String {
    let start = html
        .find("name=\"_token\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in {html}"))
        + "name=\"_token\" value=\"".len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// Loads the page holding the form (`url`, or `/` for logout), then posts `form` with the
/// page's CSRF token to `url`, as a browser submitting the form would; follows the redirect,
/// and returns the final page.
async fn post(client: &reqwest::Client, url: String, form: &[(&str, &str)]) -> String {
    let from = match url.strip_suffix("/logout") {
        Some(base) => format!("{base}/"),
        None => url.clone(),
    };
    let token = csrf_token(&page(client, from).await);
    let mut fields = form.to_vec();
    fields.push(("_token", &token));
    let response = client.post(url).form(&fields).send().await.unwrap();
    response.text().await.unwrap()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn page(client: &reqwest::Client, url: String) -> String {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test]
async fn visit_counter_counts_per_browser() {
    let (base, _) = serve().await;
    let (alice, bob) = (browser(), browser());
    assert!(
        page(&alice, format!("{base}/"))
            .await
            .contains("id=\"visits\">1</p>")
    );
    assert!(
        page(&alice, format!("{base}/"))
            .await
            .contains("id=\"visits\">2</p>")
    );
    assert!(
        page(&bob, format!("{base}/"))
            .await
            .contains("id=\"visits\">1</p>")
    );
    assert!(
        page(&alice, format!("{base}/"))
            .await
            .contains("id=\"visits\">3</p>")
    );
}

#[tokio::test]
async fn failed_login_brings_back_errors_and_the_name_but_never_the_password() {
    let (base, _) = serve().await;
    let client = browser();
    let html = post(
        &client,
        format!("{base}/login"),
        &[("username", "ada <script>"), ("password", "wrong")],
    )
    .await;
    assert!(html.contains("That password is not right."), "{html}");
    assert!(
        html.contains("value=\"ada &lt;script&gt;\""),
        "old input, escaped: {html}"
    );
    assert!(!html.contains("wrong"), "the password came back: {html}");

    // Flash lasts one request: a reload shows a clean form.
    let html = page(&client, format!("{base}/login")).await;
    assert!(!html.contains("That password is not right."));
    assert!(html.contains("value=\"\""));
}

#[tokio::test]
async fn login_regenerates_the_token_and_logout_ends_the_session() {
    let (base, store) = serve().await;
    let client = browser();
    page(&client, format!("{base}/")).await;
    assert_eq!(store.len(), 1);

    let html = post(
        &client,
        format!("{base}/login"),
        &[
            ("username", "ada"),
            ("password", session_demo::DEMO_PASSWORD),
        ],
    )
    .await;
    assert!(html.contains("Welcome, ada!"), "{html}");
    assert!(
        html.contains("Signed in as <strong id=\"user\">ada</strong>"),
        "{html}"
    );
    assert!(
        html.contains("id=\"visits\">2</p>"),
        "data kept across regenerate: {html}"
    );
    assert_eq!(
        store.len(),
        1,
        "the pre-login record was replaced, not kept"
    );
    assert_eq!(store.list_by_owner("ada").await.unwrap().len(), 1);

    let html = page(&client, format!("{base}/")).await;
    assert!(
        !html.contains("Welcome, ada!"),
        "the welcome flash showed twice"
    );

    let html = post(&client, format!("{base}/logout"), &[]).await;
    assert!(html.contains("You have been logged out."), "{html}");
    assert!(html.contains("Log in"), "{html}");
    assert!(store.list_by_owner("ada").await.unwrap().is_empty());
}

#[tokio::test]
async fn profile_form_round_trips_errors_old_input_and_a_saved_message() {
    let (base, _) = serve().await;
    let client = browser();
    post(
        &client,
        format!("{base}/login"),
        &[
            ("username", "ada"),
            ("password", session_demo::DEMO_PASSWORD),
        ],
    )
    .await;

    let html = post(
        &client,
        format!("{base}/profile"),
        &[("name", "Ada Lovelace"), ("email", "not-an-address")],
    )
    .await;
    assert!(html.contains("Enter an email address"), "{html}");
    assert!(html.contains("value=\"Ada Lovelace\""), "{html}");
    assert!(html.contains("value=\"not-an-address\""), "{html}");

    let html = post(
        &client,
        format!("{base}/profile"),
        &[("name", "Ada Lovelace"), ("email", "ada@example.com")],
    )
    .await;
    assert!(html.contains("Profile saved!"), "{html}");
    assert!(!html.contains("class=\"error\""), "{html}");
    let html = page(&client, format!("{base}/profile")).await;
    assert!(
        html.contains("value=\"ada@example.com\""),
        "saved profile shown: {html}"
    );
    assert!(!html.contains("Profile saved!"));
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused() {
    let (base, store) = serve().await;
    let client = browser();
    page(&client, format!("{base}/login")).await;
    let response = client
        .post(format!("{base}/login"))
        .form(&[
            ("username", "ada"),
            ("password", session_demo::DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        store.list_by_owner("ada").await.unwrap().is_empty(),
        "logged in anyway"
    );
}

#[tokio::test]
async fn remember_me_keeps_the_cookie_for_thirty_days() {
    let (base, _) = serve().await;
    // A signed-in visitor is sent home from the login page, so each login is a new browser.
    let fresh = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let max_age = |response: &reqwest::Response| {
        response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.split(';')
                    .find_map(|a| a.trim().strip_prefix("Max-Age="))
                    .and_then(|n| n.parse::<u64>().ok())
            })
    };
    for (remember, expected) in [(false, 7200), (true, session_demo::REMEMBER_FOR.as_secs())] {
        let client = fresh();
        let token = csrf_token(&page(&client, format!("{base}/login")).await);
        let mut form = vec![
            ("username", "ada"),
            ("password", session_demo::DEMO_PASSWORD),
            ("_token", token.as_str()),
        ];
        if remember {
            form.push(("remember", "on"));
        }
        let response = client
            .post(format!("{base}/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let age = max_age(&response).expect("the login set a cookie");
        assert!(
            (expected - 5..=expected).contains(&age),
            "remember = {remember}: Max-Age {age}, expected about {expected}"
        );
    }
}

#[tokio::test]
async fn sessions_survive_a_restart_on_the_embedded_sqlite_store() {
    let dir = std::env::temp_dir().join(format!("session-demo-{}", std::process::id()));
    let url = format!("sqlite://{}/sessions.db", dir.display());
    // The demo's own settings file, with the database moved to a scratch directory.
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/session.toml")).unwrap();
    let settings =
        Settings::from_sources(Some(&file), [("SESSION_DATABASE_URL", url.as_str())]).unwrap();
    assert_eq!(settings.driver, sessions::Driver::Database);
    let client = browser();
    for expected in ["1", "2"] {
        // A fresh server each time, as after a restart; only the directory carries over.
        let store = sessions::store(&settings).await.unwrap();
        let layer = settings.layer(store).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server =
            tokio::spawn(async move { axum::serve(listener, session_demo::app(layer)).await });
        let html = page(&client, format!("http://{addr}/")).await;
        assert!(
            html.contains(&format!("id=\"visits\">{expected}</p>")),
            "{html}"
        );
        server.abort();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_demo_runs_on_redis_when_the_environment_says_so() {
    let Some(endpoint) = session_conformance::provision::REDIS.shared_or_skip().await else {
        return;
    };
    let settings = Settings::from_sources(
        None,
        [
            ("SESSION_SECURE_COOKIE", "false"),
            ("SESSION_DRIVER", "redis"),
            ("SESSION_REDIS_URL", endpoint.url.as_str()),
        ],
    )
    .unwrap();
    let store = sessions::store(&settings).await.unwrap();
    assert_eq!(store.name(), "redis");
    let layer = settings.layer(store).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, session_demo::app(layer)).await });
    let client = browser();
    page(&client, format!("http://{addr}/")).await;
    let html = page(&client, format!("http://{addr}/")).await;
    assert!(html.contains("id=\"visits\">2</p>"), "{html}");
    drop(endpoint);
    let _ = tokio::task::spawn(async { session_conformance::provision::shutdown() }).await;
}
