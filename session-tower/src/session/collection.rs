//! Verbs over several keys at once, arrays and defaults: the collection side of the handle.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::change::Change;
use super::{Session, decode};
use session_core::Data;
use session_core::Result;
use session_core::kit::to_value;

impl Session {
    /// Whether `key` is absent (Laravel's `missing`): the opposite of [`Session::exists`].
    pub async fn missing(&self, key: &str) -> Result<bool> {
        Ok(!self.exists(key).await?)
    }

    /// Whether every one of `keys` holds a value other than null (Laravel's `has` with an
    /// array).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let session = session_tower::Session::new(std::sync::Arc::new(session_core::MemoryStore::new()), Default::default(), None);
    /// session.insert("a", 1).await?;
    /// session.insert("b", ()).await?; // null
    /// assert!(session.has_all(&["a"]).await?);
    /// assert!(!session.has_all(&["a", "b"]).await?);
    /// assert!(session.has_any(&["b", "a"]).await?);
    /// # Ok::<(), session_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn has_all(&self, keys: &[&str]) -> Result<bool> {
        for key in keys {
            if !self.has(key).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether any of `keys` holds a value other than null (Laravel's `hasAny`).
    pub async fn has_any(&self, keys: &[&str]) -> Result<bool> {
        for key in keys {
            if self.has(key).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The data under `keys` only (Laravel's `only`); absent keys are left out.
    pub async fn only(&self, keys: &[&str]) -> Result<Data> {
        let mut picked = Data::new();
        for key in keys {
            if let Some(value) = self.get_value(key).await? {
                picked.insert((*key).to_owned(), value);
            }
        }
        Ok(picked)
    }

    /// All data but `keys` (Laravel's `except`).
    pub async fn except(&self, keys: &[&str]) -> Result<Data> {
        let mut all = self.all().await?;
        for key in keys {
            all.remove(*key);
        }
        Ok(all)
    }

    /// Appends `value` to the array under `key`, starting one when absent (Laravel's `push`).
    /// A value that is not an array is replaced by a new array. Concurrent pushes from
    /// different requests all land.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let session = session_tower::Session::new(std::sync::Arc::new(session_core::MemoryStore::new()), Default::default(), None);
    /// session.push("viewed", 17).await?;
    /// session.push("viewed", 42).await?;
    /// assert_eq!(session.get::<Vec<u32>>("viewed").await?, Some(vec![17, 42]));
    /// # Ok::<(), session_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn push<T: Serialize>(&self, key: &str, value: T) -> Result<()> {
        let value = to_value(key, value)?;
        self.change(Change::Push(key.to_owned(), value)).await
    }

    /// The value under `key`, or, when absent, `make()`'s value, stored under `key` first
    /// (Laravel's `remember`).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let session = session_tower::Session::new(std::sync::Arc::new(session_core::MemoryStore::new()), Default::default(), None);
    /// let theme: String = session.remember("theme", || "dark".to_owned()).await?;
    /// let again: String = session.remember("theme", || "light".to_owned()).await?;
    /// assert_eq!((theme.as_str(), again.as_str()), ("dark", "dark"));
    /// # Ok::<(), session_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn remember<T, F>(&self, key: &str, make: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> T,
    {
        if let Some(value) = self.read(key, |v| v.map(|v| decode(key, v))).await? {
            return value;
        }
        let value = make();
        self.insert(key, &value).await?;
        Ok(value)
    }

    /// Stores every entry of `entries`, keeping other data (Django's `update`, Laravel's `put`
    /// with an array).
    pub async fn update<K, V, I>(&self, entries: I) -> Result<()>
    where
        K: AsRef<str>,
        V: Serialize,
        I: IntoIterator<Item = (K, V)>,
    {
        for (key, value) in entries {
            self.insert(key.as_ref(), value).await?;
        }
        Ok(())
    }

    /// Replaces all data with `entries` (flash messages stay).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let session = session_tower::Session::new(std::sync::Arc::new(session_core::MemoryStore::new()), Default::default(), None);
    /// session.insert("old", 1).await?;
    /// session.replace([("new", 2)]).await?;
    /// assert_eq!(session.all().await?.len(), 1);
    /// assert!(session.missing("old").await?);
    /// # Ok::<(), session_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn replace<K, V, I>(&self, entries: I) -> Result<()>
    where
        K: AsRef<str>,
        V: Serialize,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut data = Data::new();
        for (key, value) in entries {
            let key = key.as_ref();
            data.insert(key.to_owned(), to_value(key, value)?);
        }
        self.change(Change::ReplaceData(data)).await
    }

    /// Removes every one of `keys` (Laravel's `forget` with an array).
    pub async fn remove_many(&self, keys: &[&str]) -> Result<()> {
        for key in keys {
            self.remove(key).await?;
        }
        Ok(())
    }
}
