//! What the emulator tests share: a started emulator with one mailbox, a token, and
//! requests with it.
#![allow(dead_code, reason = "each test binary uses its own part")]

use mailmigrate_graph::emulator::{EmulatorBuilder, EmulatorHandle};
use serde_json::Value;

pub(crate) const UPN: &str = "ada@example.com";

pub(crate) struct T {
    pub(crate) emu: EmulatorHandle,
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
}

pub(crate) async fn token(emu: &EmulatorHandle, http: &reqwest::Client) -> String {
    let r = http
        .post(emu.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &emu.client_id()),
            ("client_secret", &emu.client_secret()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn setup(b: EmulatorBuilder) -> T {
    let emu = b.mailbox(UPN).start().await.unwrap();
    let http = reqwest::Client::new();
    let token = token(&emu, &http).await;
    T { emu, http, token }
}

impl T {
    pub(crate) fn url(&self, p: &str) -> String {
        if p.starts_with("http") {
            p.to_owned()
        } else {
            format!("{}{p}", self.emu.graph_url())
        }
    }
    pub(crate) async fn get(&self, p: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(p))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
    pub(crate) async fn post(&self, p: &str, v: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(p))
            .bearer_auth(&self.token)
            .json(v)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

pub(crate) fn assert_envelope(v: &Value, code: &str) {
    let e = &v["error"];
    assert_eq!(e["code"], code, "{v}");
    assert!(e["message"].is_string());
    let inner = &e["innerError"];
    assert!(inner["date"].is_string());
    assert!(inner["request-id"].is_string());
    assert!(inner["client-request-id"].is_string());
}
