//! The session cookie: its attributes, reading it from a request, writing it to a response.

use cookie::{Cookie, SameSite};
use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};
use session_core::chrono::{DateTime, Utc};
use session_core::{Error, Lifetime};

use crate::session::CookieAction;

/// How the session cookie is named and scoped.
///
/// The defaults are the safe ones: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure`, a name that
/// says nothing about the stack (`id`), and `Max-Age` following the session's idle expiry.
///
/// ```
/// use session_tower::CookieConfig;
///
/// let cookie = CookieConfig::default().with_host_prefix(true);
/// assert_eq!(cookie.full_name(), "__Host-id");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CookieConfig {
    /// The cookie's name, before any `__Host-` prefix. Default: `id`.
    pub name: String,
    /// Send the cookie over HTTPS only. Default: on; turn off only for local plain-HTTP work.
    pub secure: bool,
    /// Hide the cookie from scripts. Default: on.
    pub http_only: bool,
    /// Cross-site sending policy. Default: `Lax`.
    pub same_site: SameSite,
    /// Path scope. Default: `/`.
    pub path: String,
    /// Domain scope; `None` (the default) binds the cookie to the exact host.
    pub domain: Option<String>,
    /// Prefix the name with `__Host-`, which browsers accept only for `Secure`, `Path=/`,
    /// domain-less cookies. Default: off.
    pub host_prefix: bool,
    /// Send no `Max-Age`, so the browser drops the cookie when it closes. The server still
    /// enforces the idle and absolute timeouts. Default: off.
    pub expire_on_close: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: "id".into(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            path: "/".into(),
            domain: None,
            host_prefix: false,
            expire_on_close: false,
        }
    }
}

