//! The demo in a real browser: headless Chromium driven over WebDriver, as a person clicks
//! through it. Each step saves a screenshot under `target/tmp/demo-browser/`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`;
//! `.ci/run` installs them). Without them the walk is reported ignored with the reason, unless
//! `SESSION_TEST_REQUIRE` is `all` or names `chromium`, when it fails instead.
//! `SESSION_TEST_CHROMEDRIVER` and `SESSION_TEST_CHROMIUM` name other binaries.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::json;
use sessions::{MemoryStore, SessionStore, Settings};

type Step = Result<(), Failed>;

/// The whole walk may take this long; every WebDriver call is bounded inside it too.
const WALK_LIMIT: Duration = Duration::from_secs(180);

fn main() {
    let args = Arguments::from_args();
    let walk = match tools() {
        Ok((driver, chromium)) => {
            Trial::test("a_person_walks_through_the_demo_in_chromium", move || {
                walk(&driver, chromium.as_deref())
            })
        }
        Err(reason) => {
            let required = session_conformance::provision::required("chromium");
            eprintln!("browser walk ignored: {reason}");
            Trial::test("a_person_walks_through_the_demo_in_chromium", move || {
                Err(Failed::from(reason))
            })
            .with_ignored_flag(!required)
        }
    };
    libtest_mimic::run(&args, vec![walk]).exit();
}

/// The driver and browser binaries, or why the walk cannot run here.
fn tools() -> Result<(PathBuf, Option<PathBuf>), String> {
    let driver = match std::env::var_os("SESSION_TEST_CHROMEDRIVER") {
        Some(path) => PathBuf::from(path),
        None => on_path("chromedriver").ok_or(
            "chromedriver is not installed (Debian: apt-get install chromium chromium-driver)",
        )?,
    };
    let chromium = match std::env::var_os("SESSION_TEST_CHROMIUM") {
        Some(path) => Some(PathBuf::from(path)),
        None => on_path("chromium").or_else(|| on_path("chromium-browser")),
    };
    if chromium.is_none() && on_path("google-chrome").is_none() {
        return Err(
            "no Chromium to drive (Debian: apt-get install chromium chromium-driver)".to_owned(),
        );
    }
    Ok((driver, chromium))
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The WebDriver server, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn start_driver(binary: &Path) -> Result<Driver, Failed> {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if started.elapsed() > Duration::from_secs(15) {
            return Err(format!("{} did not listen within 15 s", binary.display()).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(driver)
}

/// A fresh browser profile: its own cookies, cache and history.
async fn browser(driver: &Driver, chromium: Option<&Path>) -> Result<Client, Failed> {
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,900", "--no-first-run", "--password-store=basic"],
    });
    if let Some(binary) = chromium {
        options["binary"] = json!(binary.display().to_string());
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    capabilities.insert("pageLoadStrategy".into(), json!("normal"));
    capabilities.insert(
        "timeouts".into(),
        json!({ "pageLoad": 20_000, "script": 10_000, "implicit": 0 }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .map_err(|e| format!("cannot open a Chromium session: {e}").into())
}

/// Serves the demo on a free loopback port over `store`.
async fn serve(store: Arc<MemoryStore>) -> String {
    let settings = Settings::from_sources(None, [("SESSION_SECURE_COOKIE", "false")]).unwrap();
    let layer = settings.layer(store).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, session_demo::app(layer)).await });
    format!("http://{addr}")
}

fn walk(driver: &Path, chromium: Option<&Path>) -> Step {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    runtime.block_on(async {
        let driver = start_driver(driver).await?;
        match tokio::time::timeout(WALK_LIMIT, steps(&driver, chromium)).await {
            Ok(result) => result,
            Err(_) => Err(format!("the walk took over {WALK_LIMIT:?}").into()),
        }
    })
}

/// Where the screenshots go.
fn shots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-browser")
}

/// One person's browser, its screenshots numbered in the order taken.
struct Person {
    client: Client,
    base: String,
    name: &'static str,
}

impl Person {
    /// A person with a browser profile of their own, on the demo at `base`.
    async fn open(
        driver: &Driver,
        chromium: Option<&Path>,
        base: &str,
        name: &'static str,
    ) -> Result<Self, Failed> {
        Ok(Person {
            client: browser(driver, chromium).await?,
            base: base.to_owned(),
            name,
        })
    }

    async fn goto(&self, path: &str) -> Step {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .map_err(|e| format!("{}: cannot open {path}: {e}", self.name).into())
    }

    async fn text(&self) -> Result<String, Failed> {
        let body = self
            .client
            .find(Locator::Css("body"))
            .await
            .map_err(|e| format!("{}: no page body: {e}", self.name))?;
        Ok(body
            .text()
            .await
            .map_err(|e| format!("{}: cannot read the page: {e}", self.name))?)
    }

    async fn find(&self, css: &str) -> Result<fantoccini::elements::Element, Failed> {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .map_err(|e| format!("{}: no {css} on the page: {e}", self.name).into())
    }

