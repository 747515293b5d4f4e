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
        if let Some(secs) = self.max_age(expires_at, lifetime) {
            cookie.set_max_age(cookie::time::Duration::seconds(secs));
        }
        self.finish(cookie)
    }

    /// The `Max-Age` in seconds for a session expiring at `expires_at`, or `None` when the
    /// cookie is to end with the browser.
    fn max_age(&self, expires_at: DateTime<Utc>, lifetime: Option<Lifetime>) -> Option<i64> {
        let persistent = match lifetime {
            Some(Lifetime::BrowserSession) => false,
            Some(Lifetime::Idle(_)) => true,
            _ => !self.expire_on_close,
        };
        // Rounded, so a session written a few milliseconds ago still says its full lifetime.
        persistent.then(|| {
            ((expires_at - session_core::kit::now())
                .num_milliseconds()
                .max(0)
                + 500)
                / 1000
        })
    }

    /// A `Set-Cookie` header removing the cookie: `Max-Age=0` and an `Expires` in the past, for
    /// clients that ignore `Max-Age`.
    pub fn removal_header(&self, full_name: &str) -> Option<HeaderValue> {
        let mut cookie = Cookie::new(full_name.to_owned(), "");
        cookie.make_removal();
        self.finish(cookie)
    }

    fn finish(&self, cookie: Cookie<'static>) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.with_attributes(cookie).to_string()).ok()
    }

    /// `cookie` with this configuration's fixed attributes.
    fn with_attributes(&self, mut cookie: Cookie<'static>) -> Cookie<'static> {
        cookie.set_http_only(self.http_only);
        cookie.set_secure(self.secure);
        cookie.set_same_site(self.same_site);
        cookie.set_path(self.path.clone());
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }
}

/// How a layer writes its `Set-Cookie` header: the attributes that are the same on every
/// response (`HttpOnly`, `SameSite`, `Secure`, `Path`, `Domain`) are formatted once, when the
/// layer is built, and each response writes only the value and its `Max-Age` before them.
#[derive(Debug, Clone)]
pub(crate) struct SetCookie {
    config: CookieConfig,
    /// The cookie's name as sent.
    name: String,
    /// The fixed attributes as the cookie crate formats them, each with its leading `; `;
    /// `None` if its text did not have that shape, and every header is then formatted whole.
    fixed: Option<String>,
}

impl SetCookie {
    /// The writer for `config`'s cookie.
    pub(crate) fn new(config: CookieConfig) -> Self {
        let name = config.full_name();
        let text = config
            .with_attributes(Cookie::new(name.clone(), "v"))
            .to_string();
        let fixed = text
            .strip_prefix(name.as_str())
            .and_then(|rest| rest.strip_prefix("=v"))
            .filter(|rest| rest.is_empty() || rest.starts_with("; "))
            .map(str::to_owned);
        SetCookie {
            config,
            name,
            fixed,
        }
    }

    /// The settings the cookie follows.
    pub(crate) fn config(&self) -> &CookieConfig {
        &self.config
    }

    /// The cookie's name as sent, prefix included.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The header setting the cookie to `value`, as [`CookieConfig::set_header_for`] writes it.
    pub(crate) fn set(
        &self,
        value: &str,
        expires_at: DateTime<Utc>,
        lifetime: Option<Lifetime>,
    ) -> Option<HeaderValue> {
        let Some(fixed) = &self.fixed else {
            return self
                .config
                .set_header_for(&self.name, value, expires_at, lifetime);
        };
        let mut text = String::with_capacity(self.name.len() + value.len() + fixed.len() + 32);
        text.push_str(&self.name);
        text.push('=');
        text.push_str(value);
        if let Some(secs) = self.config.max_age(expires_at, lifetime) {
            text.push_str("; Max-Age=");
            text.push_str(itoa::Buffer::new().format(secs));
        }
        text.push_str(fixed);
        HeaderValue::try_from(text).ok()
    }

    /// The header removing the cookie.
    pub(crate) fn removal(&self) -> Option<HeaderValue> {
        self.config.removal_header(&self.name)
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

    /// Every attribute of a parsed `Set-Cookie` value that a browser acts on, and its
    /// `Max-Age` apart (the two headers compared read the clock a moment apart).
    fn attributes(text: &str) -> (String, Option<i64>) {
        let cookie = Cookie::parse(text.to_owned()).unwrap();
        let described = format!(
            "{}={} http_only={:?} secure={:?} same_site={:?} path={:?} domain={:?} expires={:?}",
            cookie.name(),
            cookie.value(),
            cookie.http_only(),
            cookie.secure(),
            cookie.same_site(),
            cookie.path(),
            cookie.domain(),
            cookie.expires_datetime(),
        );
        (described, cookie.max_age().map(|age| age.whole_seconds()))
    }

    #[test]
    fn prepared_set_cookie_says_what_the_cookie_crate_says() {
        let token = SessionToken::generate();
        let expires_at = Utc::now() + session_core::chrono::Duration::seconds(7200);
        let mut configs = Vec::new();
        for secure in [true, false] {
            for http_only in [true, false] {
                for same_site in [SameSite::Lax, SameSite::Strict, SameSite::None] {
                    for domain in [None, Some("example.com".to_owned())] {
                        for expire_on_close in [false, true] {
                            configs.push(CookieConfig {
                                secure,
                                http_only,
                                same_site,
                                domain: domain.clone(),
                                expire_on_close,
                                path: "/app".into(),
                                ..CookieConfig::default()
                            });
                        }
                    }
                }
            }
        }
        configs.push(CookieConfig::default().with_host_prefix(true));
        configs.push(CookieConfig::default().with_name("sid.v2"));
        for config in configs {
            let prepared = SetCookie::new(config.clone());
            assert!(prepared.fixed.is_some(), "{config:?}");
            assert_eq!(prepared.name(), config.full_name());
            for lifetime in [
                None,
                Some(Lifetime::BrowserSession),
                Some(Lifetime::Idle(std::time::Duration::from_secs(60))),
            ] {
                let fast = prepared.set(token.as_str(), expires_at, lifetime).unwrap();
                let whole = config
                    .set_header_for(prepared.name(), token.as_str(), expires_at, lifetime)
                    .unwrap();
                let (fast, fast_age) = attributes(fast.to_str().unwrap());
                let (whole, whole_age) = attributes(whole.to_str().unwrap());
                assert_eq!(fast, whole, "{config:?} {lifetime:?}");
                match (fast_age, whole_age) {
                    (None, None) => {}
                    (Some(a), Some(b)) => assert!(a.abs_diff(b) <= 1 && a > 7000, "{a} {b}"),
                    other => panic!("Max-Age differs: {other:?} for {config:?} {lifetime:?}"),
                }
            }
        }
    }

    #[test]
    fn prepared_set_cookie_refuses_a_value_no_header_can_carry() {
        let prepared = SetCookie::new(CookieConfig::default());
        assert!(prepared.set("a\nb", Utc::now(), None).is_none());
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
