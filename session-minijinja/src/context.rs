//! What a template sees of one request's session: read from the [`Session`] before rendering.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};
use session_core::{Data, Result};
use session_tower::{CSRF_KEY, Session};

/// One request's session as a template sees it: its values, this request's flash messages,
/// the flashed form input and errors, and the CSRF token.
///
/// [`render`](crate::render) makes one for every render; make one yourself to put it in a
/// context you build (under the variable `session`, [`SessionContext::into_value`]) or to
/// render several templates from one read.
///
/// In a template it behaves as a map of the session's values (`session.user`,
/// `{% for key, value in session|items %}`) with two methods, `get(key, default)` and
/// `has(key)`. The CSRF token is not among the values; `csrf_token()` gives it.
#[derive(Debug, Clone)]
pub struct SessionContext {
    pub(crate) inner: Arc<Captured>,
}

#[derive(Debug)]
pub(crate) struct Captured {
    pub(crate) data: Data,
    pub(crate) flash: Data,
    pub(crate) old: Data,
    pub(crate) errors: BTreeMap<String, Vec<String>>,
    pub(crate) csrf_token: String,
}

impl SessionContext {
    /// Reads what a template may need from `session`: one load at most, and no change but a
    /// CSRF token for a session that has none (as [`Session::csrf_token`] makes).
    ///
    /// # Errors
    ///
    /// The session's own errors: the store cannot load the record, or a flashed value has a
    /// shape the form helpers did not write.
    pub async fn capture(session: &Session) -> Result<SessionContext> {
        let csrf_token = session.csrf_token().await?;
        let mut data = session.all().await?;
        data.remove(CSRF_KEY);
        let flash = session.flash_messages().await?;
        let old = session.old_input().await?;
        let errors = session.all_errors().await?;
        Ok(SessionContext {
            inner: Arc::new(Captured {
                data,
                flash,
                old,
                errors,
                csrf_token,
            }),
        })
    }

    /// The context as a template value, to put under the variable `session`
    /// ([`SESSION_VARIABLE`](crate::SESSION_VARIABLE)) of a context you build.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use minijinja::{Environment, context};
    /// use session_minijinja::{SessionContext, SessionTemplates};
    ///
    /// # let session = session_tower::Session::new(std::sync::Arc::new(session_core::MemoryStore::new()), Default::default(), None);
    /// session.insert("theme", "dark").await?;
    /// let mut env = Environment::new();
    /// env.add_session_functions();
    /// let captured = SessionContext::capture(&session).await?;
    /// let html = env.render_str(
    ///     "{{ session.theme }} {{ session.get('lang', 'en') }} {{ session.has('theme') }}",
    ///     context! { session => captured.into_value() },
    /// )?;
    /// assert_eq!(html, "dark en True");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn into_value(self) -> Value {
        Value::from_dyn_object(self.inner)
    }

    /// The session value under `key`, as stored.
    pub fn get(&self, key: &str) -> Option<&session_core::Value> {
        self.inner.data.get(key)
    }

    /// This request's flash message under `key`.
    pub fn flash(&self, key: &str) -> Option<&session_core::Value> {
        self.inner.flash.get(key)
    }

    /// The input the last failed submission flashed for `field`.
    pub fn old(&self, field: &str) -> Option<&session_core::Value> {
        self.inner.old.get(field)
    }

    /// The validation messages flashed for `field` (empty when none).
    pub fn errors(&self, field: &str) -> &[String] {
        self.inner.errors.get(field).map_or(&[], Vec::as_slice)
    }

    /// The session's CSRF token.
    pub fn csrf_token(&self) -> &str {
        &self.inner.csrf_token
    }
}

/// A stored value as a template value.
pub(crate) fn template_value(value: &session_core::Value) -> Value {
    Value::from(minijinja::value::Serde(value))
}

impl Object for Captured {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.data.get(key.as_str()?).map(template_value)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<Value> = self.data.keys().map(|k| Value::from(k.as_str())).collect();
        Enumerator::Values(keys)
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, Error> {
        match method {
            "get" => {
                let (key, default) = key_and_default("session.get", args)?;
                Ok(self
                    .data
                    .get(key)
                    .filter(|v| !v.is_null())
                    .map_or(default, template_value))
            }
            "has" => {
                let (key, _) = key_and_default("session.has", args)?;
                Ok(Value::from(
                    self.data.get(key).is_some_and(|v| !v.is_null()),
                ))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A key (a string) and an optional default (none when absent) from a call's arguments.
pub(crate) fn key_and_default<'a>(
    call: &str,
    args: &'a [Value],
) -> std::result::Result<(&'a str, Value), Error> {
    let key = match args.first().map(|a| (a, a.as_str())) {
        Some((_, Some(key))) => key,
        Some((other, None)) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{call} takes a key as a string, not {}", other.kind()),
            ));
        }
        None => {
            return Err(Error::new(
                ErrorKind::MissingArgument,
                format!("{call} needs a key"),
            ));
        }
    };
    if args.len() > 2 {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            format!("{call} takes a key and a default"),
        ));
    }
    Ok((key, args.get(1).cloned().unwrap_or(Value::from(()))))
}
