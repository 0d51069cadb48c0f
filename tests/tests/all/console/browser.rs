//! A browser without JavaScript: cookies kept by hand, redirects looked at
//! before they are followed, forms filled in from the page.

use omnify_tests::platforms::{PlatformHost, TENANT};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

/// The session cookie.
pub const SESSION: &str = "omnify_console";
/// The sign-in form's cookie.
pub const SIGN_IN: &str = "omnify_console_sign_in";

/// A page as the browser got it.
#[derive(Debug)]
pub struct Page {
    /// Its status.
    pub status: u16,
    /// Its headers.
    pub headers: reqwest::header::HeaderMap,
    /// Its body.
    pub text: String,
}

impl Page {
    /// Where a redirect points.
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `Set-Cookie` header that sets `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .text
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field in {}", self.text))
            + marker.len();
        let end = self.text[start..].find('"').expect("the field ends") + start;
        self.text[start..end].to_string()
    }
}

/// The value of a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> String {
    let (_, rest) = set_cookie.split_once('=').expect("name=value");
    rest.split(';').next().unwrap_or_default().to_string()
}

/// A browser with its cookies: one console session at a time.
pub struct Browser {
    base: String,
    /// The HTTP client (no redirects followed).
    pub client: reqwest::Client,
    /// The session cookie's value, once signed in.
    pub session: Option<String>,
}

impl Browser {
    /// A browser for the host at `base`, signed out.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            // Redirects are looked at, then followed by hand.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            session: None,
        }
    }

    /// Send `request` with the session cookie and `cookies`.
    pub async fn send(&self, request: reqwest::RequestBuilder, cookies: &[(&str, &str)]) -> Page {
        let mut jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(session) = &self.session {
            jar.push(format!("{SESSION}={session}"));
        }
        let request = if jar.is_empty() {
            request
        } else {
            request.header(COOKIE, jar.join("; "))
        };
        let response = request.send().await.expect("the host answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        Page {
            status,
            headers,
            text,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(format!("{}{path}", self.base)), &[])
            .await
    }

    /// `POST path` with form `fields`.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self.client.post(format!("{}{path}", self.base)).form(fields);
        self.send(request, &[]).await
    }

    /// Fill in and send the sign-in form with `key`, keeping the session
    /// cookie it sets.
    pub async fn sign_in(&mut self, key: &str) -> Page {
        let form = self.get("/console/sign-in").await;
        assert_eq!(form.status, 200, "{}", form.text);
        let token = cookie_value(&form.set_cookie(SIGN_IN).expect("the form's cookie"));
        assert_eq!(form.csrf(), token, "the form carries its cookie's token");
        let request = self
            .client
            .post(format!("{}/console/sign-in", self.base))
            .form(&[("key", key), ("csrf", token.as_str())]);
        let page = self.send(request, &[(SIGN_IN, &token)]).await;
        if let Some(set) = page.set_cookie(SESSION) {
            self.session = Some(cookie_value(&set));
        }
        page
    }

    /// Sign in and open the inbox of [`TENANT`]; returns it.
    pub async fn sign_in_to_inbox(&mut self, key: &str) -> Page {
        let signed_in = self.sign_in(key).await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.text);
        assert_eq!(signed_in.location(), "/console");
        let home = self.get("/console").await;
        assert_eq!(home.status, 303, "{}", home.text);
        assert_eq!(home.location(), format!("/console/tenants/{TENANT}/inbox"));
        let inbox = self.get(home.location()).await;
        assert_eq!(inbox.status, 200, "{}", inbox.text);
        inbox
    }
}

/// A key of [`TENANT`] with `role`: the key and its id.
pub async fn key(env: &PlatformHost, role: &str) -> (String, String) {
    env.host.create_key(&env.admin, TENANT, role).await
}

/// The inbox of [`TENANT`].
pub fn inbox_path() -> String {
    format!("/console/tenants/{TENANT}/inbox")
}

/// The form action deciding proposal `id` (`approve` or `reject`).
pub fn decide_path(id: &str, decision: &str) -> String {
    format!("/console/tenants/{TENANT}/proposals/{id}/{decision}")
}

/// The id of a proposal of the API.
pub fn id_of(proposal: &Value) -> String {
    proposal["id"].as_str().expect("an id").to_string()
}