    async fn type_into(&self, css: &str, text: &str) -> Step {
        let field = self.find(css).await?;
        field
            .clear()
            .await
            .map_err(|e| format!("clear {css}: {e}"))?;
        field
            .send_keys(text)
            .await
            .map_err(|e| format!("type into {css}: {e}"))?;
        Ok(())
    }

    /// Clicks `css` and waits for the page it leads to, which shows `marker`.
    async fn click(&self, css: &str, marker: &str) -> Step {
        self.find(css)
            .await?
            .click()
            .await
            .map_err(|e| format!("{}: cannot click {css}: {e}", self.name))?;
        self.find(marker).await?;
        Ok(())
    }

    async fn value(&self, css: &str) -> Result<String, Failed> {
        Ok(self
            .find(css)
            .await?
            .prop("value")
            .await
            .map_err(|e| format!("value of {css}: {e}"))?
            .unwrap_or_default())
    }

    async fn cookie(&self) -> Result<Cookie<'static>, Failed> {
        let cookies = self
            .client
            .get_all_cookies()
            .await
            .map_err(|e| format!("{}: cannot read cookies: {e}", self.name))?;
        match <[_; 1]>::try_from(cookies) {
            Ok([cookie]) => Ok(cookie),
            Err(cookies) => {
                Err(format!("{}: expected one cookie, got {cookies:?}", self.name).into())
            }
        }
    }

    async fn shot(&self, step: &str) -> Step {
        let png = self
            .client
            .screenshot()
            .await
            .map_err(|e| format!("screenshot {step}: {e}"))?;
        std::fs::create_dir_all(shots()).map_err(|e| format!("{}: {e}", shots().display()))?;
        let file = shots().join(format!("{step}.png"));
        std::fs::write(&file, png).map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(())
    }

    async fn log_in(&self, user: &str, remember: bool) -> Step {
        self.goto("/login").await?;
        self.type_into("#username", user).await?;
        self.type_into("#password", session_demo::DEMO_PASSWORD)
            .await?;
        if remember {
            self.find("#remember")
                .await?
                .click()
                .await
                .map_err(|e| format!("tick remember me: {e}"))?;
        }
        self.click("#submit", "#who").await
    }
}

