//! Real templates rendered through the session layer, driven with a cookie jar as a browser
//! drives a site: flash once, old input and errors once, the CSRF field the CSRF layer takes,
//! session values, and bad input to every function.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use minijinja::{Environment, context};
use session_core::{MemoryStore, SessionStore};
use session_minijinja::{RenderError, SessionContext, SessionTemplates, render};
use session_tower::{CsrfLayer, Session, SessionConfig, SessionLayer};
use tower::ServiceExt;

const LAYOUT: &str = r#"<title>{{ title }}</title>
{%- if flash("status") %}<p class="status">{{ flash("status") }}</p>{% endif %}
{% block body %}{% endblock %}"#;

const SIGNUP: &str = r#"{% extends "layout.html" %}{% block body -%}
<form method="post">{{ csrf_field() }}
<input name="email" value="{{ old("email", "") }}"{% if has_error("email") %} aria-invalid="true"{% endif %}>
{%- for message in errors("email") %}<p class="error">{{ message }}</p>{% endfor %}
<input name="age" value="{{ old("age", 18) }}">{% if error("age") %}<p class="error">{{ error("age") }}</p>{% endif %}
<input type="password" name="password" value="{{ old("password", "") }}">
</form>
<p id="who">{{ session.user or "guest" }} / {{ session.get("theme", "light") }} / {{ session.has("user") }}</p>
<p id="keys">{% for key in session %}{{ key }};{% endfor %}</p>
<p id="flashes">{% for key, value in flash_messages()|items %}{{ key }}={{ value }};{% endfor %}</p>
{%- endblock %}"#;

fn environment() -> Arc<Environment<'static>> {
    let mut env = Environment::new();
    env.add_session_functions();
    env.add_template("layout.html", LAYOUT).unwrap();
    env.add_template("signup.html", SIGNUP).unwrap();
    env.add_template("bare.html", "{{ flash('status') }}")
        .unwrap();
    env.add_template("broken.html", "{{ csrf_field(1, 2) }}")
        .unwrap();
    Arc::new(env)
}

async fn signup_page(
    State(env): State<Arc<Environment<'static>>>,
    session: Session,
) -> Result<Html<String>, RenderError> {
    Ok(Html(
        render(
            &env,
            "signup.html",
            &session,
            context! { title => "Sign up" },
        )
        .await?,
    ))
}

async fn signup(session: Session, Form(form): Form<HashMap<String, String>>) -> Response {
    let email = form.get("email").cloned().unwrap_or_default();
    if email.contains('@') {
        session.insert("user", email).await.unwrap();
        session.flash("status", "Welcome <aboard>!").await.unwrap();
    } else {
        session.flash_input(&form).await.unwrap();
        session
            .flash_errors(HashMap::from([
                ("email", vec!["Enter an email address.", "It needs an @."]),
                ("age", vec!["Too young."]),
            ]))
            .await
            .unwrap();
    }
    Redirect::to("/signup").into_response()
}

fn app(store: Arc<MemoryStore>) -> Router {
    let env = environment();
    let layer = SessionLayer::new(store).unwrap();
    Router::new()
        .route("/signup", get(signup_page).post(signup))
        .route(
            "/theme/{name}",
            get(
                |session: Session, axum::extract::Path(name): axum::extract::Path<String>| async move {
                    session.insert("theme", name).await.unwrap();
                    "ok"
                },
            ),
        )
        .route(
            "/render/{name}",
            get(
                |State(env): State<Arc<Environment<'static>>>,
                 session: Session,
                 axum::extract::Path(name): axum::extract::Path<String>| async move {
                    render(&env, &name, &session, context! {})
                        .await
                        .map(Html)
                },
            ),
        )
        .with_state(env)
        .layer(CsrfLayer::new())
        .layer(layer)
}

/// One browser: the app and the cookie it was last given.
struct Browser {
    app: Router,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    body: String,
    set_cookie: bool,
}

impl Browser {
    /// A browser with no cookie yet, on the app over `store`.
    fn new(store: Arc<MemoryStore>) -> Self {
        Browser {
            app: app(store),
            cookie: None,
        }
    }

    async fn send(&mut self, request: http::request::Builder, body: String) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header(header::COOKIE, cookie),
            None => request,
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(axum::body::Body::from(body)).unwrap())
            .await
            .unwrap();
        let set_cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        if let Some(cookie) = &set_cookie {
            self.cookie = Some(cookie.clone());
        }
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            body: String::from_utf8(body.to_vec()).unwrap(),
            set_cookie: set_cookie.is_some(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), String::new()).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send(
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
            body,
        )
        .await
    }
}

