//! The template functions: each finds the request's [`SessionContext`] under the variable
//! `session` of the render it is called from.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::{Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use session_tower::{ERRORS_KEY, OLD_INPUT_KEY};

use crate::context::{Captured, key_and_default, template_value};

/// The variable a render's session context lives under.
pub const SESSION_VARIABLE: &str = "session";

/// The form field [`CsrfLayer`](session_tower::CsrfLayer) reads the token from by default,
/// which `csrf_field()` fills.
const CSRF_FIELD: &str = "_token";

/// Adds the session's template functions to `env`: `flash`, `flash_messages`, `old`,
/// `errors`, `error`, `has_error`, `csrf_field` and `csrf_token` (the
/// [table](crate#what-a-template-sees) says what each gives).
pub fn add_session_functions(env: &mut Environment<'_>) {
    env.add_function(
        "flash",
        |state: &State, key: &str| -> Result<Value, Error> {
            Ok(context(state, "flash")?
                .flash
                .get(key)
                .map_or(Value::from(()), template_value))
        },
    );
    env.add_function("flash_messages", |state: &State| -> Result<Value, Error> {
        let captured = context(state, "flash_messages")?;
        let shown = captured
            .flash
            .iter()
            .filter(|(key, _)| *key != OLD_INPUT_KEY && *key != ERRORS_KEY);
        let map: BTreeMap<String, Value> = shown
            .map(|(key, value)| (key.clone(), template_value(value)))
            .collect();
        Ok(Value::from(map))
    });
    env.add_function(
        "old",
        |state: &State, args: Rest<Value>| -> Result<Value, Error> {
            let (field, default) = key_and_default("old", &args)?;
            Ok(context(state, "old")?
                .old
                .get(field)
                .filter(|v| !v.is_null())
                .map_or(default, template_value))
        },
    );
    env.add_function(
        "errors",
        |state: &State, field: &str| -> Result<Value, Error> {
            Ok(Value::from_iter(messages(state, "errors", field)?))
        },
    );
    env.add_function(
        "error",
        |state: &State, field: &str| -> Result<Value, Error> {
            Ok(messages(state, "error", field)?
                .first()
                .map_or(Value::from(()), Value::from))
        },
    );
    env.add_function(
        "has_error",
        |state: &State, field: &str| -> Result<bool, Error> {
            Ok(!messages(state, "has_error", field)?.is_empty())
        },
    );
    env.add_function("csrf_field", |state: &State| -> Result<Value, Error> {
        let token = &context(state, "csrf_field")?.csrf_token;
        // The token is URL-safe base64, but escape it all the same: it is markup.
        let token = minijinja::HtmlEscape(token).to_string();
        Ok(Value::from_safe_string(format!(
            r#"<input type="hidden" name="{CSRF_FIELD}" value="{token}">"#
        )))
    });
    env.add_function("csrf_token", |state: &State| -> Result<String, Error> {
        Ok(context(state, "csrf_token")?.csrf_token.clone())
    });
}

/// [`add_session_functions`] as a method of the environment.
pub trait SessionTemplates {
    /// Adds the session's template functions (see [`add_session_functions`]).
    fn add_session_functions(&mut self);
}

impl SessionTemplates for Environment<'_> {
    fn add_session_functions(&mut self) {
        add_session_functions(self);
    }
}

/// The render's session context, or an error naming the function that needed it.
fn context(state: &State, function: &str) -> Result<Arc<Captured>, Error> {
    state
        .lookup(SESSION_VARIABLE)
        .and_then(|value| value.downcast_object::<Captured>())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "{function}() needs the session: render the template with \
                     session_minijinja::render, or put SessionContext::into_value() under \
                     `{SESSION_VARIABLE}` in its context"
                ),
            )
        })
}

fn messages(state: &State, function: &str, field: &str) -> Result<Vec<String>, Error> {
    Ok(context(state, function)?
        .errors
        .get(field)
        .cloned()
        .unwrap_or_default())
}