fn check(condition: bool, message: impl Into<String>) -> Step {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

/// How far `cookie` expires from now.
fn lasts(cookie: &Cookie<'_>) -> Option<Duration> {
    let at = cookie.expires_datetime()?.unix_timestamp();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    u64::try_from(at)
        .ok()?
        .checked_sub(now)
        .map(Duration::from_secs)
}

async fn steps(driver: &Driver, chromium: Option<&Path>) -> Step {
    let store = Arc::new(MemoryStore::new());
    let base = serve(store.clone()).await;
    let _ = std::fs::remove_dir_all(shots());
    let ada = Person::open(driver, chromium, &base, "first browser").await?;

    // 1. The visit counter counts this browser's visits.
    ada.goto("/").await?;
    check(
        ada.find("#visits").await?.text().await? == "1",
        "first visit",
    )?;
    ada.goto("/").await?;
    check(
        ada.find("#visits").await?.text().await? == "2",
        "second visit",
    )?;
    let head = ada.find("header").await?.text().await?;
    check(
        head.contains("Sessions Demo") && head.contains("Log in"),
        format!("header with the site name and navigation: {head:?}"),
    )?;
    ada.shot("01-visit-counter").await?;

    // 2. A failed login: errors and old input once, never the password.
    ada.goto("/login").await?;
    ada.type_into("#username", "ada <b>").await?;
    ada.type_into("#password", "wrong").await?;
    ada.click("#submit", "#password-error").await?;
    check(
        ada.value("#username").await? == "ada <b>",
        "the user name came back",
    )?;
    check(
        ada.value("#password").await?.is_empty(),
        "the password came back",
    )?;
    let text = ada.text().await?;
    check(
        text.contains("That password is not right."),
        format!("password error shown: {text}"),
    )?;
    ada.shot("02-failed-login").await?;
    ada.client
        .refresh()
        .await
        .map_err(|e| format!("reload: {e}"))?;
    ada.find("#username").await?;
    check(
        !ada.text().await?.contains("That password is not right."),
        "errors showed twice",
    )?;
    check(
        ada.value("#username").await?.is_empty(),
        "old input showed twice",
    )?;

    // 3. Login: a new cookie value, a browser-length expiry, the welcome once.
    let before = ada.cookie().await?.value().to_owned();
    ada.log_in("ada", false).await?;
    let cookie = ada.cookie().await?;
    check(cookie.value() != before, "login kept the pre-login token")?;
    check(cookie.http_only() == Some(true), "the cookie is HttpOnly")?;
    let life = lasts(&cookie).ok_or("the session cookie has an expiry")?;
    check(
        life <= Duration::from_secs(2 * 3600),
        format!("without remember me the cookie lasts the idle timeout, not {life:?}"),
    )?;
    let text = ada.text().await?;
    check(text.contains("Welcome, ada!"), format!("welcome: {text}"))?;
    check(
        text.contains("Signed in as ada"),
        format!("signed in: {text}"),
    )?;
    ada.shot("03-signed-in").await?;
    ada.goto("/").await?;
    check(
        !ada.text().await?.contains("Welcome, ada!"),
        "the welcome showed twice",
    )?;

    // 4. Profile errors, with the input kept.
    ada.goto("/profile").await?;
    ada.type_into("#name", "").await?;
    ada.type_into("#email", "not-an-address").await?;
    ada.click("#save", "#email-error").await?;
    check(ada.value("#email").await? == "not-an-address", "email kept")?;
    let text = ada.text().await?;
    check(
        text.contains("Enter your name.") && text.contains("Enter an email address"),
        format!("profile errors: {text}"),
    )?;
    ada.shot("04-profile-errors").await?;
    ada.type_into("#name", "Ada Lovelace").await?;
    ada.type_into("#email", "ada@example.com").await?;
    ada.click("#save", ".status").await?;
    check(
        ada.text().await?.contains("Profile saved!"),
        "profile saved",
    )?;

    // 5. Logout, then Back: nothing of the signed-in pages comes back from the cache.
    ada.click("#logout", "#who").await?;
    let text = ada.text().await?;
    check(
        text.contains("You have been logged out.") && !text.contains("Signed in as"),
        format!("logged out: {text}"),
    )?;
    ada.shot("05-logged-out").await?;
    ada.client.back().await.map_err(|e| format!("back: {e}"))?;
    ada.find("main").await?;
    let text = ada.text().await?;
    check(
        !text.contains("Ada Lovelace")
            && !text.contains("ada@example.com")
            && !text.contains("Signed in as")
            && !text.contains("Log out"),
        format!("Back after logout shows signed-in content: {text}"),
    )?;
    // The profile page was fetched again (it is never cached) and sent the visitor to log in.
    check(
        text.contains("Log in first."),
        format!("Back after logout came from the cache: {text}"),
    )?;
    ada.shot("06-back-after-logout").await?;

    // 6. Remember me: the cookie lasts thirty days.
    ada.log_in("ada", true).await?;
    let life = lasts(&ada.cookie().await?).ok_or("a remembered cookie has an expiry")?;
    check(
        life > Duration::from_secs(29 * 24 * 3600) && life <= session_demo::REMEMBER_FOR,
        format!("remember me keeps the cookie 30 days, not {life:?}"),
    )?;
    ada.shot("07-remembered").await?;

    // 7. A second browser profile gets its own session, then signs in as the same user.
    let other = Person::open(driver, chromium, &base, "second browser").await?;
    other.goto("/").await?;
    check(
        other.find("#visits").await?.text().await? == "1",
        "the second browser shares a session",
    )?;
    check(
        !other.text().await?.contains("Signed in as"),
        "the second browser is signed in without logging in",
    )?;
    other.log_in("ada", false).await?;
    other.shot("08-second-browser").await?;
    check(
        store.list_by_owner("ada").await?.len() == 2,
        "two sessions of ada",
    )?;

    // 8. The sessions page lists both; "log out other devices" ends the other one.
    ada.goto("/sessions").await?;
    let rows = ada
        .client
        .find_all(Locator::Css("#devices tbody tr"))
        .await
        .map_err(|e| format!("device rows: {e}"))?;
    check(
        rows.len() == 2,
        format!("{} devices listed, not 2", rows.len()),
    )?;
    let text = ada.text().await?;
    check(
        text.contains("this device") && text.contains("Headless Chrome on Linux"),
        format!("devices: {text}"),
    )?;
    ada.shot("09-your-sessions").await?;
    ada.click("#logout-others", ".status").await?;
    check(
        ada.text().await?.contains("Logged out 1 other device."),
        "logged out the other device",
    )?;
    let rows = ada
        .client
        .find_all(Locator::Css("#devices tbody tr"))
        .await
        .map_err(|e| format!("device rows: {e}"))?;
    check(rows.len() == 1, "the other device is still listed")?;
    ada.shot("10-other-devices-logged-out").await?;
    other.goto("/").await?;
    check(
        !other.text().await?.contains("Signed in as"),
        "the other device is still signed in",
    )?;
    other.shot("11-other-device-signed-out").await?;

    // 9. On a phone-sized window the page fits: no sideways scrolling.
    ada.client
        .set_window_size(390, 844)
        .await
        .map_err(|e| format!("resize: {e}"))?;
    ada.goto("/profile").await?;
    let width = ada
        .client
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .map_err(|e| format!("measure: {e}"))?;
    let inner = ada
        .client
        .execute("return window.innerWidth", vec![])
        .await
        .map_err(|e| format!("measure: {e}"))?;
    check(
        width
            .as_u64()
            .zip(inner.as_u64())
            .is_some_and(|(w, i)| w <= i),
        format!("the page is {width} px wide in a {inner} px window"),
    )?;
    ada.shot("12-phone").await?;

    let _ = other.client.close().await;
    let _ = ada.client.close().await;
    Ok(())
}
