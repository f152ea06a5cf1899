//! The only place that builds Graph requests: authorisation, immutable ids, the
//! per-mailbox limits, throttling and paging.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use mailmigrate_core::auth::TokenProvider;
use mailmigrate_core::{Error, ErrorKind, Result};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::{Mutex, Semaphore};

use crate::error::{from_answer, retry_after};
use crate::PROVIDER;

/// The `Prefer` value asking for ids that survive a move \[G-IMM\]: on every request,
/// `$batch` items included, or ids come back in the mutable form.
pub(crate) const IMMUTABLE_IDS: &str = r#"IdType="ImmutableId""#;

/// The limits Outlook applies per (application, mailbox) pair ([G-THR]); the client
/// stays inside them instead of learning them from 429s.
///
/// ```
/// use mailmigrate_graph::MailboxLimits;
/// use std::time::Duration;
///
/// let limits = MailboxLimits::default();
/// assert_eq!(limits.concurrency, 4);
/// assert_eq!((limits.requests, limits.window), (10_000, Duration::from_secs(600)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailboxLimits {
    /// Requests in flight at once (4 [G-THR]; a fifth is refused about one time in eight
    /// [I-CONC]).
    pub concurrency: usize,
    /// Requests per [`window`](Self::window) (10,000 per 10 minutes [G-THR]).
    pub requests: u64,
    /// The window of [`requests`](Self::requests).
    pub window: Duration,
    /// Bytes uploaded (POST, PATCH, PUT bodies) per [`upload_window`](Self::upload_window)
    /// (150 MB per 5 minutes [G-THR]).
    pub upload_bytes: u64,
    /// The window of [`upload_bytes`](Self::upload_bytes).
    pub upload_window: Duration,
    /// How many times one request is sent again after a 429 before the throttle is
    /// reported as the request's error.
    pub throttle_retries: u32,
}

impl Default for MailboxLimits {
    fn default() -> Self {
        Self {
            concurrency: 4,
            requests: 10_000,
            window: Duration::from_secs(600),
            upload_bytes: 150 * 1024 * 1024,
            upload_window: Duration::from_secs(300),
            throttle_retries: 8,
        }
    }
}

/// A sliding-window budget: waits until `amount` more fits in the window.
#[derive(Debug)]
struct Budget {
    max: u64,
    window: Duration,
    spent: VecDeque<(Instant, u64)>,
    total: u64,
}

impl Budget {
    fn new(max: u64, window: Duration) -> Self {
        Self {
            max: max.max(1),
            window,
            spent: VecDeque::new(),
            total: 0,
        }
    }

    /// How long to wait before `amount` fits; records it when it fits now.
    fn try_spend(&mut self, amount: u64, now: Instant) -> Option<Duration> {
        while let Some(&(at, n)) = self.spent.front() {
            if now.duration_since(at) < self.window {
                break;
            }
            self.spent.pop_front();
            self.total -= n;
        }
        // One request larger than the whole budget still goes, alone.
        if self.total == 0 || self.total + amount <= self.max {
            self.spent.push_back((now, amount));
            self.total += amount;
            return None;
        }
        let oldest = self.spent.front().map_or(now, |&(at, _)| at);
        Some(self.window.saturating_sub(now.duration_since(oldest)))
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) body: Option<(&'static str, Bytes)>,
    /// What the request does, for errors (`GET mailFolders`).
    pub(crate) what: String,
    /// `Prefer: odata.maxpagesize` ([G-MDELTA]).
    pub(crate) page_size: Option<u32>,
    /// Headers besides authorisation and `Prefer` (an upload chunk's `Content-Range`).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// Whether the request carries the bearer token; an upload session's URL is
    /// pre-authenticated and must not ([G-ATT]).
    pub(crate) authorize: bool,
    /// How many times a read answered 500, 502, 503 or 504, or cut off in transit, is
    /// sent again by the client itself (default 0: the core retry layer owns retries).
    /// For callers without a retry layer above them, the directory.
    pub(crate) read_retries: u32,
    /// How many of the mailbox's request slots the call holds while it runs: a `$batch`
    /// holds one per item Graph runs at once, since those count against the mailbox's
    /// concurrency too (\[G-THR\]\[G-BAT\]).
    pub(crate) slots: u32,
}

impl Call {
    pub(crate) fn get(url: String, what: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            url,
            body: None,
            what: what.into(),
            page_size: None,
            headers: Vec::new(),
            authorize: true,
            read_retries: 0,
            slots: 1,
        }
    }

