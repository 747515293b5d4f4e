//! The session in [minijinja] templates.
//!
//! A handler renders a template with the request's [`Session`], and the template reads the
//! session itself, as views do in AdonisJS and Masonite: no copying every value into the
//! context by hand.
//!
//! ```
//! use minijinja::{Environment, context};
//! use session_minijinja::{SessionTemplates, render};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mut env = Environment::new();
//! env.add_session_functions(); // flash, old, errors, error, has_error, csrf_field, csrf_token
//! env.add_template("login.html", r#"
//! {%- if flash("status") %}<p class="status">{{ flash("status") }}</p>{% endif -%}
//! <form method="post">{{ csrf_field() }}
//!   <input name="email" value="{{ old("email", "") }}">
//!   {%- for message in errors("email") %}<p class="error">{{ message }}</p>{% endfor %}
//! </form>
//! <p>{{ session.user or "guest" }}, {{ title }}</p>"#)?;
//!
//! # let session = session_tower::Session::new(std::sync::Arc::new(session_core::MemoryStore::new()), Default::default(), None);
//! session.insert("user", "ada").await?;
//! session.now("status", "Saved.").await?;
//! let html = render(&env, "login.html", &session, context! { title => "Log in" }).await?;
//! assert!(html.contains(r#"<p class="status">Saved.</p>"#));
//! assert!(html.contains(r#"<input type="hidden" name="_token" value=""#));
//! assert!(html.contains("<p>ada, Log in</p>"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # What a template sees
//!
//! | in the template | what it is | from |
//! |---|---|---|
//! | `session.KEY`, `session["KEY"]` | a value the session holds ([`Session::get`]) | Masonite's `session().get` |
//! | `session.get(KEY, default)`, `session.has(KEY)` | the same with a default; whether it is set and not null | Laravel's `session()->get`, `has` |
//! | `flash(KEY)` | this request's flash message ([`Session::flash_get`]), or none | AdonisJS's `flashMessages.get` |
//! | `flash_messages()` | every flash message of this request, by key | |
//! | `old(FIELD, default)` | the form input the last failed submission flashed ([`Session::old`]) | AdonisJS's `old`, Laravel's `old` |
//! | `errors(FIELD)` | that field's flashed validation messages, a list ([`Session::errors`]) | Laravel's `$errors->get` |
//! | `error(FIELD)` | that field's first message, or none | AdonisJS's `getErrorFor` |
//! | `has_error(FIELD)` | whether that field has a message | AdonisJS's `hasErrorFor` |
//! | `csrf_field()` | the hidden `_token` input [`CsrfLayer`](session_tower::CsrfLayer) reads | AdonisJS's `csrfField`, Laravel's `@csrf` |
//! | `csrf_token()` | the token alone, for a `<meta>` tag that scripts read | Laravel's `csrf_token` |
//!
//! Values are escaped like any other when the template auto-escapes (names ending `.html`,
//! `.htm`, `.xml`); `csrf_field()` is markup and marked safe.
//!
//! # How it works
//!
//! Templates are synchronous and a [`Session`] loads on first use, so [`render`] (or
//! [`SessionContext::capture`]) reads what a template may need from the session first: its
//! values, this request's flash messages, the flashed input and errors, and the CSRF token.
//! The read is one store load at most (the session's own, which the request makes anyway
//! once it touches the session) and changes nothing, except that a session without a CSRF
//! token gets one, as [`Session::csrf_token`] does, so every rendered form can carry it.
//! That token is stored when the request commits.
//!
//! # Behavior
//!
//! - A template rendered on the next request sees the flash messages, form input and errors
//!   the store kept, escaped, once; the request after sees none of them; `csrf_field()`
//!   carries the session's own CSRF token (case
//!   `request::templates_read_flash_input_errors_and_the_csrf_token_once`).
//!
//! The context is the variable `session`; the functions look it up there, so a template
//! rendered with its context from [`render`] or with [`SessionContext::into_value`] under
//! `session` finds them. Rendered without it, they fail with an error that says so.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod context;
mod error;
mod functions;

pub use context::SessionContext;
pub use error::RenderError;
pub use functions::{SESSION_VARIABLE, SessionTemplates, add_session_functions};

use minijinja::Environment;
use minijinja::value::{Value, merge_maps};
use session_tower::Session;

/// Renders the template `name` of `env` with `context` and the request's `session` (under
/// the variable `session`, for the [functions](crate#what-a-template-sees) the environment got
/// from [`add_session_functions`]).
///
/// `context` is anything minijinja takes as a context, usually [`minijinja::context!`]. A
/// `session` key in it is shadowed by the session's context.
///
/// # Errors
///
/// [`RenderError::Session`] when the session cannot be read (the store is down, say; as an
/// axum response it answers as the layer does), [`RenderError::Template`] when the template is
/// missing or fails to render.
pub async fn render(
    env: &Environment<'_>,
    name: &str,
    session: &Session,
    context: impl Into<Value>,
) -> Result<String, RenderError> {
    let captured = SessionContext::capture(session).await?;
    let template = env.get_template(name)?;
    let context = merge_maps([
        minijinja::context! { session => captured.into_value() },
        context.into(),
    ]);
    Ok(template.render(context)?)
}
