//! The only place that builds Gmail requests: authorisation, the quota bucket, the
//! concurrency cap, and waiting out rate limits.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mailmigrate_core::auth::TokenProvider;
use mailmigrate_core::{Error, ErrorKind, Result};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, Semaphore};

use crate::error::{from_answer, is_rate_limit, retry_after};
use crate::quota::{Bucket, Cost, GmailLimits};
use crate::PROVIDER;

mod batch;

/// A request to send.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) body: Option<(String, Bytes)>,
    /// Headers besides authorisation and content type (`Content-Range`, `X-Upload-…`,
    /// `If-Match`).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// What the request does, for errors (`import into INBOX`).
    pub(crate) what: String,
    pub(crate) cost: Cost,
    /// Whether sending it twice does no harm (reads, label changes): only such calls are
    /// sent again after a server failure or a cut connection.
    pub(crate) idempotent: bool,
}

impl Call {
    pub(crate) fn get(url: String, cost: Cost, what: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            url,
            body: None,
            headers: Vec::new(),
            what: what.into(),
            cost,
            idempotent: true,
        }
    }

    pub(crate) fn post(
        url: String,
        content_type: impl Into<String>,
        body: Bytes,
        cost: Cost,
        what: impl Into<String>,
    ) -> Self {
        Self {
            method: Method::POST,
            body: Some((content_type.into(), body)),
            idempotent: false,
            ..Self::get(url, cost, what)
        }
    }

    pub(crate) fn post_json(
        url: String,
        body: &serde_json::Value,
        cost: Cost,
        what: impl Into<String>,
    ) -> Self {
        let bytes = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
        Self::post(url, "application/json", bytes, cost, what)
    }

    /// A `PUT` of `body` (no content type: a resumable upload's chunk or status query
    /// \[GM-UPL\]).
    pub(crate) fn put(url: String, body: Bytes, cost: Cost, what: impl Into<String>) -> Self {
        Self {
            method: Method::PUT,
            body: Some((String::new(), body)),
            idempotent: false,
            ..Self::get(url, cost, what)
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Marks the call safe to repeat.
    pub(crate) fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }
}

/// An answer: status, headers, body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn error(&self, call: &Call) -> Error {
        from_answer(
            self.status,
            &self.body,
            retry_after(&self.headers),
            &call.what,
            !call.idempotent,
        )
    }
}

/// The HTTP client of one user.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    api: String,
    user: String,
    tokens: Arc<dyn TokenProvider>,
    bucket: Mutex<Bucket>,
    slots: Semaphore,
    limits: GmailLimits,
}

impl Client {
    pub(crate) fn new(
        http: reqwest::Client,
        api: &str,
        user: &str,
        tokens: Arc<dyn TokenProvider>,
        limits: GmailLimits,
    ) -> Self {
        Self {
            http,
            api: api.trim_end_matches('/').to_owned(),
            user: segment(user),
            tokens,
            bucket: Mutex::new(Bucket::new(&limits)),
            slots: Semaphore::new(limits.concurrency.max(1)),
            limits,
        }
    }

