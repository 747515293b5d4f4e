//! The demo site: log in and out (with a regenerated token, and "remember me"), a visit
//! counter, a profile form whose validation errors and old input come back through flash,
//! the list of your signed-in devices with "log out other devices", and CSRF protection on
//! every form. Pages are minijinja templates (`templates/`) that read the session themselves
//! through `sessions::templates`.
//!
//! `main.rs` serves it; the tests drive it over HTTP with a cookie jar, and in a real browser.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};
use sessions::chrono::{DateTime, Utc};
use sessions::templates::{RenderError, SessionTemplates, render};
use sessions::{
    CsrfLayer, Error, ErrorKind, Lifetime, Session, SessionLayer, SessionStore, SessionToken,
    Settings,
};

/// The password every demo account accepts.
pub const DEMO_PASSWORD: &str = "demo";

/// How long "remember me" keeps a session without a visit.
pub const REMEMBER_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Reads the demo's settings: `session.toml` beside the crate (if present), then `SESSION_*`
/// environment variables.
pub fn settings() -> Result<Settings, Error> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("session.toml");
    Settings::load(file.exists().then_some(file.as_path()))
}

/// What every handler shares: the templates and the store (for the list of devices).
struct Demo {
    templates: Environment<'static>,
    store: Option<Arc<dyn SessionStore>>,
}

type Shared = State<Arc<Demo>>;
type Page = Result<Response, RenderError>;

/// The site, with sessions from `layer`. Every form carries the session's CSRF token, and
/// every `POST` must present it.
pub fn app(layer: SessionLayer) -> Router {
    let store = layer.store().cloned();
    let demo = Demo {
        templates: templates(store.as_ref().map_or("cookie", |s| s.name())),
        store,
    };
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/profile", get(profile_form).post(save_profile))
        .route("/sessions", get(devices))
        .route("/sessions/others", post(log_out_other_devices))
        .with_state(Arc::new(demo))
        .layer(CsrfLayer::new())
        .layer(layer)
}

/// The site's templates, compiled in, with the session's functions.
fn templates(store: &str) -> Environment<'static> {
    let mut env = Environment::new();
    env.add_session_functions();
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("home.html", include_str!("../templates/home.html")),
        ("login.html", include_str!("../templates/login.html")),
        ("profile.html", include_str!("../templates/profile.html")),
        ("sessions.html", include_str!("../templates/sessions.html")),
    ] {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("the demo's template {name} does not compile: {e:#}"));
    }
    env.add_global("store", store.to_owned());
    env.add_global("password", DEMO_PASSWORD);
    env
}

async fn page(demo: &Demo, session: &Session, name: &str, context: Value) -> Page {
    Ok(Html(render(&demo.templates, name, session, context).await?).into_response())
}

/// Sends a visitor who is not signed in to the login page.
async fn signed_in(session: &Session) -> Result<Option<String>, Error> {
    let user = session.get::<String>("user").await?;
    if user.is_none() {
        session.flash("notice", "Log in first.").await?;
    }
    Ok(user)
}

async fn home(State(demo): Shared, session: Session) -> Page {
    session.increment("visits", 1).await?;
    page(
        &demo,
        &session,
        "home.html",
        context! { title => "Home", page => "home" },
    )
    .await
}

async fn login_form(State(demo): Shared, session: Session) -> Page {
    if session.has("user").await? {
        return Ok(Redirect::to("/").into_response());
    }
    page(
        &demo,
        &session,
        "login.html",
        context! { title => "Log in", page => "login" },
    )
    .await
}

#[derive(Deserialize, Serialize)]
struct Login {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// `on` when "remember me" is ticked.
    #[serde(default)]
    remember: Option<String>,
}

/// What the demo keeps about the device a session was signed in on.
#[derive(Deserialize, Serialize)]
struct Device {
    /// Tells this session's device from the others on the sessions page.
    id: String,
    agent: String,
    signed_in: DateTime<Utc>,
}

async fn login(session: Session, headers: HeaderMap, Form(form): Form<Login>) -> Page {
    let mut errors = HashMap::new();
    if form.username.trim().is_empty() {
        errors.insert("username", "Enter a user name.");
    } else if form.username.trim().len() > 64 {
        errors.insert("username", "Keep the user name under 64 characters.");
    }
    if form.password != DEMO_PASSWORD {
        errors.insert("password", "That password is not right.");
    }
    if !errors.is_empty() {
        session.flash_input(&form).await?;
        session.flash_errors(errors).await?;
        return Ok(Redirect::to("/login").into_response());
    }
    let name = form.username.trim();
    // A new token on login: whoever knew the old one learns nothing.
    session.regenerate().await?;
    session.insert("user", name).await?;
    session.set_owner(Some(name)).await?;
    let agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let device = Device {
        id: SessionToken::generate().as_str()[..16].to_owned(),
        agent: agent.chars().take(300).collect(),
        signed_in: Utc::now(),
    };
    session.insert("device", &device).await?;
    if form.remember.as_deref() == Some("on") {
        // The cookie outlives the browser, and the session a month without visits.
        session
            .set_lifetime(Some(Lifetime::Idle(REMEMBER_FOR)))
            .await?;
    }
    session.flash("status", format!("Welcome, {name}!")).await?;
    Ok(Redirect::to("/").into_response())
}

