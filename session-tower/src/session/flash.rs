//! Flash messages: set for the next request (`flash`) or this one (`now`), carried one request
//! further (`reflash`, `keep`), read and taken.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::change::Change;
use super::{Session, State, decode};
use session_core::Data;
use session_core::Result;
use session_core::kit::to_value;

impl Session {
    /// Sets a flash message for the next request.
    pub async fn flash<T: Serialize>(&self, key: &str, value: T) -> Result<()> {
        let value = to_value(key, value)?;
        self.change(Change::Flash(key.to_owned(), value)).await
    }

    /// Sets a flash message for this request only; it is never stored.
    pub async fn now<T: Serialize>(&self, key: &str, value: T) -> Result<()> {
        let value = to_value(key, value)?;
        let mut state = self.loaded().await?;
        if !self.is_detached() {
            state.flash_now.insert(key.to_owned(), value);
        }
        Ok(())
    }

    /// Keeps every flash message of this request, those set with [`Session::now`] included,
    /// for the next one too (Laravel's `reflash`).
    pub async fn reflash(&self) -> Result<()> {
        let mut state = self.loaded().await?;
        let keys: Vec<String> = state
            .flash_in
            .keys()
            .chain(state.flash_now.keys())
            .cloned()
            .collect();
        self.keep_locked(&mut state, keys);
        Ok(())
    }

    /// Keeps the named flash messages of this request (from the previous request or set with
    /// [`Session::now`]) for the next one too (Laravel's `keep`).
    pub async fn keep(&self, keys: &[&str]) -> Result<()> {
        let mut state = self.loaded().await?;
        self.keep_locked(&mut state, keys.iter().map(|k| (*k).to_owned()).collect());
        Ok(())
    }

    fn keep_locked(&self, state: &mut State, keys: Vec<String>) {
        for key in keys {
            let outgoing = state.view().is_some_and(|r| r.flash.contains_key(&key));
            let value = state
                .flash_now
                .get(&key)
                .or_else(|| state.flash_in.get(&key))
                .cloned();
            if let Some(value) = value
                && !outgoing
            {
                self.record_change(state, Change::Flash(key, value));
            }
        }
    }

    /// This request's flash message under `key` (set with `now`, or flashed by the previous
    /// request), decoded as `T`, without consuming it.
    pub async fn flash_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let state = self.loaded().await?;
        match state.flash_now.get(key).or_else(|| state.flash_in.get(key)) {
            None => Ok(None),
            Some(value) => decode(key, value).map(Some),
        }
    }

    /// Removes this request's flash message under `key` and returns it decoded as `T`.
    pub async fn take_flash<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let mut state = self.loaded().await?;
        let now = state.flash_now.remove(key);
        let incoming = state.flash_in.remove(key);
        match now.or(incoming) {
            None => Ok(None),
            Some(value) => decode(key, &value).map(Some),
        }
    }

    /// All of this request's flash messages, without consuming them.
    pub async fn flash_messages(&self) -> Result<Data> {
        let state = self.loaded().await?;
        let mut all = state.flash_in.clone();
        all.extend(state.flash_now.clone());
        Ok(all)
    }

    /// Removes and returns all of this request's flash messages.
    pub async fn take_all_flash(&self) -> Result<Data> {
        let mut state = self.loaded().await?;
        let mut all = std::mem::take(&mut state.flash_in);
        all.extend(std::mem::take(&mut state.flash_now));
        Ok(all)
    }

    /// Whether this request has any flash message.
    pub async fn has_flash(&self) -> Result<bool> {
        let state = self.loaded().await?;
        Ok(!state.flash_in.is_empty() || !state.flash_now.is_empty())
    }
}
