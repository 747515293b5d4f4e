//! The application the request-level cases drive, and a client with a one-cookie jar.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use http_body_util::BodyExt;
use session_core::{Error, Lifetime, SessionStore, Value};
use session_tower::{CommitOn, CookieConfig, CsrfLayer, SessionLayer};
use session_tower::{Session, SessionConfig};
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::case::Fixture;
use crate::check::CaseError;
use crate::counting::CountingStore;

/// Lets a case hold a request between its load and its write.
#[derive(Default)]
pub(crate) struct Gate {
    pub(crate) loaded: Notify,
    pub(crate) go: Notify,
}

type Shared = Arc<Gate>;
type Reply = Result<Response, Error>;
/// The store as the test application sees it, with its call counts.
pub(crate) type Counted = CountingStore<Arc<dyn SessionStore>>;

/// The cookie's name in the test application.
pub(crate) const COOKIE: &str = "id";

/// Session settings for a case: a generous wait and retry budget, so racing requests on a
/// loaded machine all land.
pub(crate) fn config() -> SessionConfig {
    SessionConfig::default()
        .with_retry_budget(Duration::from_secs(20))
        .with_wait_timeout(Duration::from_secs(30))
}

/// The test application over the case's store, counting its calls; for a client-side suite,
/// over the layer's client-side mode (the counts then stay at zero: there is no store).
pub(crate) async fn app(
    fx: &Fixture,
    config: SessionConfig,
) -> Result<(Router, Counted, Shared), CaseError> {
    let counting = CountingStore::new(fx.store().await?);
    let layer = layer(fx, &counting, config).await?;
    let gate = Shared::default();
    Ok((router(layer, gate.clone()), counting, gate))
}

/// Two instances of the test application over one store, as two processes behind a load
/// balancer would be: each with its own layer (and so its own in-process queue), sharing the
/// store and the gate. `lock` makes both take the store's session lock.
pub(crate) async fn two_instances(
    fx: &Fixture,
    config: SessionConfig,
    lock: bool,
) -> Result<([Router; 2], Counted, Shared), CaseError> {
    let counting = CountingStore::new(fx.store().await?);
    let gate = Shared::default();
    let mut routers = Vec::new();
    for _ in 0..2 {
        let mut layer = layer(fx, &counting, config.clone()).await?;
        if lock {
            layer = layer.with_lock(fx.lock().await?);
        }
        routers.push(router(layer, gate.clone()));
    }
    let second = routers.pop().unwrap_or_else(|| unreachable!("two routers"));
    let first = routers.pop().unwrap_or_else(|| unreachable!("two routers"));
    Ok(([first, second], counting, gate))
}

async fn layer(
    fx: &Fixture,
    counting: &Counted,
    config: SessionConfig,
) -> Result<SessionLayer, CaseError> {
    let cookie = CookieConfig::default().with_name(COOKIE);
    match fx.client_storage().await? {
        None => SessionLayer::from_parts(
            Arc::new(counting.clone()),
            config,
            cookie,
            CommitOn::default(),
        ),
        Some(storage) => {
            SessionLayer::client_side_from_parts(storage, config, cookie, CommitOn::default())
        }
    }
    .map_err(CaseError::from)
}

fn router(layer: SessionLayer, gate: Shared) -> Router {
    let protected = Router::new()
        .route("/csrf/protected", post(|| async { "accepted" }))
        .layer(CsrfLayer::new());
    Router::new()
        .merge(protected)
        .route("/csrf/token", get(csrf_token))
        .route("/presence/{key}", get(presence))
        .route("/set-null/{key}", get(set_null))
        .route("/collection/write", get(collection_write))
        .route("/collection/read", get(collection_read))
        .route("/collection/replace", get(collection_replace))
        .route("/now-then-reflash/{key}/{value}", get(now_then_reflash))
        .route("/now-then-keep/{key}/{value}", get(now_then_keep))
        .route("/lifetime/remember", get(remember_me))
        .route("/lifetime/browser", get(browser_session))
        .route("/sign-in/{user}", get(sign_in))
        .route("/untouched", get(|| async { "untouched" }))
        .route("/get/{key}", get(get_value))
        .route("/set/{key}/{value}", get(set_value))
        .route("/incr", get(incr))
        .route("/rmw", get(read_modify_write))
        .route("/slow-read", get(slow_read))
        .route("/flash/{key}/{value}", get(flash))
        .route("/flash-many", get(flash_many))
        .route("/now/{key}/{value}", get(now))
        .route("/show/{key}", get(show))
        .route("/show-all", get(show_all))
        .route("/reflash", get(reflash))
        .route("/keep/{key}", get(keep))
        .route("/regenerate", get(regenerate))
        .route("/logout", get(logout))
        .route("/slow-write", get(slow_write))
        .route("/form", post(form))
        .route("/old/{field}", get(old))
        .route("/errors/{field}", get(errors))
        .route("/rendered", get(rendered))
        .with_state(gate)
        .layer(layer)
}

