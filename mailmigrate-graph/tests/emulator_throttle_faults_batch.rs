//! Emulator: throttling, injected faults, and $batch.
#![cfg(feature = "emulator")]

use std::time::Duration;

use mailmigrate_graph::emulator::{Emulator, Limits, Seed};
use serde_json::{json, Value};

mod common;
use common::*;

#[tokio::test]
async fn five_concurrent_requests_meet_application_throttled() {
    let t = setup(
        Emulator::builder()
            .latency(Duration::from_millis(300))
            .limits(Limits::default().with_retry_after(Duration::from_millis(2128))),
    )
    .await;
    let url = t.url(&format!("/users/{UPN}/mailFolders"));
    let futs = (0..5).map(|_| t.http.get(&url).bearer_auth(&t.token).send());
    let responses = futures::future::join_all(futs).await;
    let mut throttled = 0;
    for r in responses {
        let r = r.unwrap();
        if r.status() == 429 {
            throttled += 1;
            assert_eq!(r.headers()["retry-after"], "2.128");
            let v: Value = r.json().await.unwrap();
            assert_envelope(&v, "ApplicationThrottled");
            assert_eq!(
                v["error"]["message"],
                "Application is over its MailboxConcurrency limit."
            );
        } else {
            assert_eq!(r.status(), 200);
        }
    }
    assert!(throttled >= 1);
    let stats = t.emu.stats();
    assert_eq!(stats.max_concurrent[UPN], 5);
    assert_eq!(stats.requests[UPN], 5);
    assert!(stats.throttled >= 1);
    // Four at a time stays clean.
    let t4 = setup(Emulator::builder().latency(Duration::from_millis(200))).await;
    let url = t4.url(&format!("/users/{UPN}/mailFolders"));
    let futs = (0..4).map(|_| t4.http.get(&url).bearer_auth(&t4.token).send());
    for r in futures::future::join_all(futs).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(t4.emu.stats().max_concurrent[UPN], 4);
}

#[tokio::test]
async fn request_window_gives_too_many_requests_and_throttled_requests_count() {
    let t = setup(
        Emulator::builder()
            .limits(Limits::default().with_requests_per_window(3, Duration::from_secs(60))),
    )
    .await;
    let path = format!("/users/{UPN}/mailFolders");
    for _ in 0..3 {
        assert_eq!(t.get(&path).await.0, 200);
    }
    let r = t
        .http
        .get(t.url(&path))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.unwrap();
    assert_envelope(&v, "TooManyRequests");
    assert_eq!(v["error"]["message"], "Please retry again later.");
    assert_eq!(v["error"]["innerError"]["code"], "429");
    assert_eq!(v["error"]["innerError"]["status"], "429");
    assert_eq!(t.emu.stats().requests[UPN], 4);
}

#[tokio::test]
async fn upload_budget_is_throttled() {
    let t = setup(
        Emulator::builder()
            .limits(Limits::default().with_upload_bytes_per_window(1500, Duration::from_secs(60))),
    )
    .await;
    let path = format!("/users/{UPN}/messages");
    let body = json!({"subject": "x".repeat(900)});
    assert_eq!(t.post(&path, &body).await.0, 201);
    let (s, v) = t.post(&path, &body).await;
    assert_eq!(s, 429);
    assert_envelope(&v, "TooManyRequests");
    assert_eq!(t.emu.messages(UPN).len(), 1);
    assert!(t.emu.stats().bytes_uploaded >= 900);
}