    pub(crate) fn json(
        method: Method,
        url: String,
        body: &impl serde::Serialize,
        what: impl Into<String>,
    ) -> Self {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        Self::bytes(method, url, "application/json", Bytes::from(bytes), what)
    }

    /// A request with a body of `kind` (shared, not copied: an upload chunk is a slice of
    /// the attachment).
    pub(crate) fn bytes(
        method: Method,
        url: String,
        kind: &'static str,
        body: Bytes,
        what: impl Into<String>,
    ) -> Self {
        Self {
            method,
            body: Some((kind, body)),
            ..Self::get(url, what)
        }
    }

    /// The same request without the bearer token (to a pre-authenticated URL, [G-ATT]).
    pub(crate) fn preauthenticated(mut self) -> Self {
        self.authorize = false;
        self
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Makes the call hold `n` request slots (at least one, at most the client's limit).
    pub(crate) fn with_slots(mut self, n: u32) -> Self {
        self.slots = n.max(1);
        self
    }

    /// Lets the client send a failed read again up to `n` times (see
    /// [`read_retries`](Self::read_retries)); writes are never resent.
    pub(crate) fn with_read_retries(mut self, n: u32) -> Self {
        self.read_retries = n;
        self
    }

    /// Whether a failure of this call may be retried by the client: a read whose
    /// caller asked for it, with attempts left.
    fn may_resend(&self, attempts: u32) -> bool {
        !self.writes() && attempts < self.read_retries
    }

    /// Whether the request may change the mailbox.
    fn writes(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD)
    }
}

/// An answer: its status, headers and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as JSON of `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                format!("{what}: unreadable answer ({e})"),
            )
            .with_provider(PROVIDER)
        })
    }

    /// The core error for this (failed) answer.
    pub(crate) fn error(&self, call: &Call) -> Error {
        from_answer(
            self.status,
            &self.body,
            retry_after(&self.headers),
            &call.what,
            call.writes(),
        )
    }
}

/// One page of a collection ([G-BAT][G-DQ]).
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub(crate) value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    pub(crate) next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    pub(crate) delta_link: Option<String>,
}

/// The HTTP client of one mailbox.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    graph_url: String,
    beta_url: String,
    user: String,
    tokens: Arc<dyn TokenProvider>,
    slots: Semaphore,
    /// The number of slots: requests in flight per mailbox.
    concurrency: u32,
    requests: Mutex<Budget>,
    uploads: Mutex<Budget>,
    limits: MailboxLimits,
}

impl Client {
    pub(crate) fn new(
        http: reqwest::Client,
        graph_url: &str,
        mailbox: &str,
        tokens: Arc<dyn TokenProvider>,
        limits: MailboxLimits,
    ) -> Self {
        let graph_url = graph_url.trim_end_matches('/').to_owned();
        let beta_url = match graph_url.strip_suffix("/v1.0") {
            Some(root) => format!("{root}/beta"),
            None => graph_url.clone(),
        };
        let user = percent_encoding::utf8_percent_encode(mailbox, SEGMENT).to_string();
        Self {
            http,
            graph_url,
            beta_url,
            user,
            tokens,
            slots: Semaphore::new(limits.concurrency.max(1)),
            concurrency: u32::try_from(limits.concurrency.max(1)).unwrap_or(u32::MAX),
            requests: Mutex::new(Budget::new(limits.requests, limits.window)),
            uploads: Mutex::new(Budget::new(limits.upload_bytes, limits.upload_window)),
            limits,
        }
    }