fn json(value: impl serde::Serialize) -> Response {
    Json(value).into_response()
}

async fn get_value(session: Session, Path(key): Path<String>) -> Reply {
    Ok(json(session.get_value(&key).await?))
}

async fn set_value(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    session.insert(&key, value).await?;
    Ok("set".into_response())
}

async fn incr(session: Session) -> Reply {
    Ok(json(session.increment("n", 1).await?))
}

async fn csrf_token(session: Session) -> Reply {
    Ok(json(session.csrf_token().await?))
}

async fn presence(session: Session, Path(key): Path<String>) -> Reply {
    Ok(json(serde_json::json!({
        "has": session.has(&key).await?,
        "exists": session.exists(&key).await?,
        "missing": session.missing(&key).await?,
    })))
}

async fn set_null(session: Session, Path(key): Path<String>) -> Reply {
    session.insert(&key, ()).await?;
    Ok("null set".into_response())
}

async fn collection_write(session: Session) -> Reply {
    session
        .update([("a", Value::from(1)), ("b", Value::Null)])
        .await?;
    session.push("list", 1).await?;
    session.push("list", 2).await?;
    Ok("written".into_response())
}

async fn collection_read(session: Session) -> Reply {
    let remembered: i64 = session.remember("r", || 5).await?;
    let remembered_again: i64 = session.remember("r", || 6).await?;
    Ok(json(serde_json::json!({
        "has_all_a": session.has_all(&["a"]).await?,
        "has_all_a_b": session.has_all(&["a", "b"]).await?,
        "has_any_b_a": session.has_any(&["b", "a"]).await?,
        "has_any_b_c": session.has_any(&["b", "c"]).await?,
        "only_a": session.only(&["a", "c"]).await?,
        "except": session.except(&["list", "a", "r"]).await?,
        "list": session.get_value("list").await?,
        "remembered": [remembered, remembered_again],
    })))
}

async fn collection_replace(session: Session) -> Reply {
    session.replace([("z", 1)]).await?;
    session.remove_many(&["z"]).await?;
    session.replace([("y", 2)]).await?;
    Ok(json(session.all().await?))
}

async fn now_then_reflash(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    session.now(&key, value).await?;
    session.reflash().await?;
    Ok("reflashed".into_response())
}

async fn now_then_keep(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    session.now(&key, value).await?;
    session.keep(&[&key]).await?;
    Ok("kept".into_response())
}

async fn remember_me(session: Session) -> Reply {
    session
        .set_lifetime(Some(Lifetime::Idle(REMEMBER_FOR)))
        .await?;
    session.insert("user", "ada").await?;
    Ok("remembered".into_response())
}

async fn browser_session(session: Session) -> Reply {
    session.set_lifetime(Some(Lifetime::BrowserSession)).await?;
    session.insert("user", "ada").await?;
    Ok("until the browser closes".into_response())
}

async fn sign_in(session: Session, Path(user): Path<String>) -> Reply {
    session.set_owner(Some(&user)).await?;
    session.insert("user", user).await?;
    Ok("signed in".into_response())
}

/// How long `/lifetime/remember` keeps a session: 30 days.
pub(crate) const REMEMBER_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// A counter the way most handlers write one: read, add one, write back; in between, a short
/// wait stands for the work a real handler does (a database query ...), which is when
/// another request can slip in.
async fn read_modify_write(session: Session) -> Reply {
    let n: i64 = session.get("n").await?.unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(2)).await;
    session.insert("n", n + 1).await?;
    Ok(json(n + 1))
}

/// Reads the session, then holds the request until the case lets it go.
async fn slow_read(session: Session, State(gate): State<Shared>) -> Reply {
    let value = session.get_value("x").await?;
    gate.loaded.notify_one();
    gate.go.notified().await;
    Ok(json(value))
}

async fn flash(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    session.flash(&key, value).await?;
    Ok(Redirect::to(&format!("/show/{key}")).into_response())
}

async fn flash_many(session: Session, Query(pairs): Query<HashMap<String, String>>) -> Reply {
    for (key, value) in pairs {
        session.flash(&key, value).await?;
    }
    Ok("flashed".into_response())
}

async fn now(session: Session, Path((key, value)): Path<(String, String)>) -> Reply {
    session.now(&key, value).await?;
    Ok(json(session.flash_get::<Value>(&key).await?))
}

