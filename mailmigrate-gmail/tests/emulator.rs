//! The emulator on the wire, without the client: request shapes checked against the
//! discovery document, label rules, paging, stale history ids, quota answers.
#![cfg(feature = "emulator")]

use std::time::Duration;

use mailmigrate_gmail::emulator::{Emulator, EmulatorHandle, Quota};
use serde_json::{json, Value};

const USER: &str = "ada@example.com";

async fn token(emu: &EmulatorHandle, http: &reqwest::Client) -> String {
    let r = http
        .post(emu.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &emu.client_id()),
            ("client_secret", &emu.client_secret()),
            ("refresh_token", &emu.refresh_token(USER)),
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

async fn get(http: &reqwest::Client, token: &str, url: String) -> (u16, Value) {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn reason(v: &Value) -> &str {
    v["error"]["errors"][0]["reason"].as_str().unwrap_or("")
}

#[tokio::test]
async fn requests_are_checked_against_the_discovery_document() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let http = reqwest::Client::new();
    let t = token(&emu, &http).await;
    let base = format!("{}/gmail/v1/users/me", emu.base_url());
    let (s, v) = get(&http, &t, format!("{base}/messages/abc?format=RAW")).await;
    assert_eq!((s, reason(&v)), (400, "invalidArgument"), "{v}");
    let (s, v) = get(&http, &t, format!("{base}/messages?labelIdz=INBOX")).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Unknown name"));
    let (s, v) = get(&http, &t, format!("{base}/messages?q=from:bob")).await;
    assert_eq!(s, 400, "only rfc822msgid: is understood: {v}");
    let (s, v) = get(&http, &t, format!("{base}/messages/zz-not-hex")).await;
    assert_eq!(
        (s, v["error"]["message"].as_str()),
        (400, Some("Invalid id value"))
    );
    let (s, v) = get(&http, &t, format!("{base}/messages/0123abcd")).await;
    assert_eq!(
        (s, reason(&v), v["error"]["status"].as_str()),
        (404, "notFound", Some("NOT_FOUND"))
    );
    let (s, v) = get(&http, "wrong", format!("{base}/labels")).await;
    assert_eq!((s, reason(&v)), (401, "authError"));
    let (s, _) = get(
        &http,
        &t,
        format!("{}/gmail/v1/users/eve@example.com/labels", emu.base_url()),
    )
    .await;
    assert_eq!(s, 403);
    emu.shutdown().await;
}

#[tokio::test]
async fn labels_follow_gmail_rules() {
    let emu = Emulator::builder()
        .user(USER)
        .label_cap(3)
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let t = token(&emu, &http).await;
    let url = format!("{}/gmail/v1/users/me/labels", emu.base_url());
    let create = |name: &str| {
        http.post(&url)
            .bearer_auth(&t)
            .json(&json!({"name": name}))
            .send()
    };
    assert_eq!(
        create("inbox").await.unwrap().status(),
        400,
        "a system label's name"
    );
    assert_eq!(
        create("Muted").await.unwrap().status(),
        400,
        "observed reserved name"
    );
    assert_eq!(create("a").await.unwrap().status(), 200);
    assert_eq!(
        create("A").await.unwrap().status(),
        409,
        "names conflict case-insensitively"
    );
    assert_eq!(create("b/c").await.unwrap().status(), 200);
    let labels = emu.labels(USER);
    assert!(
        !labels.iter().find(|l| l.name == "b/c").unwrap().nested,
        "no parent b"
    );
    assert_eq!(create("d").await.unwrap().status(), 200);
    assert_eq!(create("e").await.unwrap().status(), 400, "over the cap");
    emu.shutdown().await;
}

#[tokio::test]
async fn listings_page_by_at_most_500_and_history_goes_stale() {
    let emu = Emulator::builder()
        .user(USER)
        .quota(Quota::default().with_units_per_window(1_000_000, Duration::from_secs(60)))
        .start()
        .await
        .unwrap();
    for i in 0..520 {
        emu.seed_message(
            USER,
            format!("Subject: {i}\r\n\r\n{i}\r\n").as_bytes(),
            &["INBOX"],
            i,
        );
    }
    let http = reqwest::Client::new();
    let t = token(&emu, &http).await;
    let base = format!("{}/gmail/v1/users/me", emu.base_url());
    let (_, page) = get(&http, &t, format!("{base}/messages?maxResults=1000")).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 500);
    let next = page["nextPageToken"].as_str().unwrap();
    let (_, rest) = get(
        &http,
        &t,
        format!("{base}/messages?maxResults=1000&pageToken={next}"),
    )
    .await;
    assert_eq!(rest["messages"].as_array().unwrap().len(), 20);
    assert!(rest.get("nextPageToken").is_none());
    let (_, profile) = get(&http, &t, format!("{base}/profile")).await;
    let h = profile["historyId"].as_str().unwrap().to_owned();
    let (s, v) = get(&http, &t, format!("{base}/history?startHistoryId={h}")).await;
    assert_eq!(s, 200);
    assert!(v.get("history").is_none());
    emu.expire_history(USER);
    let (s, v) = get(&http, &t, format!("{base}/history?startHistoryId={h}")).await;
    assert_eq!((s, reason(&v)), (404, "notFound"));
    emu.shutdown().await;
}

#[tokio::test]
async fn the_quota_answers_with_googles_envelope() {
    let emu = Emulator::builder()
        .user(USER)
        .quota(Quota::default().with_units_per_window(10, Duration::from_secs(60)))
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let t = token(&emu, &http).await;
    let url = format!("{}/gmail/v1/users/me/messages", emu.base_url());
    assert_eq!(get(&http, &t, url.clone()).await.0, 200);
    assert_eq!(get(&http, &t, url.clone()).await.0, 200);
    let (s, v) = get(&http, &t, url).await;
    assert_eq!((s, reason(&v)), (403, "userRateLimitExceeded"), "{v}");
    assert_eq!(v["error"]["errors"][0]["domain"], "usageLimits");
    assert_eq!(emu.stats().units[USER], 10, "refused calls are not charged");
    emu.shutdown().await;
}

#[tokio::test]
async fn import_honours_its_parameters() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let http = reqwest::Client::new();
    let t = token(&emu, &http).await;
    let raw = "From: a@example.org\r\nDate: Tue, 01 Jan 2019 00:00:00 +0000\r\nX-Spam-Flag: YES\r\n\r\nhi\r\n";
    let url = |q: &str| {
        format!(
            "{}/upload/gmail/v1/users/me/messages/import?uploadType=media{q}",
            emu.base_url()
        )
    };
    let send = |u: String| {
        http.post(u)
            .bearer_auth(&t)
            .header("content-type", "message/rfc822")
            .body(raw)
            .send()
    };
    let r: Value = send(url("")).await.unwrap().json().await.unwrap();
    assert!(
        r["labelIds"].as_array().unwrap().contains(&json!("SPAM")),
        "classified without neverMarkSpam"
    );
    let r: Value = send(url("&neverMarkSpam=true&internalDateSource=receivedTime"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["labelIds"].as_array().unwrap().is_empty(), "{r}");
    let stored = emu.messages(USER);
    let by_header = stored
        .iter()
        .find(|m| m.label_ids.contains("SPAM"))
        .unwrap();
    assert_eq!(
        by_header.internal_date, 1_546_300_800_000,
        "dateHeader is the default"
    );
    let bad = http
        .post(url(""))
        .bearer_auth(&t)
        .header("content-type", "text/plain")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "only message/* media");
    emu.shutdown().await;
}
