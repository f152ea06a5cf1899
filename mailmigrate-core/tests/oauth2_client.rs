//! `OAuth2Client` and `CachingTokenProvider` against a tiny token endpoint on 127.0.0.1.
//!
//! The endpoint records every request and answers from a script, so the tests count
//! fetches instead of timing them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailmigrate_core::auth::{
    CachingTokenProvider, OAuth2Client, OAuth2Grant, TokenProvider, TokenSource,
};
use mailmigrate_core::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CLIENT_SECRET: &str = "client-secret-8f3a";
const REFRESH_TOKEN: &str = "refresh-token-51c2";

/// One request the endpoint received.
#[derive(Debug, Clone)]
struct Seen {
    headers: String,
    body: String,
}

/// An answer: status, extra header lines, body.
type Answer = (u16, &'static str, String);

struct Endpoint {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Endpoint {
    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Starts an endpoint answering request `n` (from 0) with `answer(n)`.
async fn endpoint(answer: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer = Arc::new(answer);
    let count = Arc::new(AtomicUsize::new(0));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let (log, answer, count) = (Arc::clone(&log), Arc::clone(&answer), Arc::clone(&count));
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = sock.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = sock.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                log.lock().unwrap().push(Seen {
                    headers: String::from_utf8_lossy(&buf[..head_end]).into_owned(),
                    body: String::from_utf8_lossy(&buf[head_end..]).into_owned(),
                });
                let n = count.fetch_add(1, Ordering::SeqCst);
                // Slow enough that concurrent callers pile up behind one request.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let (status, extra, body) = answer(n);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Endpoint { url, seen }
}

fn token(n: usize, expires_in: u64) -> Answer {
    (
        200,
        "",
        format!(
            r#"{{"access_token":"access-{n}","token_type":"Bearer","expires_in":{expires_in}}}"#
        ),
    )
}

fn refresh_client(url: &str) -> OAuth2Client {
    OAuth2Client::builder(url, "client-1")
        .with_client_secret(CLIENT_SECRET)
        .with_scopes(["mail.read", "offline_access"])
        .with_grant(OAuth2Grant::refresh_token(REFRESH_TOKEN))
        .allow_http_loopback(true)
        .build()
        .unwrap()
}

/// Neither secret appears in `text`.
fn assert_no_secret(text: &str) {
    for s in [CLIENT_SECRET, REFRESH_TOKEN, "access-", "echoed-secret"] {
        assert!(!text.contains(s), "{s} leaked into: {text}");
    }
}

#[tokio::test]
async fn the_refresh_grant_sends_the_refresh_token_and_scopes() {
    let ep = endpoint(|n| token(n, 3600)).await;
    let t = refresh_client(&ep.url).fetch().await.unwrap();
    assert_eq!(t.secret().expose_secret(), "access-0");
    assert!(t.expires_at().is_some());
    let req = &ep.requests()[0];
    assert!(req.headers.starts_with("POST /token "), "{req:?}");
    assert!(req.body.contains("grant_type=refresh_token"), "{req:?}");
    assert!(
        req.body.contains(&format!("refresh_token={REFRESH_TOKEN}")),
        "{req:?}"
    );
    assert!(
        req.body.contains("scope=mail.read+offline_access"),
        "{req:?}"
    );
    // The client authenticates with HTTP Basic by default, not in the body.
    assert!(
        req.headers
            .to_ascii_lowercase()
            .contains("authorization: basic "),
        "{req:?}"
    );
    assert!(!req.body.contains(CLIENT_SECRET), "{req:?}");
}

#[tokio::test]
async fn the_client_credentials_grant_sends_grant_type_and_scope() {
    let ep = endpoint(|n| token(n, 3600)).await;
    let client = OAuth2Client::builder(&ep.url, "client-1")
        .with_client_secret(CLIENT_SECRET)
        .with_scopes(["https://graph.microsoft.com/.default"])
        .with_grant(OAuth2Grant::ClientCredentials)
        .with_credentials_in_body()
        .allow_http_loopback(true)
        .build()
        .unwrap();
    client.fetch().await.unwrap();
    let req = &ep.requests()[0];
    assert!(
        req.body.contains("grant_type=client_credentials"),
        "{req:?}"
    );
    assert!(
        req.body
            .contains("scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"),
        "{req:?}"
    );
    assert!(req.body.contains("client_id=client-1"), "{req:?}");
    assert!(
        req.body.contains(&format!("client_secret={CLIENT_SECRET}")),
        "{req:?}"
    );
    assert!(client.refresh_token().is_none());
}

#[tokio::test]
async fn a_rotated_refresh_token_is_used_next_time() {
    let ep = endpoint(|n| {
        (
            200,
            "",
            format!(
                r#"{{"access_token":"access-{n}","token_type":"Bearer","expires_in":3600,"refresh_token":"rotated-{n}"}}"#
            ),
        )
    })
    .await;
    let client = refresh_client(&ep.url);
    client.fetch().await.unwrap();
    assert_eq!(client.refresh_token().unwrap().expose_secret(), "rotated-0");
    client.fetch().await.unwrap();
    assert!(ep.requests()[1].body.contains("refresh_token=rotated-0"));
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    // Tokens live 2 s and are renewed 1 s before expiry: the second call is served from the
    // cache, a call after the margin is reached fetches again. Only counts are asserted.
    let ep = endpoint(|n| token(n, 2)).await;
    let p = CachingTokenProvider::new(refresh_client(&ep.url))
        .with_refresh_margin(Duration::from_secs(1));
    let first = p.token().await.unwrap();
    assert_eq!(p.token().await.unwrap().secret(), first.secret());
    assert_eq!(ep.requests().len(), 1);
    let expires = first.expires_at().unwrap();
    // Wait until the token is within the margin of its expiry (it is still valid).
    tokio::time::sleep_until((expires - Duration::from_millis(900)).into()).await;
    let second = p.token().await.unwrap();
    assert_eq!(second.secret().expose_secret(), "access-1");
    assert_eq!(ep.requests().len(), 2);
}

#[tokio::test]
async fn fifty_concurrent_callers_cause_one_request() {
    let ep = endpoint(|n| token(n, 3600)).await;
    let p = Arc::new(CachingTokenProvider::new(refresh_client(&ep.url)));
    let calls = (0..50).map(|_| {
        let p = Arc::clone(&p);
        tokio::spawn(async move { p.token().await.unwrap() })
    });
    for t in futures::future::join_all(calls).await {
        assert_eq!(t.unwrap().secret().expose_secret(), "access-0");
    }
    assert_eq!(ep.requests().len(), 1);
}

#[tokio::test]
async fn invalid_grant_is_permanent_unauthenticated() {
    let ep = endpoint(|_| {
        (
            400,
            "",
            format!(
                r#"{{"error":"invalid_grant","error_description":"token {REFRESH_TOKEN} was revoked (echoed-secret)"}}"#
            ),
        )
    })
    .await;
    let e = refresh_client(&ep.url).fetch().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e:?}");
    assert!(!e.is_temporary(), "{e:?}");
    assert!(e.to_string().contains("invalid_grant"), "{e}");
    assert_no_secret(&format!("{e:?} {e}"));
}

#[tokio::test]
async fn server_errors_are_temporary_and_429_keeps_its_hint() {
    let ep = endpoint(|n| match n {
        0 => (
            500,
            "",
            format!("internal error for {CLIENT_SECRET} echoed-secret"),
        ),
        _ => (429, "retry-after: 7\r\n", r#"{"error":"slow"}"#.to_owned()),
    })
    .await;
    let client = refresh_client(&ep.url);
    let e = client.fetch().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e:?}");
    assert!(e.is_temporary(), "{e:?}");
    assert_no_secret(&format!("{e:?}"));
    let e = client.fetch().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn a_garbled_answer_names_no_secret() {
    let ep = endpoint(|_| {
        (
            200,
            "",
            format!("{{\"access_token\": [\"{CLIENT_SECRET}\"]}}"),
        )
    })
    .await;
    let e = refresh_client(&ep.url).fetch().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unexpected, "{e:?}");
    assert_no_secret(&format!("{e:?}"));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_temporary() {
    // Bind and drop a listener: nothing listens on the port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = refresh_client(&format!("http://127.0.0.1:{port}/token"))
        .fetch()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e:?}");
    assert!(e.is_temporary());
}

#[tokio::test]
async fn nothing_prints_a_secret() {
    let ep = endpoint(|n| token(n, 3600)).await;
    let p = CachingTokenProvider::new(refresh_client(&ep.url));
    let t = p.token().await.unwrap();
    assert_no_secret(&format!("{t:?} {:?} {p:?} {:?}", t.secret(), p.source()));
}