impl CookieConfig {
    /// Sets [`CookieConfig::name`].
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets [`CookieConfig::secure`].
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets [`CookieConfig::http_only`].
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// Sets [`CookieConfig::same_site`].
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets [`CookieConfig::path`].
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets [`CookieConfig::domain`].
    pub fn with_domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain;
        self
    }

    /// Sets [`CookieConfig::host_prefix`].
    pub fn with_host_prefix(mut self, on: bool) -> Self {
        self.host_prefix = on;
        self
    }

    /// Sets [`CookieConfig::expire_on_close`].
    pub fn with_expire_on_close(mut self, on: bool) -> Self {
        self.expire_on_close = on;
        self
    }

    /// The name as sent, prefix included.
    pub fn full_name(&self) -> String {
        if self.host_prefix {
            format!("__Host-{}", self.name)
        } else {
            self.name.clone()
        }
    }

    /// Checks the attributes make a cookie browsers accept.
    pub fn validate(&self) -> Result<(), Error> {
        let valid_name = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid_name {
            return Err(Error::config(format!(
                "cookie name {:?} must be non-empty ASCII letters, digits, '-', '_' or '.'",
                self.name
            )));
        }
        if !self.path.starts_with('/') || self.path.contains([';', ',', ' ']) {
            return Err(Error::config(format!(
                "cookie path {:?} must start with '/' and hold no ';', ',' or spaces",
                self.path
            )));
        }
        if self.host_prefix && (!self.secure || self.path != "/" || self.domain.is_some()) {
            return Err(Error::config(
                "a __Host- cookie must be Secure, have Path=/ and no Domain",
            ));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(Error::config(
                "browsers reject SameSite=None on a cookie that is not Secure",
            ));
        }
        Ok(())
    }

    /// The session token the request presents, if any: the first cookie with this name.
    pub fn read<'h>(&self, headers: &'h HeaderMap, full_name: &str) -> Option<&'h str> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|line| line.split(';'))
            .find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == full_name).then(|| value.trim_matches('"'))
            })
    }

    /// The `Set-Cookie` header value for `action` on a server-side session (the cookie holds the
    /// token), if it needs one.
    pub fn header(&self, full_name: &str, action: &CookieAction) -> Option<HeaderValue> {
        match action {
            CookieAction::Set {
                token,
                expires_at,
                lifetime,
            } => self.set_header_for(full_name, token.as_str(), *expires_at, *lifetime),
            CookieAction::Remove => self.removal_header(full_name),
            _ => None,
        }
    }

    /// A `Set-Cookie` header setting the cookie to `value`, expiring at `expires_at` (unless the
    /// cookie ends with the browser).
    pub fn set_header(
        &self,
        full_name: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Option<HeaderValue> {
        self.set_header_for(full_name, value, expires_at, None)
    }

    /// As [`CookieConfig::set_header`], for a session that chose its own `lifetime`
    /// ([`Session::set_lifetime`](crate::Session::set_lifetime)): a browser-session
    /// lifetime sends no `Max-Age`, an idle lifetime always sends one, and no choice follows
    /// [`CookieConfig::expire_on_close`].
    pub fn set_header_for(
        &self,
        full_name: &str,
        value: &str,
        expires_at: DateTime<Utc>,
        lifetime: Option<Lifetime>,
    ) -> Option<HeaderValue> {
        let mut cookie = Cookie::new(full_name.to_owned(), value.to_owned());
        let persistent = match lifetime {
            Some(Lifetime::BrowserSession) => false,
            Some(Lifetime::Idle(_)) => true,
            _ => !self.expire_on_close,
        };
        if persistent {
            // Rounded, so a session written a few milliseconds ago still says its full lifetime.
            let secs = ((expires_at - Utc::now()).num_milliseconds().max(0) + 500) / 1000;
            cookie.set_max_age(cookie::time::Duration::seconds(secs));
        }
        self.finish(cookie)
    }

    /// A `Set-Cookie` header removing the cookie: `Max-Age=0` and an `Expires` in the past, for
    /// clients that ignore `Max-Age`.
    pub fn removal_header(&self, full_name: &str) -> Option<HeaderValue> {
        let mut cookie = Cookie::new(full_name.to_owned(), "");
        cookie.make_removal();
        self.finish(cookie)
    }

    fn finish(&self, mut cookie: Cookie<'static>) -> Option<HeaderValue> {
        cookie.set_http_only(self.http_only);
        cookie.set_secure(self.secure);
        cookie.set_same_site(self.same_site);
        cookie.set_path(self.path.clone());
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        HeaderValue::from_str(&cookie.to_string()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::SessionToken;

    #[test]
    fn set_cookie_carries_the_safe_defaults() {
        let config = CookieConfig::default();
        let token = SessionToken::generate();
        let expires_at = Utc::now() + session_core::chrono::Duration::seconds(7200);
        let value = config
            .header(
                "id",
                &CookieAction::Set {
                    token: token.clone(),
                    expires_at,
                    lifetime: None,
                },
            )
            .unwrap();
        let text = value.to_str().unwrap();
        assert!(
            text.starts_with(&format!("id={}", token.as_str())),
            "{text}"
        );
        for attr in [
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Secure",
            "Max-Age=7200",
        ] {
            assert!(text.contains(attr), "{attr} missing from {text}");
        }
    }

    #[test]
    fn removal_expires_the_cookie_now() {
        let text = CookieConfig::default()
            .header("id", &CookieAction::Remove)
            .unwrap();
        let text = text.to_str().unwrap();
        assert!(text.contains("Max-Age=0"), "{text}");
        let expires = text
            .split(';')
            .find_map(|a| a.trim().strip_prefix("Expires="))
            .unwrap_or_else(|| panic!("no Expires in {text}"));
        let when = DateTime::parse_from_rfc2822(&expires.replace("GMT", "+0000")).unwrap();
        assert!(when < Utc::now(), "Expires {expires} is not in the past");
    }

    #[test]
    fn reads_the_named_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=1; id=tok; b=2"));
        headers.append(COOKIE, HeaderValue::from_static("id=later"));
        assert_eq!(CookieConfig::default().read(&headers, "id"), Some("tok"));
        assert_eq!(CookieConfig::default().read(&headers, "idx"), None);
    }

    #[test]
    fn invalid_attribute_sets_are_config_errors() {
        assert!(CookieConfig::default().validate().is_ok());
        let bad = [
            CookieConfig::default().with_name(""),
            CookieConfig::default().with_name("a;b"),
            CookieConfig::default().with_path("nope"),
            CookieConfig::default()
                .with_host_prefix(true)
                .with_secure(false),
            CookieConfig::default()
                .with_host_prefix(true)
                .with_domain(Some("example.com".into())),
            CookieConfig::default()
                .with_same_site(SameSite::None)
                .with_secure(false),
        ];
        for config in bad {
            let err = config.validate().unwrap_err();
            assert_eq!(err.kind(), session_core::ErrorKind::Config, "{config:?}");
        }
    }
}