async fn logout(session: Session) -> Page {
    session.invalidate().await?;
    session.flash("status", "You have been logged out.").await?;
    Ok(Redirect::to("/").into_response())
}

#[derive(Deserialize, Serialize, Default)]
struct Profile {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

async fn profile_form(State(demo): Shared, session: Session) -> Page {
    if signed_in(&session).await?.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    let profile: Profile = session.get("profile").await?.unwrap_or_default();
    page(
        &demo,
        &session,
        "profile.html",
        context! { title => "Profile", page => "profile", profile => Serde(profile) },
    )
    .await
}

async fn save_profile(session: Session, Form(form): Form<Profile>) -> Page {
    if signed_in(&session).await?.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    let mut errors: HashMap<&str, &str> = HashMap::new();
    if form.name.trim().is_empty() {
        errors.insert("name", "Enter your name.");
    }
    if !form.email.contains('@') {
        errors.insert("email", "Enter an email address like ada@example.com.");
    }
    if !errors.is_empty() {
        session.flash_input(&form).await?;
        session.flash_errors(errors).await?;
        return Ok(Redirect::to("/profile").into_response());
    }
    session.insert("profile", &form).await?;
    session.flash("status", "Profile saved!").await?;
    Ok(Redirect::to("/profile").into_response())
}

/// One row of the sessions page.
#[derive(Serialize)]
struct Row {
    agent: String,
    signed_in: String,
    expires: String,
    current: bool,
}

/// The signed-in user's sessions, newest first, from the store's owner index; `None` when
/// the store keeps none (the cookie driver, the file store).
async fn sessions_of(
    store: Option<&Arc<dyn SessionStore>>,
    user: &str,
    mine: Option<&str>,
) -> Result<Option<Vec<(Device, DateTime<Utc>)>>, Error> {
    let Some(store) = store else { return Ok(None) };
    let keys = match store.list_by_owner(user).await {
        Ok(keys) => keys,
        Err(e) if e.kind() == ErrorKind::Unsupported => return Ok(None),
        Err(e) => return Err(e),
    };
    let now = Utc::now();
    let mut found = Vec::new();
    for key in keys {
        let Some(record) = store.load(&key).await? else {
            continue;
        };
        if record.is_expired_at(now) {
            continue;
        }
        // A session from before devices were recorded still shows, as an unknown device.
        let device = record
            .get::<Device>("device")
            .ok()
            .flatten()
            .unwrap_or(Device {
                id: String::new(),
                agent: String::new(),
                signed_in: record.created_at,
            });
        found.push((device, record.expires_at));
    }
    found.sort_by_key(|(d, _)| (Some(d.id.as_str()) != mine, std::cmp::Reverse(d.signed_in)));
    Ok(Some(found))
}

async fn devices(State(demo): Shared, session: Session) -> Page {
    let Some(user) = signed_in(&session).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let mine = session.get::<Device>("device").await?.map(|d| d.id);
    let rows = sessions_of(demo.store.as_ref(), &user, mine.as_deref())
        .await?
        .map(|found| {
            found
                .into_iter()
                .map(|(device, expires)| Row {
                    current: Some(&device.id) == mine.as_ref(),
                    agent: describe(&device.agent),
                    signed_in: when(device.signed_in),
                    expires: when(expires),
                })
                .collect::<Vec<_>>()
        });
    page(
        &demo,
        &session,
        "sessions.html",
        context! { title => "Your sessions", page => "sessions", devices => Serde(rows) },
    )
    .await
}

async fn log_out_other_devices(State(demo): Shared, session: Session) -> Page {
    let Some(user) = signed_in(&session).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let mine = session.get::<Device>("device").await?.map(|d| d.id);
    let mut ended = 0;
    if let Some(store) = &demo.store {
        for key in store.list_by_owner(&user).await? {
            let other = match store.load(&key).await? {
                Some(record) => record.get::<Device>("device").ok().flatten().map(|d| d.id) != mine,
                None => false,
            };
            if other {
                store.delete(&key).await?;
                ended += 1;
            }
        }
    }
    let message = match ended {
        0 => "No other device was signed in.".to_owned(),
        1 => "Logged out 1 other device.".to_owned(),
        n => format!("Logged out {n} other devices."),
    };
    session.flash("status", message).await?;
    Ok(Redirect::to("/sessions").into_response())
}

/// A short name for a browser from its `User-Agent`.
fn describe(agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Firefox/", "Firefox"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .into_iter()
    .find(|(mark, _)| agent.contains(mark))
    .map_or("A browser", |(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(mark, _)| agent.contains(mark))
    .map(|(_, name)| name);
    match system {
        Some(system) => format!("{browser} on {system}"),
        None => browser.to_owned(),
    }
}

fn when(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}
