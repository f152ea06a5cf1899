//! Sending the oauth2 crate's requests with reqwest, keeping the status facts the error
//! mapping needs (429, 5xx, `Retry-After`) and nothing of the body.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The oauth2 crate's HTTP client: reqwest, through [`send`].
pub(super) struct Http<'a>(pub(super) &'a reqwest::Client);

impl<'c> AsyncHttpClient<'c> for Http<'_> {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(self.0, request))
    }
}

/// A token request that got no usable HTTP answer.
#[derive(Debug, thiserror::Error)]
pub(super) enum HttpError {
    /// Connecting, sending or reading failed (the URL is left out of the source).
    #[error("cannot reach the token endpoint ({what})")]
    Transport {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint answered with a status that says "later": 429 or 5xx.
    #[error("the token endpoint answered HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The request could not be built (a bad header or URL).
    #[error("cannot build the token request")]
    Build(#[source] reqwest::Error),
}

/// Sends `request` and returns the answer for the oauth2 crate to parse, except a 429 or
/// 5xx, which becomes an [`HttpError::Status`] here: its body is not an OAuth2 error.
async fn send(client: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let request = reqwest::Request::try_from(request).map_err(HttpError::Build)?;
    let response = client.execute(request).await.map_err(transport)?;
    let status = response.status();
    if status.as_u16() == 429 || status.is_server_error() {
        return Err(HttpError::Status {
            status: status.as_u16(),
            retry_after: retry_after(response.headers()),
        });
    }
    let mut builder = oauth2::http::Response::builder().status(status.as_u16());
    for (name, value) in response.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let body = response.bytes().await.map_err(transport)?;
    Ok(builder
        .body(body.to_vec())
        .expect("status and headers were valid in the answer they came from"))
}

fn transport(e: reqwest::Error) -> HttpError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the answer failed"
    } else {
        "request failed"
    };
    HttpError::Transport {
        what,
        source: e.without_url(),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by token endpoints).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
