//! Batches of reads: many Gmail calls in one `POST /batch/gmail/v1` \[GM-BATCH\].
//!
//! Each batch holds at most [`GmailLimits::batch_size`](crate::GmailLimits::batch_size)
//! parts and spends the sum of their quota units (n calls in a batch count as n). A part
//! refused for a rate limit (429, 403 `rateLimitExceeded` / `userRateLimitExceeded`) or
//! a server failure is sent again on its own terms — in the next, smaller batch, after
//! the backoff — while the others keep their answers. Only reads are batched: a part
//! whose answer is lost can be asked again.

use bytes::Bytes;
use mailmigrate_core::{Error, ErrorKind, Result};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;

use super::{Answer, Call, Client};
use crate::error::is_rate_limit;
use crate::multipart;
use crate::quota::Cost;
use crate::PROVIDER;

impl Client {
    /// Sends `calls` (all `GET`s of this API) in batches; their answers, in order. A part
    /// that still fails after its retries keeps its failing answer (the caller maps it,
    /// as for [`send`](Self::send)).
    ///
    /// # Errors
    /// A batch request that failed as a whole (its own rate limits waited out).
    pub(crate) async fn batch(&self, calls: &[Call]) -> Result<Vec<Answer>> {
        let size = self.limits.batch_size.clamp(1, 100);
        let mut out: Vec<Option<Answer>> = calls.iter().map(|_| None).collect();
        for start in (0..calls.len()).step_by(size) {
            let mut pending: Vec<usize> = (start..(start + size).min(calls.len())).collect();
            let mut round = 0;
            while !pending.is_empty() {
                if pending.len() == 1 {
                    // One call needs no envelope; `send` has the same retries.
                    let i = pending[0];
                    out[i] = Some(self.send(&calls[i]).await?);
                    break;
                }
                let parts: Vec<&Call> = pending.iter().map(|&i| &calls[i]).collect();
                let answers = self.send_batch(&parts).await?;
                let mut again = Vec::new();
                for (i, a) in pending.iter().copied().zip(answers) {
                    let retry = is_rate_limit(a.status, &a.body) || a.status.is_server_error();
                    if retry && round < self.limits.rate_limit_retries {
                        again.push(i);
                    } else {
                        out[i] = Some(a);
                    }
                }
                if !again.is_empty() {
                    round += 1;
                    let wait = self.limits.backoff(round);
                    tracing::debug!(parts = again.len(), ?wait, "batch parts refused; again");
                    tokio::time::sleep(wait).await;
                }
                pending = again;
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// One batch request of `parts`; one answer per part, in order.
    async fn send_batch(&self, parts: &[&Call]) -> Result<Vec<Answer>> {
        let boundary = format!("mailmigrate_batch_{:024x}", rand::random::<u128>());
        let mut body = Vec::new();
        let mut units = 0;
        for (n, call) in parts.iter().enumerate() {
            units += call.cost.units();
            // [GM-BATCH] a path-only URL; the outer Authorization applies to every part.
            let path = call.url.strip_prefix(&self.api).unwrap_or(&call.url);
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item-{n}>\r\n\r\n{} {path} HTTP/1.1\r\n\r\n\r\n",
                    call.method
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let call = Call::post(
            format!("{}/batch/gmail/v1", self.api),
            format!("multipart/mixed; boundary={boundary}"),
            Bytes::from(body),
            Cost::Units(units),
            format!("batch of {} reads", parts.len()),
        )
        .idempotent();
        let answer = self.send(&call).await?;
        if !answer.status.is_success() {
            return Err(answer.error(&call));
        }
        parse(&answer, parts.len()).ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                format!("{}: unreadable batch answer", call.what),
            )
            .with_provider(PROVIDER)
        })
    }
}

/// The part answers of a batch answer, placed by `Content-ID: response-item-<n>`
/// (\[GM-BATCH\]: in request order, which is the fallback); `None` unless every part
/// has one.
fn parse(answer: &Answer, n: usize) -> Option<Vec<Answer>> {
    let ct = answer
        .headers
        .get(reqwest::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let boundary = multipart::boundary(ct)?;
    let mut out: Vec<Option<Answer>> = (0..n).map(|_| None).collect();
    for (k, part) in multipart::split(&answer.body, &boundary)
        .into_iter()
        .enumerate()
    {
        let (part_headers, inner) = multipart::head_and_body(part);
        let at = multipart::header(&part_headers, "Content-ID")
            .and_then(|id| id.trim_matches(['<', '>']).strip_prefix("response-item-"))
            .and_then(|i| i.parse::<usize>().ok())
            .unwrap_or(k);
        let (start, headers, body) = multipart::http_message(inner);
        let status = start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .and_then(|s| StatusCode::from_u16(s).ok())?;
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                map.insert(k, v);
            }
        }
        *out.get_mut(at)? = Some(Answer {
            status,
            headers: map,
            body: Bytes::copy_from_slice(body),
        });
    }
    out.into_iter().collect()
}