/// The value of the CSRF field in a rendered page.
fn csrf_token(html: &str) -> String {
    let marker = r#"<input type="hidden" name="_token" value=""#;
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn a_failed_form_comes_back_once_with_escaped_input_and_errors_but_no_password() {
    let mut browser = Browser::new(Arc::new(MemoryStore::new()));
    let page = browser.get("/signup").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(r#"value="18""#),
        "old() default: {}",
        page.body
    );
    let token = csrf_token(&page.body);

    let answer = browser
        .post(
            "/signup",
            &[
                ("email", "\"><script>alert(1)</script>"),
                ("age", "12"),
                ("password", "hunter2"),
                ("_token", &token),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);

    let page = browser.get("/signup").await;
    let body = &page.body;
    assert!(
        body.contains(r#"value="&quot;&gt;&lt;script&gt;alert(1)&lt;&#x2f;script&gt;""#),
        "old input, escaped: {body}"
    );
    assert!(!body.contains("<script>"), "unescaped input: {body}");
    assert!(body.contains(r#"value="12""#), "old(age): {body}");
    assert!(!body.contains("hunter2"), "the password came back: {body}");
    assert!(
        body.contains(r#" aria-invalid="true""#),
        "has_error: {body}"
    );
    assert!(
        body.contains(
            r#"<p class="error">Enter an email address.</p><p class="error">It needs an @.</p>"#
        ),
        "errors(): {body}"
    );
    assert!(
        body.contains(r#"<p class="error">Too young.</p>"#),
        "error(): {body}"
    );
    assert!(
        body.contains(r#"<p id="flashes"></p>"#),
        "form input and errors are not flash messages of their own: {body}"
    );

    let page = browser.get("/signup").await;
    assert!(
        !page.body.contains("class=\"error\""),
        "errors twice: {}",
        page.body
    );
    assert!(
        page.body.contains(r#"value="18""#),
        "old input twice: {}",
        page.body
    );
}

#[tokio::test]
async fn the_csrf_field_passes_the_csrf_layer_and_the_flash_shows_once() {
    let store = Arc::new(MemoryStore::new());
    let mut browser = Browser::new(store.clone());
    let token = csrf_token(&browser.get("/signup").await.body);
    let refused = browser
        .post(
            "/signup",
            &[("email", "ada@example.com"), ("_token", "forged")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let answer = browser
        .post(
            "/signup",
            &[("email", "ada@example.com"), ("_token", &token)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let page = browser.get("/signup").await;
    assert!(
        page.body
            .contains(r#"<p class="status">Welcome &lt;aboard&gt;!</p>"#),
        "flash, escaped: {}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<p id="flashes">status=Welcome &lt;aboard&gt;!;</p>"#),
        "flash_messages(): {}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<p id="who">ada@example.com / light / True</p>"#),
        "session values: {}",
        page.body
    );
    assert!(
        page.body.contains(r#"<p id="keys">user;</p>"#),
        "the CSRF token is not a session value: {}",
        page.body
    );
    assert_eq!(csrf_token(&page.body), token, "one token per session");
    let page = browser.get("/signup").await;
    assert!(!page.body.contains("Welcome"), "flash twice: {}", page.body);

    browser.get("/theme/dark").await;
    let page = browser.get("/signup").await;
    assert!(
        page.body
            .contains(r#"<p id="who">ada@example.com / dark / True</p>"#),
        "{}",
        page.body
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn rendering_changes_nothing_once_the_session_has_its_token() {
    let store = Arc::new(MemoryStore::new());
    let mut browser = Browser::new(store.clone());
    let first = browser.get("/signup").await;
    assert!(
        first.set_cookie,
        "the first render stores the new CSRF token"
    );
    let key = session_core::SessionToken::parse(
        browser
            .cookie
            .as_deref()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1,
    )
    .unwrap()
    .key();
    let version = store.load(&key).await.unwrap().unwrap().version;
    for _ in 0..3 {
        let page = browser.get("/signup").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.set_cookie, "a render re-sent the cookie");
    }
    assert_eq!(
        store.load(&key).await.unwrap().unwrap().version,
        version,
        "a render wrote the session"
    );
}

#[tokio::test]
async fn bad_calls_fail_with_a_message_and_a_500_never_a_panic() {
    let mut browser = Browser::new(Arc::new(MemoryStore::new()));
    let page = browser.get("/render/broken.html").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(page.body, "page failed to render");
    let page = browser.get("/render/missing.html").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);

    // Without the session context, every function says what it needs.
    let env = environment();
    for call in [
        "flash('x')",
        "flash_messages()",
        "old('x')",
        "errors('x')",
        "error('x')",
        "has_error('x')",
        "csrf_field()",
        "csrf_token()",
    ] {
        let err = env
            .render_str(&format!("{{{{ {call} }}}}"), context! {})
            .unwrap_err();
        let name = call.split('(').next().unwrap();
        assert!(
            format!("{err:#}").contains(&format!("{name}() needs the session")),
            "{call}: {err:#}"
        );
    }
    // A `session` that is not the session context is no context either.
    let err = env
        .render_str("{{ csrf_field() }}", context! { session => "forged" })
        .unwrap_err();
    assert!(format!("{err:#}").contains("needs the session"), "{err:#}");

    // Wrong arguments: a message, not a panic.
    let session = Session::new(
        Arc::new(MemoryStore::new()),
        Arc::new(SessionConfig::default()),
        None,
    );
    let captured = SessionContext::capture(&session).await.unwrap();
    for (template, expected) in [
        ("{{ old() }}", "old needs a key"),
        ("{{ old(1) }}", "old takes a key as a string"),
        ("{{ old('a', 'b', 'c') }}", "old takes a key and a default"),
        ("{{ session.get() }}", "session.get needs a key"),
        (
            "{{ session.has(none) }}",
            "session.has takes a key as a string",
        ),
        ("{{ session.nope() }}", "nope"),
        ("{{ errors() }}", "missing argument"),
    ] {
        let err = env
            .render_str(
                template,
                context! { session => captured.clone().into_value() },
            )
            .unwrap_err();
        assert!(format!("{err:#}").contains(expected), "{template}: {err:#}");
    }
    // Keys that are not there are none, not errors.
    let html = env
        .render_str(
            "{{ session.missing is undefined }} {{ flash('x') is none }} {{ old('x') is none }} {{ errors('x')|length }} {{ error('x') is none }} {{ has_error('x') }}",
            context! { session => captured.into_value() },
        )
        .unwrap();
    assert_eq!(html, "True True True 0 True False");
}

#[tokio::test]
async fn a_session_the_store_cannot_load_answers_as_the_layer_does() {
    /// A store whose backend is down: every call fails with a temporary error.
    #[derive(Debug)]
    struct Down;
    #[session_core::async_trait]
    impl SessionStore for Down {
        fn name(&self) -> &str {
            "down"
        }
        fn capabilities(&self) -> session_core::Capabilities {
            session_core::Capabilities::default()
        }
        async fn load(
            &self,
            _: &session_core::SessionKey,
        ) -> session_core::Result<Option<session_core::Record>> {
            Err(down())
        }
        async fn create(&self, _: &session_core::Record) -> session_core::Result<()> {
            Err(down())
        }
        async fn save(&self, _: &session_core::Record) -> session_core::Result<u64> {
            Err(down())
        }
        async fn touch(
            &self,
            _: &session_core::SessionKey,
            _: chrono::DateTime<chrono::Utc>,
        ) -> session_core::Result<()> {
            Err(down())
        }
        async fn delete(&self, _: &session_core::SessionKey) -> session_core::Result<()> {
            Err(down())
        }
        async fn sweep(&self) -> session_core::Result<u64> {
            Err(down())
        }
        async fn list_by_owner(
            &self,
            _: &str,
        ) -> session_core::Result<Vec<session_core::SessionKey>> {
            Err(down())
        }
        async fn delete_by_owner(&self, _: &str) -> session_core::Result<u64> {
            Err(down())
        }
        async fn walk(
            &self,
            _: Option<&session_core::WalkCursor>,
            _: usize,
        ) -> session_core::Result<session_core::WalkPage> {
            Err(down())
        }
    }
    fn down() -> session_core::Error {
        session_core::Error::new(
            session_core::ErrorKind::Backend,
            session_core::Operation::Load,
        )
        .with_store("down")
        .temporary()
    }
    let session = Session::new(
        Arc::new(Down),
        Arc::new(SessionConfig::default()),
        Some(session_core::SessionToken::generate().as_str()),
    );
    let err = render(&environment(), "signup.html", &session, context! {})
        .await
        .unwrap_err();
    assert!(matches!(err, RenderError::Session(_)), "{err}");
    let response = err.into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
}
