//! The demo site: log in and out (with a regenerated token, and "remember me"), a visit
//! counter, a profile form whose validation errors and old input come back through flash,
//! flash messages, and CSRF protection on every form.
//!
//! `main.rs` serves it; the tests drive it over HTTP with a cookie jar.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use axum::Form;
use axum::Router;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sessions::{CsrfLayer, Error, Lifetime, Session, SessionLayer, Settings};

/// The password every demo account accepts.
pub const DEMO_PASSWORD: &str = "demo";

/// Reads the demo's settings: `session.toml` beside the crate (if present), then `SESSION_*`
/// environment variables.
pub fn settings() -> Result<Settings, Error> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("session.toml");
    Settings::load(file.exists().then_some(file.as_path()))
}

/// The site, with sessions from `layer`. Every form carries the session's CSRF token, and
/// every `POST` must present it.
pub fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/profile", get(profile_form).post(save_profile))
        .layer(CsrfLayer::new())
        .layer(layer)
}

/// How long "remember me" keeps a session without a visit.
pub const REMEMBER_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// The hidden form field carrying the session's CSRF token.
async fn csrf_field(session: &Session) -> Result<String, Error> {
    Ok(format!(
        "<input type=hidden name=_token value=\"{}\">",
        escape(&session.csrf_token().await?)
    ))
}

type Page = Result<Response, Error>;

async fn home(session: Session) -> Page {
    let visits = session.increment("visits", 1).await?;
    let user: Option<String> = session.get("user").await?;
    let who = match &user {
        Some(name) => format!(
            "<p>Signed in as <strong>{}</strong>.</p>\
             <form method=post action=/logout>{}<button>Log out</button></form>\
             <p><a href=/profile>Edit your profile</a></p>",
            escape(name),
            csrf_field(&session).await?
        ),
        None => "<p><a href=/login>Log in</a></p>".to_owned(),
    };
    let body = format!("<p>Visits in this session: <span id=visits>{visits}</span></p>{who}");
    page(&session, "Home", &body).await
}

async fn login_form(session: Session) -> Page {
    let old: String = session.old("username").await?.unwrap_or_default();
    let body = format!(
        "<form method=post action=/login>{}\
         <label>User name <input name=username value=\"{}\"></label>{}\
         <label>Password <input type=password name=password></label>{}\
         <label><input type=checkbox name=remember value=on> Remember me for 30 days</label>\
         <button>Log in</button></form><p>Any name works; the password is <code>{DEMO_PASSWORD}</code>.</p>",
        csrf_field(&session).await?,
        escape(&old),
        field_errors(&session, "username").await?,
        field_errors(&session, "password").await?,
    );
    page(&session, "Log in", &body).await
}

#[derive(Deserialize, serde::Serialize)]
struct Login {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// `on` when "remember me" is ticked.
    #[serde(default, skip_serializing)]
    remember: Option<String>,
}

async fn login(session: Session, Form(form): Form<Login>) -> Page {
    let mut errors = HashMap::new();
    if form.username.trim().is_empty() {
        errors.insert("username", "Enter a user name.");
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

#[derive(Deserialize, serde::Serialize, Default)]
struct Profile {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

async fn profile_form(session: Session) -> Page {
    if !session.has("user").await? {
        session.flash("status", "Log in first.").await?;
        return Ok(Redirect::to("/login").into_response());
    }
    let saved: Profile = session.get("profile").await?.unwrap_or_default();
    let name = session.old("name").await?.unwrap_or(saved.name);
    let email = session.old("email").await?.unwrap_or(saved.email);
    let body = format!(
        "<form method=post action=/profile>{}\
         <label>Name <input name=name value=\"{}\"></label>{}\
         <label>Email <input name=email value=\"{}\"></label>{}\
         <button>Save</button></form><p><a href=/>Home</a></p>",
        csrf_field(&session).await?,
        escape(&name),
        field_errors(&session, "name").await?,
        escape(&email),
        field_errors(&session, "email").await?,
    );
    page(&session, "Profile", &body).await
}

async fn save_profile(session: Session, Form(form): Form<Profile>) -> Page {
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

async fn field_errors(session: &Session, field: &str) -> Result<String, Error> {
    Ok(session
        .errors(field)
        .await?
        .iter()
        .map(|m| format!("<p class=error data-field={field}>{}</p>", escape(m)))
        .collect())
}

async fn page(session: &Session, title: &str, body: &str) -> Page {
    let status = match session.flash_get::<String>("status").await? {
        Some(message) => format!("<p class=status role=status>{}</p>", escape(&message)),
        None => String::new(),
    };
    Ok(Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:36em;margin:2em auto}}\
         label{{display:block;margin:.5em 0}}.error{{color:#b00}}.status{{background:#efe;padding:.5em}}</style>\
         </head><body><h1>{title}</h1>{status}{body}</body></html>"
    ))
    .into_response())
}

/// Escapes text for HTML content and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
