//! A console client over reqwest: signs in through the form as a browser would, keeps the
//! session cookie, and reads the CSRF token from the pages.

use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;

use super::server::Server;

/// A client that does not follow redirects, so that tests see them.
pub fn client() -> Client {
    Client::builder().redirect(Policy::none()).timeout(std::time::Duration::from_secs(30)).build().unwrap()
}

/// The value of `name="csrf"` in a page.
pub fn csrf(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).unwrap_or_else(|| panic!("no CSRF field in {page}"));
    let rest = &page[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The `name=value` of the cookie `name` a response sets, and the whole `Set-Cookie` line.
pub fn set_cookie(response: &Response, name: &str) -> Option<(String, String)> {
    response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        let pair = line.split(';').next()?.trim();
        pair.starts_with(&format!("{name}=")).then(|| (pair.to_owned(), line.to_owned()))
    })
}

/// A signed-in console session.
pub struct Session {
    pub client: Client,
    pub base: String,
    /// `provhost_console=TOKEN`.
    pub cookie: String,
}

/// Sends the sign-in form for `key` (`KEY_ID:SECRET`) as a browser would: the form's own token and
/// cookie from the sign-in page.
pub fn sign_in_answer(server: &Server, key: &str, headers: &[(&str, &str)]) -> Response {
    let client = client();
    let page = client.get(server.url("/console/signin")).send().unwrap();
    let (form_cookie, _) = set_cookie(&page, "provhost_console_signin").expect("the sign-in page sets its cookie");
    let token = csrf(&page.text().unwrap());
    let (id, secret) = key.split_once(':').unwrap();
    let mut request = client.post(server.url("/console/signin")).header("cookie", form_cookie).form(&[
        ("csrf", token.as_str()),
        ("key_id", id),
        ("secret", secret),
    ]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().unwrap()
}

/// Signs in with `key`.
pub fn sign_in(server: &Server, key: &str) -> Session {
    let answer = sign_in_answer(server, key, &[]);
    assert_eq!(answer.status(), 303, "sign-in with {key}: {}", answer.text().unwrap_or_default());
    let (cookie, _) = set_cookie(&answer, "provhost_console").expect("a session cookie");
    Session { client: client(), base: server.base.clone(), cookie }
}

impl Session {
    /// `GET path`: the status and the page.
    pub fn get(&self, path: &str) -> (u16, String) {
        let r = self.client.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    }

    /// `POST path` with `fields`: the status and the page.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(fields)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    }

    /// `POST path` as a form with a file (`multipart/form-data`), as a browser sends one: `fields`,
    /// then `file` as the file field `name`; the status and the page.
    pub fn upload(&self, path: &str, fields: &[(&str, &str)], (name, file): (&str, &[u8])) -> (u16, String) {
        const BOUNDARY: &str = "----provhost-test-boundary-7c1f";
        let mut body = Vec::new();
        for (field, value) in fields {
            body.extend(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n").bytes(),
            );
        }
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"new.wasm\"\r\n\
                 Content-Type: application/wasm\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(file);
        body.extend(format!("\r\n--{BOUNDARY}--\r\n").bytes());
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .timeout(std::time::Duration::from_secs(120))
            .body(body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    }

    /// The CSRF token of this session, read from a page.
    pub fn csrf(&self) -> String {
        csrf(&self.get("/console").1)
    }
}
