//! Bearer tokens against a real server. Radicale takes only Basic credentials, so a small
//! reverse proxy in the test process stands in front of it as a resource server would
//! (RFC 6750): it lets through requests carrying a token it accepts, forwarding them to
//! Radicale with the account's Basic credentials, and refuses every other with `401` and
//! `WWW-Authenticate: Bearer error="invalid_token"`. The tokens come from a
//! [`CachingTokenProvider`] around a source that mints them, as an embedder would wire an
//! OAuth2 client.

mod common;

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use mailmigrate_core::auth::{AccessToken, CachingTokenProvider, TokenProvider, TokenSource};
use mailmigrate_core::pim::sync::{PimSync, PimSyncOptions};
use mailmigrate_core::pim::*;
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::testkit::pim::sample_contact;
use mailmigrate_core::ErrorKind;
use mailmigrate_dav::{DavBuilder, DavStore};

/// Every token minted starts with this, so a leak is easy to look for.
const TOKEN_PREFIX: &str = "mm-bearer-secret-";

/// What the proxy accepts and what it saw.
#[derive(Default)]
struct Gate {
    /// The tokens it lets through.
    accepted: HashSet<String>,
    /// Requests refused with 401.
    refused: usize,
    /// Requests forwarded to Radicale, by method.
    forwarded: Vec<Method>,
    /// After this many more PUTs are forwarded, every token accepted so far expires.
    expire_after_puts: Option<usize>,
}

/// The reverse proxy in front of Radicale.
struct Proxy {
    gate: Mutex<Gate>,
    /// Radicale's URL.
    upstream: reqwest::Url,
    user: String,
    password: String,
    http: reqwest::Client,
}

impl Proxy {
    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap()
    }

    /// Forwarded requests so far.
    fn forwarded(&self) -> usize {
        self.gate().forwarded.len()
    }

    /// Refused requests so far.
    fn refused(&self) -> usize {
        self.gate().refused
    }
}

/// The proxy's one handler: the token check, then the request as it came, to Radicale.
async fn gatekeeper(State(proxy): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    {
        let mut gate = proxy.gate();
        if !token.is_some_and(|t| gate.accepted.contains(t)) {
            gate.refused += 1;
            let challenge = if token.is_some() {
                r#"Bearer realm="mailmigrate-test", error="invalid_token", error_description="The access token expired""#
            } else {
                r#"Bearer realm="mailmigrate-test""#
            };
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header(WWW_AUTHENTICATE, challenge)
                .body(Body::from("invalid token"))
                .unwrap();
        }
        gate.forwarded.push(parts.method.clone());
        if parts.method == Method::PUT {
            if let Some(n) = gate.expire_after_puts.as_mut() {
                *n -= 1;
                if *n == 0 {
                    gate.expire_after_puts = None;
                    gate.accepted.clear();
                }
            }
        }
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = proxy.upstream.join(path).unwrap();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut out = proxy
        .http
        .request(parts.method, url)
        .basic_auth(&proxy.user, Some(&proxy.password))
        .body(body);
    for (k, v) in &parts.headers {
        if !matches!(
            k.as_str(),
            "host" | "authorization" | "content-length" | "connection" | "transfer-encoding"
        ) {
            out = out.header(k, v);
        }
    }
    let answer = match out.send().await {
        Ok(a) => a,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(e.to_string()))
                .unwrap()
        }
    };
    let mut resp = Response::builder().status(answer.status());
    for (k, v) in answer.headers() {
        if !matches!(
            k.as_str(),
            "content-length" | "connection" | "transfer-encoding"
        ) {
            resp = resp.header(k, v);
        }
    }
    resp.body(Body::from(answer.bytes().await.unwrap_or_default()))
        .unwrap()
}

/// Starts the proxy in front of the Radicale of `.ci/dav-servers.sh`; its URL and itself.
async fn start_proxy() -> Option<(String, Arc<Proxy>)> {
    let url = common::env("MAILMIGRATE_TEST_RADICALE_URL")?;
    let user = common::env("MAILMIGRATE_TEST_RADICALE_USER")?;
    let password = common::env("MAILMIGRATE_TEST_RADICALE_PASSWORD")?;
    let proxy = Arc::new(Proxy {
        gate: Mutex::new(Gate::default()),
        upstream: reqwest::Url::parse(&url).unwrap(),
        user,
        password,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    });
    let app = axum::Router::new()
        .fallback(gatekeeper)
        .with_state(Arc::clone(&proxy));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Some((format!("http://{addr}/"), proxy))
}