    /// `{graph}{path}`, for tenant-wide collections (`/users`, `/groups`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.graph_url)
    }

    /// `{graph}/users/{user}{path}` for another user than the client's own.
    pub(crate) fn users_url(&self, user: &str, path: &str) -> String {
        format!("{}/users/{}{path}", self.graph_url, segment(user))
    }

    /// `{graph}/users/{mailbox}{path}` ([G-CMSG]: app-only calls address `/users/{id}`).
    pub(crate) fn user_url(&self, path: &str) -> String {
        format!("{}/users/{}{path}", self.graph_url, self.user)
    }

    /// `path` under the mailbox, relative to the version, as a `$batch` item's `url`
    /// (\[G-BAT\]: `/users/{id}/…`).
    pub(crate) fn user_path(&self, path: &str) -> String {
        format!("/users/{}{path}", self.user)
    }

    /// The `$batch` endpoint \[G-BAT\].
    pub(crate) fn batch_url(&self) -> String {
        format!("{}/$batch", self.graph_url)
    }

    /// The same under `/beta`.
    pub(crate) fn beta_user_url(&self, path: &str) -> String {
        format!("{}/users/{}{path}", self.beta_url, self.user)
    }

    /// Sends `call`, waiting out throttles (429 with `Retry-After`, [G-THG]) and renewing
    /// a refused token once. Transport failures are errors: temporary for reads, of
    /// unknown outcome for writes whose request may have arrived. A read that asked for
    /// [`read_retries`](Call::read_retries) is sent again after a server failure or a
    /// cut connection, waiting `Retry-After` where the answer has one ([G-ERR]: 503 may
    /// carry it) or a growing pause.
    pub(crate) async fn send(&self, call: &Call) -> Result<Answer> {
        let mut renewed = false;
        let mut throttled = 0;
        let mut resent = 0;
        loop {
            self.spend(call).await;
            let want = call.slots.min(self.concurrency);
            let _slot = self.slots.acquire_many(want).await.map_err(|_| {
                Error::new(ErrorKind::Unavailable, "the client is shutting down")
                    .with_provider(PROVIDER)
            })?;
            let mut req = self.http.request(call.method.clone(), &call.url);
            let token = if call.authorize {
                let token = self.tokens.token().await?;
                let mut prefer = String::from(IMMUTABLE_IDS);
                if let Some(n) = call.page_size {
                    prefer.push_str(&format!(", odata.maxpagesize={n}"));
                }
                req = req
                    .header(
                        AUTHORIZATION,
                        format!("Bearer {}", token.secret().expose_secret()),
                    )
                    // [G-IMM]: on every request, or ids come back in the mutable form.
                    .header("Prefer", prefer);
                Some(token)
            } else {
                None
            };
            for (name, value) in &call.headers {
                req = req.header(*name, value);
            }
            if let Some((kind, body)) = &call.body {
                req = req.header(CONTENT_TYPE, *kind).body(body.clone());
            }
            let received = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    resp.bytes().await.map(|body| (status, headers, body))
                }
                Err(e) => Err(e),
            };
            let (status, headers, body) = match received {
                Ok(answer) => answer,
                Err(e) if call.may_resend(resent) => {
                    resent += 1;
                    tracing::debug!(what = %call.what, error = %e, "read cut off; sending it again");
                    drop(_slot);
                    tokio::time::sleep(backoff(resent)).await;
                    continue;
                }
                Err(e) => return Err(transport(e, call)),
            };
            let answer = Answer {
                status,
                headers,
                body,
            };
            if let Some(token) = token.filter(|_| status == StatusCode::UNAUTHORIZED && !renewed) {
                self.tokens.invalidate(&token);
                renewed = true;
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS && throttled < self.limits.throttle_retries {
                // A throttled request was not carried out, write or not [G-THG].
                throttled += 1;
                let wait = retry_after(&answer.headers)
                    .unwrap_or_else(|| Duration::from_millis(500 << throttled.min(6)));
                tracing::debug!(what = %call.what, ?wait, "throttled by Graph");
                drop(_slot);
                tokio::time::sleep(wait).await;
                continue;
            }
            let server_failure = matches!(status.as_u16(), 500 | 502 | 503 | 504);
            if server_failure && call.may_resend(resent) {
                resent += 1;
                let wait = retry_after(&answer.headers).unwrap_or_else(|| backoff(resent));
                tracing::debug!(what = %call.what, %status, ?wait, "server failure; sending the read again");
                drop(_slot);
                tokio::time::sleep(wait).await;
                continue;
            }
            return Ok(answer);
        }
    }

    /// Sends `call` and reads a successful answer's JSON.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        let answer = self.send(call).await?;
        if !answer.status.is_success() {
            return Err(answer.error(call));
        }
        answer.json(&call.what)
    }

    /// Waits for room in the request and upload budgets.
    async fn spend(&self, call: &Call) {
        let upload = call.body.as_ref().map_or(0, |(_, b)| b.len() as u64);
        for (budget, amount) in [(&self.requests, 1), (&self.uploads, upload)] {
            if amount == 0 {
                continue;
            }
            loop {
                let wait = budget.lock().await.try_spend(amount, Instant::now());
                match wait {
                    None => break,
                    Some(d) => tokio::time::sleep(d.max(Duration::from_millis(10))).await,
                }
            }
        }
    }

    /// Every item of a collection, page by page, following `@odata.nextLink` (opaque,
    /// [G-BAT]).
    pub(crate) fn items<T>(self: &Arc<Self>, first: Call) -> BoxStream<'static, Result<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let client = Arc::clone(self);
        stream::unfold(Some(first), move |call| {
            let client = Arc::clone(&client);
            async move {
                let call = call?;
                match client.json::<Page<T>>(&call).await {
                    Ok(page) => {
                        let next = page.next_link.map(|url| Call {
                            url,
                            ..call.clone()
                        });
                        let items: Vec<Result<T>> = page.value.into_iter().map(Ok).collect();
                        Some((stream::iter(items), next))
                    }
                    Err(e) => Some((stream::iter(vec![Err(e)]), None)),
                }
            }
        })
        .flatten()
        .boxed()
    }
}