#[tokio::test]
async fn fail_next_and_fail_matching_answer_with_the_envelope() {
    let t = setup(Emulator::builder()).await;
    let path = format!("/users/{UPN}/mailFolders");
    t.emu.faults().fail_next(2, 503, "serviceNotAvailable");
    for _ in 0..2 {
        let (s, v) = t.get(&path).await;
        assert_eq!(s, 503);
        assert_envelope(&v, "serviceNotAvailable");
    }
    assert_eq!(t.get(&path).await.0, 200);
    t.emu
        .faults()
        .fail_matching("POST", "/messages", 1, 500, "generalException");
    assert_eq!(t.get(&path).await.0, 200, "GET does not match");
    let (s, _) = t
        .post(&format!("/users/{UPN}/messages"), &json!({"subject": "a"}))
        .await;
    assert_eq!(s, 500);
    assert!(
        t.emu.messages(UPN).is_empty(),
        "nothing happened server-side"
    );
    assert_eq!(
        t.post(&format!("/users/{UPN}/messages"), &json!({"subject": "a"}))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn throttle_next_sends_429_with_retry_after() {
    let t = setup(Emulator::builder()).await;
    t.emu.faults().throttle_next(1);
    let r = t
        .http
        .get(t.url(&format!("/users/{UPN}/mailFolders")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(t.emu.stats().throttled, 1);
    assert_eq!(t.get(&format!("/users/{UPN}/mailFolders")).await.0, 200);
}

#[tokio::test]
async fn drop_next_cuts_the_connection_before_anything_happens() {
    let t = setup(Emulator::builder()).await;
    t.emu.faults().drop_next(1);
    let err = t
        .http
        .post(t.url(&format!("/users/{UPN}/messages")))
        .bearer_auth(&t.token)
        .json(&json!({"subject": "dropped"}))
        .send()
        .await
        .unwrap_err();
    assert!(
        !err.is_status(),
        "a transport error, not an HTTP answer: {err}"
    );
    assert!(t.emu.messages(UPN).is_empty());
    assert_eq!(
        t.post(&format!("/users/{UPN}/messages"), &json!({"subject": "ok"}))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn lose_reply_next_creates_the_message_but_answers_nothing() {
    let t = setup(Emulator::builder()).await;
    t.emu.faults().lose_reply_matching("POST", "/messages", 1);
    let err = t
        .http
        .post(t.url(&format!("/users/{UPN}/messages")))
        .bearer_auth(&t.token)
        .json(&json!({"subject": "lost", "internetMessageId": "<lost@x>"}))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err}");
    let stored = t.emu.messages(UPN);
    assert_eq!(stored.len(), 1, "the message IS created");
    // The client can settle the unknown outcome by Message-ID.
    let (_, v) = t
        .get(&format!(
            "/users/{UPN}/messages?$filter=internetMessageId eq '<lost@x>'"
        ))
        .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn batch_shapes_dependencies_and_limits() {
    let t = setup(Emulator::builder()).await;
    let id = t
        .emu
        .seed_message(UPN, "Inbox", b"Subject: b\r\n\r\nx\r\n", Seed::default());
    let gone = t
        .emu
        .seed_message(UPN, "Inbox", b"Subject: gone\r\n\r\nx\r\n", Seed::default());
    t.emu.delete_message(UPN, &gone);
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("/users/{UPN}/mailFolders/inbox")},
        {"id": "2", "method": "GET", "url": format!("/users/{UPN}/messages/{id}?$select=subject")},
        {"id": "3", "method": "POST", "url": format!("/users/{UPN}/messages"), "headers": {"Content-Type": "application/json"}, "body": {"subject": "via batch"}},
        {"id": "4", "method": "GET", "url": format!("/users/{UPN}/messages/{gone}")},
    ]});
    let (s, v) = t.post("/$batch", &batch).await;
    assert_eq!(s, 200, "{v}");
    let responses = v["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 4);
    let by_id = |id: &str| responses.iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(by_id("1")["status"], 200);
    assert_eq!(by_id("1")["body"]["displayName"], "Inbox");
    assert!(by_id("1")["headers"].is_object());
    assert_eq!(by_id("2")["body"]["subject"], "b");
    assert_eq!(by_id("3")["status"], 201);
    assert_eq!(by_id("4")["status"], 404);
    assert_eq!(by_id("4")["body"]["error"]["code"], "ErrorItemNotFound");
    let order: Vec<&str> = responses
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_ne!(order, vec!["1", "2", "3", "4"], "reordered by default");

    // dependsOn: a failed dependency gives 424.
    let dep = json!({"requests": [
        {"id": "a", "method": "GET", "url": format!("/users/{UPN}/mailFolders/nosuchfolder")},
        {"id": "b", "method": "GET", "url": format!("/users/{UPN}/mailFolders/inbox"), "dependsOn": ["a"]},
    ]});
    let (_, v) = t.post("/$batch", &dep).await;
    let b = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "b")
        .unwrap()
        .clone();
    assert_eq!(b["status"], 424);

    // Duplicate ids (case-insensitive) and more than 20 requests: 400 for the whole batch.
    let dup = json!({"requests": [
        {"id": "x", "method": "GET", "url": "/users/ada@example.com/mailFolders"},
        {"id": "X", "method": "GET", "url": "/users/ada@example.com/mailFolders"},
    ]});
    assert_eq!(t.post("/$batch", &dup).await.0, 400);
    let many: Vec<Value> = (0..21).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users/ada@example.com/mailFolders"})).collect();
    assert_eq!(t.post("/$batch", &json!({"requests": many})).await.0, 400);
}

#[tokio::test]
async fn batch_inner_requests_are_throttled_individually() {
    let t = setup(
        Emulator::builder()
            .limits(Limits::default().with_requests_per_window(2, Duration::from_secs(60))),
    )
    .await;
    let reqs: Vec<Value> = (0..4)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{UPN}/mailFolders")}))
        .collect();
    let (s, v) = t.post("/$batch", &json!({"requests": reqs})).await;
    assert_eq!(s, 200);
    let responses = v["responses"].as_array().unwrap();
    let throttled: Vec<&Value> = responses.iter().filter(|r| r["status"] == 429).collect();
    assert_eq!(throttled.len(), 2);
    for r in throttled {
        assert!(r["headers"]["retry-after"].is_string(), "{r}");
        assert_eq!(r["body"]["error"]["code"], "TooManyRequests");
    }
    assert_eq!(t.emu.stats().requests[UPN], 4);
}
