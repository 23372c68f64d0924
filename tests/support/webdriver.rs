//! A small W3C WebDriver client over reqwest, for Debian's chromedriver driving headless
//! chromium: a session, navigation, elements found by CSS or XPath, typing, clicks, scripts and
//! screenshots. chromedriver is started on a free loopback port and stopped when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The key of an element reference in WebDriver's answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for an element or a page may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// The keys WebDriver types for Tab and Enter.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

/// chromedriver and one browser session of it; both end when dropped.
pub struct Browser {
    driver: Child,
    http: reqwest::blocking::Client,
    session: String,
}

/// How to find an element.
#[derive(Clone, Copy)]
pub enum By<'a> {
    Css(&'a str),
    XPath(&'a str),
}

/// An element of the page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless chromium session of 1280×900.
    pub fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: run scripts/browser.sh (Debian's chromium and chromium-driver)");
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let capabilities = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
        } } } });
        let started = Instant::now();
        let session = loop {
            match http.post(format!("{base}/session")).json(&capabilities).send() {
                Ok(answer) => {
                    let body: Value = answer.json().unwrap();
                    let id = body["value"]["sessionId"].as_str();
                    break id.unwrap_or_else(|| panic!("chromedriver did not start a session: {body}")).to_owned();
                }
                Err(e) if started.elapsed() < PATIENCE => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("chromedriver did not answer on {base}: {e}"),
            }
        };
        Browser { driver, http, session: format!("{base}/session/{session}") }
    }

    /// A WebDriver command: `method` on the session's `path` with `body`; the answer's `value`.
    fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().unwrap();
        let ok = answer.status().is_success();
        let value: Value = answer.json::<Value>().unwrap()["value"].take();
        if ok { Ok(value) } else { Err(value) }
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Loads `url` and waits until it is loaded.
    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    fn locator(by: By) -> Value {
        match by {
            By::Css(css) => json!({ "using": "css selector", "value": css }),
            By::XPath(xpath) => json!({ "using": "xpath", "value": xpath }),
        }
    }

    /// Every element `by` finds now.
    pub fn find_all(&self, by: By) -> Vec<Element<'_>> {
        let found = self.post("/elements", Self::locator(by));
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| Element { browser: self, id: e[ELEMENT].as_str().unwrap().to_owned() })
            .collect()
    }

    /// The element `by` finds, waiting until the page shows it.
    pub fn find(&self, by: By) -> Element<'_> {
        let started = Instant::now();
        loop {
            match self.command(reqwest::Method::POST, "/element", Some(Self::locator(by))) {
                Ok(found) => return Element { browser: self, id: found[ELEMENT].as_str().unwrap().to_owned() },
                Err(e) if started.elapsed() > PATIENCE => {
                    panic!("{} never showed: {e}\n{}", Self::locator(by), self.text())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Runs `script` in the page with `args`; what it returns.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// The text the page shows.
    pub fn text(&self) -> String {
        self.execute("return document.body ? document.body.innerText : ''", vec![]).as_str().unwrap_or("").to_owned()
    }

    /// A PNG of what the window shows.
    pub fn screenshot(&self) -> Vec<u8> {
        let data = self.get("/screenshot");
        base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap()
    }
}

impl Element<'_> {
    /// Types `text` into it.
    pub fn send_keys(&self, text: &str) {
        self.browser.post(&format!("/element/{}/value", self.id), json!({ "text": text }));
    }

    /// Clicks it.
    pub fn click(&self) {
        self.browser.post(&format!("/element/{}/click", self.id), json!({}));
    }

    /// The value of its attribute `name`.
    pub fn attr(&self, name: &str) -> Option<String> {
        self.browser.get(&format!("/element/{}/attribute/{name}", self.id)).as_str().map(str::to_owned)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.command(reqwest::Method::DELETE, "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