/// The pause before the `n`-th resend of a read: 250 ms, doubling, at most 8 s.
fn backoff(n: u32) -> Duration {
    Duration::from_millis(250 << n.saturating_sub(1).min(5))
}

/// Characters escaped in a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// Escapes `s` for a path segment.
pub(crate) fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

fn transport(e: reqwest::Error, call: &Call) -> Error {
    // reqwest's message names the URL. A bearer token travels in a header, but a
    // pre-authenticated URL (an upload session's [G-ATT], an import session's
    // `?authtoken=` [G-IMP]) is itself the secret: its errors leave it out.
    let e = if call.authorize { e } else { e.without_url() };
    let err =
        Error::new(ErrorKind::Unavailable, format!("{}: {e}", call.what)).with_provider(PROVIDER);
    if call.writes() && !e.is_connect() {
        err.outcome_unknown()
    } else {
        err.temporary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_waits_for_the_window_to_slide() {
        let mut b = Budget::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.try_spend(1, t0), None);
        }
        let wait = b.try_spend(1, t0 + Duration::from_secs(4)).unwrap();
        assert_eq!(wait, Duration::from_secs(6));
        assert_eq!(b.try_spend(1, t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn a_body_larger_than_the_budget_goes_alone() {
        let mut b = Budget::new(100, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(b.try_spend(500, t0), None);
        assert!(b.try_spend(1, t0).is_some());
    }

    #[tokio::test]
    async fn a_preauthenticated_url_stays_out_of_errors() {
        let url = "http://127.0.0.1:1/importItem?authtoken=s3cret".to_owned();
        let e = reqwest::Client::new().post(&url).send().await.unwrap_err();
        let call = Call::get(url, "import").preauthenticated();
        let err = transport(e, &call);
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn segments_escape_what_a_path_cannot_hold() {
        assert_eq!(segment("a b/c@d.e"), "a%20b%2Fc@d.e");
    }
}