async fn show(session: Session, Path(key): Path<String>) -> Reply {
    Ok(json(session.flash_get::<Value>(&key).await?))
}

async fn show_all(session: Session) -> Reply {
    Ok(json(session.flash_messages().await?))
}

async fn reflash(session: Session) -> Reply {
    session.reflash().await?;
    Ok("reflashed".into_response())
}

async fn keep(session: Session, Path(key): Path<String>) -> Reply {
    session.keep(&[&key]).await?;
    Ok("kept".into_response())
}

async fn regenerate(session: Session) -> Reply {
    session.regenerate().await?;
    Ok("regenerated".into_response())
}

async fn logout(session: Session) -> Reply {
    session.invalidate().await?;
    Ok("logged out".into_response())
}

async fn slow_write(session: Session, State(gate): State<Shared>) -> Reply {
    session.get_value("x").await?;
    gate.loaded.notify_one();
    gate.go.notified().await;
    session.insert("late", "write").await?;
    Ok("late write".into_response())
}

async fn form(session: Session, Form(input): Form<HashMap<String, String>>) -> Reply {
    session.flash_input(&input).await?;
    session
        .flash_errors(HashMap::from([("email", vec!["is already taken"])]))
        .await?;
    Ok(Redirect::to("/form").into_response())
}

async fn old(session: Session, Path(field): Path<String>) -> Reply {
    Ok(json(session.old::<Value>(&field).await?))
}

async fn errors(session: Session, Path(field): Path<String>) -> Reply {
    Ok(json(session.errors(&field).await?))
}

/// The template `/rendered` shows: a flash message, a session value, the flashed input and
/// errors of the form, and the CSRF field.
const PAGE: &str = r#"<p id=status>{{ flash("status") or "-" }}</p>
<p id=colour>{{ session.colour or "-" }}</p>
<input name=email value="{{ old("email", "-") }}">
<p id=errors>{{ errors("email")|join("|") }}</p>
<p id=invalid>{{ has_error("email") }}</p>
{{ csrf_field() }}"#;

async fn rendered(session: Session) -> Result<Response, session_minijinja::RenderError> {
    let mut env = minijinja::Environment::new();
    session_minijinja::add_session_functions(&mut env);
    env.add_template("page.html", PAGE)?;
    let html =
        session_minijinja::render(&env, "page.html", &session, minijinja::context! {}).await?;
    Ok(html.into_response())
}

/// One response, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    /// The `Set-Cookie` header for the session cookie, if any.
    pub(crate) fn set_cookie(&self) -> Option<&str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{COOKIE}=")))
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Result<Value, CaseError> {
        serde_json::from_str(&self.body)
            .map_err(|e| CaseError::new(format!("body {:?} is not JSON: {e}", self.body)))
    }
}

/// A browser-like client: it keeps the session cookie it is given.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) app: Router,
    pub(crate) cookie: Option<String>,
}

impl Client {
    pub(crate) fn new(app: Router) -> Self {
        Client { app, cookie: None }
    }

    /// The session token the jar holds.
    pub(crate) fn token(&self) -> Option<session_core::SessionToken> {
        self.cookie.as_deref().and_then(|c| c.parse().ok())
    }

    pub(crate) async fn get(&mut self, path: &str) -> Result<Answer, CaseError> {
        self.send(Request::get(path), Body::empty()).await
    }

    /// A `POST` with `headers`, and an empty body.
    pub(crate) async fn post_with(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Answer, CaseError> {
        let mut builder = Request::post(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder, Body::empty()).await
    }

    pub(crate) async fn post_form(&mut self, path: &str, form: &str) -> Result<Answer, CaseError> {
        let builder =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(builder, Body::from(form.to_owned())).await
    }

    async fn send(
        &mut self,
        mut builder: axum::http::request::Builder,
        body: Body,
    ) -> Result<Answer, CaseError> {
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, format!("{COOKIE}={cookie}"));
        }
        let request = builder
            .body(body)
            .map_err(|e| CaseError::new(format!("bad request: {e}")))?;
        let response =
            tokio::time::timeout(Duration::from_secs(60), self.app.clone().oneshot(request))
                .await
                .map_err(|_| CaseError::new("request timed out"))?
                .map_err(|e| CaseError::new(format!("request failed: {e}")))?;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| CaseError::new(format!("body failed: {e}")))?
            .to_bytes();
        let answer = Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        if let Some(set) = answer.set_cookie() {
            let value = set
                .split(';')
                .next()
                .and_then(|pair| pair.split_once('='))
                .map(|(_, v)| v.to_owned())
                .unwrap_or_default();
            self.cookie = (!value.is_empty() && !set.contains("Max-Age=0")).then_some(value);
        }
        Ok(answer)
    }
}
