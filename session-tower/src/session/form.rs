//! Form helpers: flash the submitted input and the validation errors, read them back.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Session;
use session_core::kit::to_value;
use session_core::{Data, Value};
use session_core::{Error, ErrorKind, Operation, Result};

/// The flash key [`Session::flash_input`] keeps the submitted form input under.
pub const OLD_INPUT_KEY: &str = "_old_input";
/// The flash key [`Session::flash_errors`] keeps the validation errors under.
pub const ERRORS_KEY: &str = "_errors";

/// Which submitted fields to flash.
enum Pick<'a> {
    All,
    Only(&'a [&'a str]),
    Except(&'a [&'a str]),
}

impl Session {
    /// Flashes the submitted form `input` (any serde map or struct) for the next request, so
    /// the form can be filled again with [`Session::old`]. Password fields are never flashed
    /// (any name containing `password` or `passwd`, and the names in
    /// [`SessionConfig::never_flash`](crate::SessionConfig::never_flash)).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use std::{collections::HashMap, sync::Arc};
    /// # use session_core::MemoryStore;
    /// # use session_tower::{Session, SessionConfig};
    /// # let (store, config) = (Arc::new(MemoryStore::new()), Arc::new(SessionConfig::default()));
    /// let session = Session::new(store.clone(), config.clone(), None);
    /// let form = HashMap::from([("email", "ada@example.com"), ("password", "hunter2")]);
    /// session.flash_input(&form).await?;
    /// session.flash_errors(HashMap::from([("email", "is already taken")])).await?;
    /// let token = session.finish().await?.cookie.token().unwrap().as_str().to_owned();
    ///
    /// let next = Session::new(store, config, Some(&token));
    /// assert_eq!(next.old::<String>("email").await?.as_deref(), Some("ada@example.com"));
    /// assert_eq!(next.old::<String>("password").await?, None);
    /// assert_eq!(next.errors("email").await?, ["is already taken"]);
    /// # Ok::<(), session_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn flash_input<T: Serialize>(&self, input: &T) -> Result<()> {
        self.flash_picked(input, Pick::All).await
    }

    /// Flashes only the named fields of `input` (passwords still never).
    pub async fn flash_input_only<T: Serialize>(&self, input: &T, fields: &[&str]) -> Result<()> {
        self.flash_picked(input, Pick::Only(fields)).await
    }

    /// Flashes every field of `input` but the named ones (and passwords).
    pub async fn flash_input_except<T: Serialize>(&self, input: &T, fields: &[&str]) -> Result<()> {
        self.flash_picked(input, Pick::Except(fields)).await
    }

    async fn flash_picked<T: Serialize>(&self, input: &T, pick: Pick<'_>) -> Result<()> {
        let Value::Object(fields) = to_value(OLD_INPUT_KEY, input)? else {
            return Err(Error::new(ErrorKind::Encode, Operation::Other)
                .with_context("form input must serialize to a map of fields"));
        };
        let config = self.config();
        let kept: Data = fields
            .into_iter()
            .filter(|(name, _)| config.may_flash(name))
            .filter(|(name, _)| match pick {
                Pick::All => true,
                Pick::Only(only) => only.contains(&name.as_str()),
                Pick::Except(except) => !except.contains(&name.as_str()),
            })
            .collect();
        self.flash(OLD_INPUT_KEY, Value::Object(kept)).await
    }

    /// Flashes validation errors for the next request: a map from field name to one message
    /// or a list of messages.
    pub async fn flash_errors<T: Serialize>(&self, errors: T) -> Result<()> {
        let Value::Object(fields) = to_value(ERRORS_KEY, errors)? else {
            return Err(Error::new(ErrorKind::Encode, Operation::Other)
                .with_context("errors must serialize to a map from field to messages"));
        };
        let normalized: Data = fields
            .into_iter()
            .map(|(field, messages)| (field, Value::from(messages_of(messages))))
            .collect();
        self.flash(ERRORS_KEY, Value::Object(normalized)).await
    }

    /// The value the previous request flashed for form field `field`, decoded as `T`.
    pub async fn old<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>> {
        let Some(Value::Object(mut input)) = self.flash_get::<Value>(OLD_INPUT_KEY).await? else {
            return Ok(None);
        };
        match input.remove(field) {
            None => Ok(None),
            Some(value) => serde_json::from_value(value).map(Some).map_err(|e| {
                Error::new(ErrorKind::Decode, Operation::Decode)
                    .with_context(format!("old input {field:?} has another type"))
                    .with_source(e)
            }),
        }
    }

    /// Every field of the input the previous request flashed (empty when none), as Laravel's
    /// `old()` with no argument gives.
    pub async fn old_input(&self) -> Result<Data> {
        match self.flash_get::<Value>(OLD_INPUT_KEY).await? {
            Some(Value::Object(input)) => Ok(input),
            _ => Ok(Data::new()),
        }
    }

    /// The validation messages flashed for `field` (empty when none).
    pub async fn errors(&self, field: &str) -> Result<Vec<String>> {
        Ok(self.all_errors().await?.remove(field).unwrap_or_default())
    }

    /// Whether any validation message was flashed for `field`.
    pub async fn has_errors(&self, field: &str) -> Result<bool> {
        Ok(!self.errors(field).await?.is_empty())
    }

    /// Every flashed validation message, by field.
    pub async fn all_errors(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let Some(Value::Object(fields)) = self.flash_get::<Value>(ERRORS_KEY).await? else {
            return Ok(BTreeMap::new());
        };
        Ok(fields
            .into_iter()
            .map(|(field, messages)| (field, messages_of(messages)))
            .collect())
    }
}

/// One message or a list of them, as strings.
fn messages_of(value: Value) -> Vec<String> {
    let text = |v: Value| match v {
        Value::String(s) => s,
        other => other.to_string(),
    };
    match value {
        Value::Array(items) => items.into_iter().map(text).collect(),
        Value::Null => Vec::new(),
        other => vec![text(other)],
    }
}