    /// `{api}/gmail/v1/users/{user}{path}` \[GM-DISC\].
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/gmail/v1/users/{}{path}", self.api, self.user)
    }

    /// The limits the client keeps.
    pub(crate) fn limits(&self) -> &GmailLimits {
        &self.limits
    }

    /// The API root (`https://gmail.googleapis.com`).
    pub(crate) fn api_root(&self) -> &str {
        &self.api
    }

    /// `{api}/upload/gmail/v1/users/{user}{path}`, the media upload path \[GM-DISC\].
    pub(crate) fn upload_url(&self, path: &str) -> String {
        format!("{}/upload/gmail/v1/users/{}{path}", self.api, self.user)
    }

    /// Waits until the bucket holds the call's units.
    async fn spend(&self, cost: Cost) {
        loop {
            let wait = self.bucket.lock().await.take(cost.units(), Instant::now());
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// Sends `call` within the quota and concurrency limits, renewing a refused token
    /// once, waiting out rate limits (the request was not carried out, \[GM-ERR\]) with
    /// exponential backoff and jitter or the `Retry-After` the answer gives, and sending
    /// an [idempotent](Call::idempotent) call again after a server failure or a cut
    /// connection. Anything else is the caller's: a write cut off after it left is of
    /// unknown outcome.
    pub(crate) async fn send(&self, call: &Call) -> Result<Answer> {
        let (mut renewed, mut limited, mut failed) = (false, 0, 0);
        loop {
            // The slot first, then the units: spent units leave at once, so the instant the
            // bucket's log records is the instant Gmail counts them \[GM-QUOTA\] (spent
            // before a slot was free, they arrived late and crowded a later window).
            let slot = self.slots.acquire().await.map_err(|_| {
                Error::new(ErrorKind::Unavailable, "the client is shutting down")
                    .with_provider(PROVIDER)
            })?;
            let token = self.tokens.token().await?;
            self.spend(call.cost).await;
            let mut req = self.http.request(call.method.clone(), &call.url).header(
                AUTHORIZATION,
                format!("Bearer {}", token.secret().expose_secret()),
            );
            for (name, value) in &call.headers {
                req = req.header(*name, value.as_str());
            }
            if let Some((kind, body)) = &call.body {
                if !kind.is_empty() {
                    req = req.header(CONTENT_TYPE, kind.as_str());
                }
                req = req.body(body.clone());
            }
            let received = match req.send().await {
                Ok(resp) => {
                    let (status, headers) = (resp.status(), resp.headers().clone());
                    resp.bytes().await.map(|body| Answer {
                        status,
                        headers,
                        body,
                    })
                }
                Err(e) => Err(e),
            };
            drop(slot);
            let answer = match received {
                Ok(a) => a,
                Err(e) if call.idempotent && failed < self.limits.server_retries => {
                    failed += 1;
                    tracing::debug!(what = %call.what, error = %e, "cut off; sending it again");
                    tokio::time::sleep(self.limits.backoff(failed)).await;
                    continue;
                }
                Err(e) => return Err(transport(&e, call)),
            };
            if answer.status == StatusCode::UNAUTHORIZED && !renewed {
                self.tokens.invalidate(&token);
                renewed = true;
                continue;
            }
            if is_rate_limit(answer.status, &answer.body)
                && limited < self.limits.rate_limit_retries
            {
                limited += 1;
                let backoff = self.limits.backoff(limited);
                let wait = retry_after(&answer.headers).map_or(backoff, |r| r.max(backoff));
                tracing::debug!(what = %call.what, ?wait, "rate limited by Gmail");
                tokio::time::sleep(wait).await;
                continue;
            }
            if answer.status.is_server_error()
                && call.idempotent
                && failed < self.limits.server_retries
            {
                failed += 1;
                tokio::time::sleep(self.limits.backoff(failed)).await;
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
        serde_json::from_slice(&answer.body).map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                format!("{}: unreadable answer ({e})", call.what),
            )
            .with_provider(PROVIDER)
        })
    }
}

/// Characters escaped in a path segment or query value.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// Escapes `s` for a path segment or a query value.
pub(crate) fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

fn transport(e: &reqwest::Error, call: &Call) -> Error {
    // reqwest's message names the URL, never the token (it travels in a header); an
    // upload session's URI is itself a credential [GM-UPL], so it is left out.
    let text = if call.url.contains("upload_id=") {
        match () {
            () if e.is_timeout() => "the request timed out",
            () if e.is_connect() => "the connection failed",
            () => "the connection broke off",
        }
        .to_owned()
    } else {
        e.to_string()
    };
    let err = Error::new(ErrorKind::Unavailable, format!("{}: {text}", call.what))
        .with_provider(PROVIDER);
    if !call.idempotent && !e.is_connect() {
        err.outcome_unknown()
    } else {
        err.temporary()
    }
}