/// Mints tokens, registering each with the proxy as accepted while `valid` (an
/// authorization server whose tokens the resource server knows).
struct Minting {
    proxy: Arc<Proxy>,
    run: String,
    minted: AtomicUsize,
    valid: AtomicBool,
}

impl fmt::Debug for Minting {
    // Not derived: the proxy's gate holds the tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minting")
            .field("minted", &self.minted)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenSource for Minting {
    async fn fetch(&self) -> mailmigrate_core::Result<AccessToken> {
        let n = self.minted.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("{TOKEN_PREFIX}{}-{n}", self.run);
        if self.valid.load(Ordering::SeqCst) {
            self.proxy.gate().accepted.insert(token.clone());
        }
        Ok(AccessToken::new(token).with_expires_in(Duration::from_secs(3600)))
    }
}

type Provider = CachingTokenProvider<Minting>;

/// A token provider whose tokens the proxy accepts when `valid`.
fn provider(proxy: &Arc<Proxy>, valid: bool) -> Arc<Provider> {
    Arc::new(CachingTokenProvider::new(Minting {
        proxy: Arc::clone(proxy),
        run: common::run_id(),
        minted: AtomicUsize::new(0),
        valid: AtomicBool::new(valid),
    }))
}

fn minted(p: &Provider) -> usize {
    p.source().minted.load(Ordering::SeqCst)
}

async fn connect(url: &str, p: &Arc<Provider>) -> mailmigrate_core::Result<DavStore> {
    let p: Arc<dyn TokenProvider> = Arc::<Provider>::clone(p);
    DavBuilder::new(url)
        .with_bearer(p)
        .allow_plaintext(true)
        .with_timeout(Duration::from_secs(30))
        .connect()
        .await
}

/// Fails when `text` shows a token.
fn assert_no_token(text: &str) {
    assert!(!text.contains(TOKEN_PREFIX), "a token shows: {text}");
}

#[tokio::test]
async fn bearer_tokens_from_a_provider_reach_the_server() {
    let Some((url, proxy)) = start_proxy().await else {
        return;
    };
    let p = provider(&proxy, true);
    let store = connect(&url, &p)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let run = common::run_id();
    let book = common::collection(&store, PimKind::Contacts, &format!("mm-bearer-{run}")).await;
    let uids: Vec<String> = (0..3).map(|n| format!("b{n}-{run}@example.com")).collect();
    let written: Vec<Written> = store
        .write_items(
            &book.id,
            uids.iter()
                .map(|u| ItemWrite::create(sample_contact(u)))
                .collect(),
            &WriteOptions::default(),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.unwrap_or_else(|e| panic!("write: {e}")))
        .collect();
    let read: Vec<_> = store
        .fetch_items(&book.id, written.iter().map(|w| w.id.clone()).collect())
        .collect()
        .await;
    let mut read_uids: Vec<_> = read
        .iter()
        .map(|(_, r)| r.as_ref().unwrap().uid().unwrap().to_owned())
        .collect();
    read_uids.sort();
    assert_eq!(read_uids, uids);
    assert_eq!(minted(&p), 1, "one token served the whole run");
    assert_eq!(proxy.refused(), 0);
    assert!(proxy.forwarded() >= 6, "{}", proxy.forwarded());
    assert_no_token(&format!("{store:?} {p:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed_once_and_the_run_goes_on() {
    let Some((url, proxy)) = start_proxy().await else {
        return;
    };
    let p = provider(&proxy, true);
    // Four writes in flight (the default): several may carry the token when it expires.
    let store = connect(&url, &p)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let run = common::run_id();
    let name = format!("mm-bearer-run-{run}");
    let src = MemoryPim::new("src");
    let book = src
        .ensure_collection(&Collection::new(
            CollectionId::new(&name),
            PimKind::Contacts,
            &name,
        ))
        .await
        .unwrap();
    let uids: Vec<String> = (0..12).map(|n| format!("r{n}-{run}@example.com")).collect();
    for w in src
        .write_items(
            &book.id,
            uids.iter()
                .map(|u| ItemWrite::create(sample_contact(u)))
                .collect(),
            &WriteOptions::default(),
        )
        .await
        .unwrap()
    {
        w.unwrap();
    }
    // The token expires at the server after the third item is stored.
    proxy.gate().expire_after_puts = Some(3);
    let state = MemoryState::new();
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        PimSync::new(&src, &store, &state, "bearer")
            .with_options(PimSyncOptions::default().with_kinds([PimKind::Contacts]))
            .run(),
    )
    .await
    .expect("the run ends")
    .expect("the run goes on");
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.totals().written, 12, "{report:?}");
    assert_eq!(minted(&p), 2, "exactly one renewal");
    let refused = proxy.refused();
    eprintln!("expired mid-run: {refused} requests refused, then renewed once");
    assert!((1..=4).contains(&refused), "refused {refused}");
    let puts = proxy
        .gate()
        .forwarded
        .iter()
        .filter(|m| **m == Method::PUT)
        .count();
    assert_eq!(puts, 12, "each item stored once, none lost to the expiry");

    // What the server holds is what was written.
    let dest = store
        .list_collections(PimKind::Contacts)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == name)
        .expect("the address book at the server");
    let found = store.find_by_uid(&dest.id, &uids).await.unwrap();
    assert!(found.iter().all(|f| f.len() == 1), "{found:?}");
    assert_no_token(&format!("{report:?} {store:?} {p:?}"));
}

#[tokio::test]
async fn tokens_refused_over_and_over_end_unauthenticated() {
    let Some((url, proxy)) = start_proxy().await else {
        return;
    };
    // At connect: the first token is refused, the one renewal too, and that is the end.
    let p = provider(&proxy, false);
    let e = tokio::time::timeout(Duration::from_secs(30), connect(&url, &p))
        .await
        .expect("no endless loop")
        .unwrap_err();
    eprintln!("refused at connect: {e}");
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    assert!(!e.is_temporary(), "{e}");
    assert_eq!(minted(&p), 2, "one renewal, no more");
    assert_eq!(proxy.refused(), 2);
    assert_eq!(proxy.forwarded(), 0);
    assert_no_token(&format!("{e} {e:?} {p:?}"));

    // Mid-run: every token expires and no new one is accepted. Each request is refused
    // twice at most (its token, then one renewal), and the writes fail unauthenticated,
    // nothing of unknown outcome.
    let p = provider(&proxy, true);
    let store = connect(&url, &p).await.unwrap();
    let run = common::run_id();
    let book = common::collection(&store, PimKind::Contacts, &format!("mm-bearer-no-{run}")).await;
    p.source().valid.store(false, Ordering::SeqCst);
    proxy.gate().accepted.clear();
    let (refused_before, minted_before) = (proxy.refused(), minted(&p));
    let writes: Vec<ItemWrite> = (0..3)
        .map(|n| ItemWrite::create(sample_contact(&format!("no{n}-{run}@example.com"))))
        .collect();
    let answers = tokio::time::timeout(
        Duration::from_secs(30),
        store.write_items(&book.id, writes, &WriteOptions::default()),
    )
    .await
    .expect("no endless loop");
    let errors: Vec<mailmigrate_core::Error> = match answers {
        Err(e) => vec![e],
        Ok(each) => each.into_iter().map(Result::unwrap_err).collect(),
    };
    for e in &errors {
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
        assert!(
            !e.is_outcome_unknown(),
            "a refused request stored nothing: {e}"
        );
        assert_no_token(&format!("{e} {e:?}"));
    }
    let refused = proxy.refused() - refused_before;
    eprintln!("refused mid-run: {refused} requests refused, {errors:?}");
    // At most a kind look-up and three PUTs, each sent twice.
    assert!((2..=8).contains(&refused), "refused {refused}");
    assert!(
        minted(&p) - minted_before <= refused,
        "no renewal without a refusal"
    );
    assert_eq!(
        proxy
            .gate()
            .forwarded
            .iter()
            .filter(|m| **m == Method::PUT)
            .count(),
        0
    );
    assert_no_token(&format!("{store:?} {p:?}"));
}
